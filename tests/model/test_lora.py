"""LoRA: the base model at init, merged weights = base + adapters, PEFT's forward, freezing."""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from biomed_jax.model import EncoderDecoder, lora, model_config
from biomed_jax.training import optimizer, state as state_lib, step as step_lib

OFA_SMALL = dict(vocab_size=256, logit_vocab_size=250, d_model=32, num_heads=4, head_dim=8,
                 d_ff=64, num_encoder_layers=2, num_decoder_layers=2, vision_layers=(1, 1, 1),
                 vision_width=16, image_size=32, image_position_buckets=8,
                 token_bucket_size=16, max_positions=32, pad_id=0, eos_id=1, bos_id=0)
CONFIGS = {
    "t5_scan": model_config("t5_tiny", vocab_size=256, image_size=32, ffn_type="gated-gelu",
                            tie_embeddings=False),
    "ofa_unrolled": model_config("biomedgpt_tiny", scan_layers=False, **OFA_SMALL),
}
OPT = ml_collections.ConfigDict(dict(
    learning_rate=1e-2, warmup_steps=0, decay="constant", end_learning_rate_factor=0.0,
    b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01, grad_clip_norm=1.0))


def _inputs(cfg, rng):
  """Text only: the adapters live in the transformer, and the ResNet would only slow this."""
  del cfg
  enc = rng.integers(3, 250, (2, 7)).astype(np.int32)
  enc[1, 5:] = 0
  dec = rng.integers(3, 250, (2, 5)).astype(np.int32)
  return enc, dec, None, None


def _init(cfg, seed=0):
  enc, dec, images, mask = _inputs(cfg, np.random.default_rng(0))
  init = jax.jit(EncoderDecoder(cfg).init)
  return jax.device_get(nn.meta.unbox(init(jax.random.key(seed), enc, dec, images, mask)))


@functools.lru_cache(maxsize=None)
def _apply(cfg):
  return jax.jit(EncoderDecoder(cfg).apply)


def _logits(cfg, variables):
  enc, dec, images, mask = _inputs(cfg, np.random.default_rng(1))
  return np.asarray(_apply(cfg)(variables, enc, dec, images, mask))


def _with_base(lora_vars, base_vars):
  """The LoRA variables with every non-adapter array taken from base_vars."""
  def pick(path, x):
    node = base_vars
    for key in path:
      node = node.get(key.key) if hasattr(node, "get") else None
      if node is None:
        return x
    return node
  return jax.tree_util.tree_map_with_path(pick, lora_vars)


def _randomize_b(variables, seed=3):
  """Nonzero lora_b (at init they are zeros), so the adapters change the output."""
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map_with_path(
      lambda p, x: rng.normal(0, 0.3, x.shape).astype(x.dtype)
      if p[-1].key == "lora_b" else x, variables)


def _leaves(tree):
  return {optimizer.param_path(p): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_adapters_target_attention_and_ffn_and_start_as_the_base_model(name):
  base_cfg = CONFIGS[name]
  cfg = dataclasses.replace(base_cfg, lora_rank=4, lora_alpha=8.0)
  base = _init(base_cfg)
  variables = _with_base(_init(cfg, seed=1), base)
  adapted = {p for p in _leaves(variables["params"]) if p.endswith("lora_a")}
  per_layer = {p.split("/", 2)[0] + "/" + p.split("/", 2)[2] for p in adapted}
  ffn = ("wi_0", "wi_1", "wo") if name.startswith("t5") else ("wi", "wo")
  expected = {f"encoder/attention/{m}/lora_a" for m in ("query", "key", "value", "out")}
  expected |= {f"decoder/{a}/{m}/lora_a" for a in ("self_attention", "cross_attention")
               for m in ("query", "key", "value", "out")}
  expected |= {f"{s}/mlp/{m}/lora_a" for s in ("encoder", "decoder") for m in ffn}
  assert per_layer == expected  # not the position projections, vision or the output layer
  # Equal up to the compiler's float32 reassociation (the programs differ by a zero term).
  np.testing.assert_allclose(_logits(cfg, variables), _logits(base_cfg, base), rtol=1e-6,
                             atol=1e-6)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_merged_weights_give_the_logits_of_base_plus_adapters(name):
  cfg = dataclasses.replace(CONFIGS[name], lora_rank=3, lora_alpha=6.0)
  variables = _randomize_b(_init(cfg))
  adapted = _logits(cfg, variables)
  merged = {**variables, "params": lora.merge(jax.device_get(variables["params"]), cfg)}
  base_cfg = lora.base_config(cfg)
  assert not any("lora" in p for p in _leaves(merged["params"]))
  reference = _logits(base_cfg, merged)
  without = jax.tree_util.tree_map_with_path(  # the same weights, adapters zeroed
      lambda p, x: np.zeros_like(x) if p[-1].key == "lora_b" else x, variables)
  assert np.abs(adapted - _logits(cfg, without)).max() > 1e-2  # the adapters do something
  scored = lambda x: x[..., :250]  # the OFA config's padding rows score float32's minimum
  rel_err = np.abs(scored(reference) - scored(adapted)).max() / np.abs(scored(adapted)).max()
  assert rel_err <= 1e-5, rel_err
  only = lora.adapters(variables["params"])
  assert set(_leaves(only)) == {p for p in _leaves(variables["params"]) if "/lora_" in p}


def test_optimizer_state_holds_only_adapter_sized_arrays_and_the_base_stays_fixed():
  cfg = dataclasses.replace(CONFIGS["t5_scan"], lora_rank=4)
  model = EncoderDecoder(cfg)
  freeze = lora.frozen_pattern(cfg)
  tx = optimizer.make_optimizer(OPT, total_steps=10, freeze=freeze)
  params = _init(cfg)["params"]
  adapter_shapes = sorted(x.shape for p, x in _leaves(params).items() if "/lora_" in p)
  state_arrays = [x for x in jax.tree.leaves(tx.init(params)) if np.ndim(x) > 0]
  # Adam's two moments, one per adapter array, and nothing of the base model's size.
  assert sorted(x.shape for x in state_arrays) == sorted(adapter_shapes * 2)
  assert sum(x.size for x in state_arrays) == 2 * sum(np.prod(s) for s in adapter_shapes)

  enc, dec, _, _ = _inputs(cfg, np.random.default_rng(2))
  batch = {"encoder_tokens": enc, "decoder_inputs": dec, "decoder_targets": dec,
           "decoder_loss_weights": np.ones(dec.shape, np.float32)}
  state = state_lib.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                               batch_stats={}, opt_state=tx.init(params),
                               rng=jax.random.key_data(jax.random.key(0)))
  step = jax.jit(step_lib.make_train_step(model, tx, 0.0, freeze=freeze))
  for _ in range(2):  # the second step moves lora_a too (lora_b is nonzero by then)
    state, metrics = step(state, batch)
  assert np.isfinite(metrics["grad_norm"]) and metrics["grad_norm"] > 0
  before, after = _leaves(params), _leaves(state.params)
  for path, value in before.items():
    if "/lora_" in path:
      assert not np.array_equal(after[path], value), path
    else:
      np.testing.assert_array_equal(after[path], value, err_msg=path)


