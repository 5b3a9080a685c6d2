"""LoRA (Hu et al. 2021, PEFT's `LoraLayer` semantics) on the project's dense layers.

A targeted `Dense` (module path, scan index left out, fully matching `model.lora_targets`)
gets `lora_a` [*inputs, rank] (PEFT's Kaiming-uniform init: U(±1/sqrt(fan_in))) and
`lora_b` [rank, *features] (zeros, so the model starts equal to its base), and computes

  y = x . kernel (+ bias) + dropout(x) . lora_a . lora_b * (lora_alpha / lora_rank).

Only the adapters train (`frozen_pattern`); `merge` folds them into the kernels for export,
`adapters` keeps them alone.
"""

import dataclasses
import json
import os
import re
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ADAPTER_NAMES = ("lora_a", "lora_b")


def module_path(module: nn.Module) -> str:
  """"encoder/layers/attention/query": the same under nn.scan and for layer i unrolled
  ("layers_3" is written "layers"), so one regex targets both layouts."""
  return "/".join(re.sub(r"_\d+$", "", str(p)) for p in module.path)


def is_target(module: nn.Module, cfg) -> bool:
  return cfg.lora_rank > 0 and re.fullmatch(cfg.lora_targets, module_path(module)) is not None


def scaling(cfg) -> float:
  return cfg.lora_alpha / cfg.lora_rank


def adapter_output(module: nn.Module, x, in_axes: int, features: tuple[int, ...],
                   names: tuple[str, ...], deterministic: bool):
  """The low-rank branch of `module` (a Dense, inside its compact __call__)."""
  cfg = module.config
  in_shape = tuple(x.shape[x.ndim - in_axes:])
  fan_in = int(np.prod(in_shape))
  bound = 1.0 / np.sqrt(fan_in)
  uniform = lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, -bound, bound)
  a = module.param("lora_a", nn.with_logical_partitioning(uniform, names[:in_axes] + (
      "lora_rank",)), in_shape + (cfg.lora_rank,), cfg.param_dtype)
  b = module.param("lora_b", nn.with_logical_partitioning(nn.initializers.zeros, (
      "lora_rank",) + names[in_axes:]), (cfg.lora_rank,) + tuple(features), cfg.param_dtype)
  x = nn.Dropout(cfg.lora_dropout)(x, deterministic=deterministic or cfg.lora_dropout == 0)
  axes = tuple(range(x.ndim - in_axes, x.ndim))
  low = jnp.tensordot(x.astype(cfg.dtype), jnp.asarray(a, cfg.dtype), (axes, tuple(range(in_axes))))
  y = _up_projection(low, jnp.asarray(b, cfg.dtype))
  return y * jnp.asarray(scaling(cfg), y.dtype)


# The up-projection's output is as large as the layer's own: under a remat policy that saves
# dot outputs (dots_with_no_batch_dims) it was kept for the backward pass beside the base
# projection's, and LoRA needed more activation memory than full fine-tuning (XLarge on
# v5p-64: 9.25 against 8.20 GiB per chip). As a custom_vjp it is one opaque call to the
# policy, so only its inputs are kept: the rank-sized `low` and `b`.
@jax.custom_vjp
def _up_projection(low, b):
  return jnp.tensordot(low, b, ((low.ndim - 1,), (0,)))


def _up_projection_forward(low, b):
  return _up_projection(low, b), (low, b)


def _up_projection_backward(residuals, grad):
  low, b = residuals
  features = tuple(range(low.ndim - 1, grad.ndim))
  rows = tuple(range(low.ndim - 1))
  return (jnp.tensordot(grad, b, (features, tuple(range(1, b.ndim)))),
          jnp.tensordot(low, grad, (rows, rows)))


_up_projection.defvjp(_up_projection_forward, _up_projection_backward)


# A parameter path that is not an adapter: fullmatch freezes it.
FROZEN_BY_LORA = r"(?!(.*/)?lora_[ab]$).*"


