"""--mode=summary: parameter table, mesh and shardings from abstract shapes (no weights)."""

from collections import defaultdict
import math
import re

import flax.linen as nn
import jax
import ml_collections

from biomed_jax import config_lib, sharding
from biomed_jax.model import EncoderDecoder, lora
from biomed_jax.training import optimizer, state as state_lib


def _module_name(path) -> str:
  """Top two levels of a parameter path, with repeated blocks folded into their stack."""
  keys = [str(getattr(k, "key", k)) for k in path][:2]
  return "/".join(re.sub(r"_(block)?\d+$", "", k) for k in keys)


def summarize(config: ml_collections.ConfigDict, print_fn=print) -> int:
  model_cfg = config_lib.resolve_model_config(config.model)
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules_from_config(config.sharding.rules)
  model = EncoderDecoder(model_cfg)
  tx = optimizer.make_optimizer(config.optimizer, config.train.num_steps,
                                lora.frozen_pattern(model_cfg, config.train.freeze))
  abstract = state_lib.abstract_state(model, tx, state_lib.example_inputs(model_cfg))
  shardings = state_lib.state_shardings(abstract, mesh, rules)
  params = nn.meta.unbox(abstract.params)

  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  param_shardings = jax.tree.leaves(shardings.params)
  per_module = defaultdict(int)
  for path, leaf in leaves:
    per_module[_module_name(path)] += math.prod(leaf.shape)
  total = sum(per_module.values())
  # Rows that pad the vocabulary table for sharding are not parameters of the model proper.
  padding = (model_cfg.vocab_size - (model_cfg.logit_vocab_size or model_cfg.vocab_size)) * (
      model_cfg.d_model)

  print_fn(f"model: variant={config.model.variant} d_model={model_cfg.d_model} "
           f"layers={model_cfg.num_encoder_layers}/{model_cfg.num_decoder_layers} "
           f"heads={model_cfg.num_heads} d_ff={model_cfg.d_ff} ffn={model_cfg.ffn_type} "
           f"position_bias={model_cfg.position_bias} "
           f"vocab={model_cfg.vocab_size} vision={model_cfg.vision_layers} "
           f"image={model_cfg.image_size}px scan={model_cfg.scan_layers} "
           f"remat={model_cfg.remat_policy} dtype={model_cfg.dtype}")
  print_fn(f"{'module':<40}{'params':>16}{'share':>8}")
  for name, count in sorted(per_module.items(), key=lambda kv: -kv[1]):
    print_fn(f"{name:<40}{count:>16,}{100 * count / total:>7.1f}%")
  devices = mesh.devices.ravel()
  print_fn(f"mesh: {dict(mesh.shape)} over {len(devices)} {devices[0].platform} device(s)")

  print_fn("largest parameters (shape -> mesh partitioning, per-device shard):")
  order = sorted(range(len(leaves)), key=lambda i: -math.prod(leaves[i][1].shape))
  for i in order[:8]:
    path, leaf = leaves[i]
    spec = param_shardings[i].spec
    shard = param_shardings[i].shard_shape(leaf.shape)
    print_fn(f"  {jax.tree_util.keystr(path):<64} {str(leaf.shape):<22} {str(spec):<34} "
             f"{shard}")

  state_bytes = sum(math.prod(s.shard_shape(x.shape)) * x.dtype.itemsize for x, s in zip(
      jax.tree.leaves(nn.meta.unbox(abstract)), jax.tree.leaves(shardings)))
  print_fn(f"train state per device (params + optimizer, {model_cfg.param_dtype}): "
           f"{state_bytes / 2**30:.2f} GiB")
  if padding:
    print_fn(f"embedding padding: {padding:,} parameters ({model_cfg.vocab_size} rows for "
             f"{model_cfg.logit_vocab_size} ids, never scored), not counted below")
  print_fn(f"total_params: {total - padding}")
  return total - padding