def test_frozen_pattern_combines_with_train_freeze():
  cfg = dataclasses.replace(CONFIGS["t5_scan"], lora_rank=2)
  import re
  pattern = re.compile(lora.frozen_pattern(cfg, "decoder/.*"))
  assert pattern.fullmatch("encoder/layers/mlp/wo/kernel")
  assert not pattern.fullmatch("encoder/layers/mlp/wo/lora_b")
  assert pattern.fullmatch("decoder/layers/mlp/wo/lora_b")
  assert lora.frozen_pattern(CONFIGS["t5_scan"], "vision/.*") == "vision/.*"


def test_invalid_lora_settings_name_the_key():
  with pytest.raises(ValueError, match="model.lora_rank"):
    model_config("t5_tiny", lora_rank=-1)


def test_up_projection_gradients_equal_autodiff():
  """The adapter's up-projection has its own backward pass (a custom_vjp, see lora.py)."""
  rng = np.random.default_rng(0)
  low = jnp.asarray(rng.normal(size=(2, 5, 4)), jnp.float32)
  b = jnp.asarray(rng.normal(size=(4, 3, 6)), jnp.float32)  # [rank, heads, head_dim]
  probe = jnp.asarray(rng.normal(size=(2, 5, 3, 6)), jnp.float32)
  plain = lambda low, b: jnp.tensordot(low, b, ((2,), (0,)))
  ours = jax.grad(lambda l, b: jnp.sum(lora._up_projection(l, b) * probe), (0, 1))(low, b)  # pylint: disable=protected-access
  reference = jax.grad(lambda l, b: jnp.sum(plain(l, b) * probe), (0, 1))(low, b)
  for got, want in zip(ours, reference):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_lora_step_keeps_less_than_full_fine_tuning_minus_the_weight_gradients():
  """Under remat dots_with_no_batch_dims, the compiled LoRA step's temporaries sit below full
  fine-tuning's by at least the base weights' gradients, which LoRA never computes (its
  adapters' outputs, as large as the layers' own, are not kept for the backward pass)."""
  from biomed_jax import plan  # pylint: disable=g-import-not-at-top
  from configs import demo  # pylint: disable=g-import-not-at-top

  def compiled(rank):
    config = demo.get_config()
    config.model.update(image_size=64, d_model=512, d_ff=2048, num_heads=8, head_dim=64,
                        num_encoder_layers=4, num_decoder_layers=4, dtype="bfloat16",
                        remat_policy="dots_with_no_batch_dims", lora_rank=rank)
    config.data.update(batch_size=8, max_source_len=256, max_target_len=64)
    return plan.compile_train_step(config, jax.devices()[:1])

  full, adapters = compiled(0), compiled(16)
  base_params = full.params * 4  # float32 gradients of every base parameter
  full_temp = full.compiled.memory_analysis().temp_size_in_bytes
  lora_temp = adapters.compiled.memory_analysis().temp_size_in_bytes
  assert lora_temp <= full_temp - base_params, (lora_temp / 2**20, full_temp / 2**20,
                                                base_params / 2**20)