def frozen_pattern(cfg, freeze: str = "") -> str:
  """train.freeze with LoRA: everything but the adapters, and the adapters `freeze` names."""
  if cfg.lora_rank == 0:
    return freeze
  return FROZEN_BY_LORA if not freeze else f"(?:{freeze})|{FROZEN_BY_LORA}"


def _delta(a, b, kernel_ndim: int, scale: float):
  """a . b over the rank; a leading layer axis (nn.scan) on both when the kernel has one."""
  stacked = a.ndim + b.ndim - 2 == kernel_ndim + 1
  contract = lambda a, b: np.tensordot(a, b, axes=([a.ndim - 1], [0]))
  if stacked:
    return np.stack([contract(a[i], b[i]) for i in range(a.shape[0])]) * scale
  return contract(a, b) * scale


def merge(params: Any, cfg) -> Any:
  """Params without adapters, each targeted kernel replaced by kernel + scale * a . b
  (float64 sum, cast back to the kernel's dtype). Numpy in, numpy out."""
  if isinstance(params, dict) or hasattr(params, "items"):
    params = dict(params)
    if "lora_a" in params:
      kernel = np.asarray(params["kernel"])
      delta = _delta(np.asarray(params.pop("lora_a"), np.float64),
                     np.asarray(params.pop("lora_b"), np.float64), kernel.ndim, scaling(cfg))
      params["kernel"] = (kernel.astype(np.float64) + delta).astype(kernel.dtype)
    return {k: merge(v, cfg) for k, v in params.items()}
  return params


def adapters(params: Any) -> dict:
  """Only the adapter arrays, in their place in the tree (empty branches dropped)."""
  out = {}
  for key, value in dict(params).items():
    if key in ADAPTER_NAMES:
      out[key] = value
    elif hasattr(value, "items"):
      sub = adapters(value)
      if sub:
        out[key] = sub
  return out


def base_config(cfg):
  """The config of the merged weights: no adapters."""
  return dataclasses.replace(cfg, lora_rank=0)


ADAPTERS_FILE = "adapters.safetensors"


def save_adapters(directory: str, cfg, params: Any) -> None:
  """DIR/adapters.safetensors ("encoder/layers/attention/query/lora_a" -> array) and
  DIR/model_config.json (rank, alpha, targets with the base's shapes)."""
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  if cfg.lora_rank == 0:
    raise ValueError(f"{directory}: these weights have no LoRA adapters (model.lora_rank=0)")
  path = os.path.join(directory, ADAPTERS_FILE)
  if os.path.exists(path):
    raise FileExistsError(f"{path} exists; choose a new folder")
  os.makedirs(directory, exist_ok=True)
  flat = {"/".join(str(k.key) for k in p): np.ascontiguousarray(x)
          for p, x in jax.tree_util.tree_flatten_with_path(adapters(params))[0]}
  save_file(flat, path)
  with open(os.path.join(directory, "model_config.json"), "w") as f:
    json.dump(cfg.to_dict(), f, indent=2)


def load_adapters(directory: str) -> dict:
  """The tree save_adapters wrote (merge it into base params with `with_adapters`)."""
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  path = os.path.join(directory, ADAPTERS_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{directory} holds no {ADAPTERS_FILE} (written by "
                            "python -m biomed_jax.convert.export --format=lora_adapters)")
  tree = {}
  for name, array in load_file(path).items():
    *parents, leaf = name.split("/")
    node = tree
    for key in parents:
      node = node.setdefault(key, {})
    node[leaf] = array
  return tree


def with_adapters(params: Any, adapter_tree: dict) -> dict:
  """Base params with the adapters put in their places; an adapter whose module the base
  lacks is an error naming it."""
  out = dict(params)
  for key, value in adapter_tree.items():
    if key in ADAPTER_NAMES:
      out[key] = value
    elif key not in out:
      raise KeyError(f"adapter for {key!r}: the base weights have no such module")
    else:
      out[key] = with_adapters(out[key], value)
  return out
