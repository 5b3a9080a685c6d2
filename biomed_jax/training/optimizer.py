"""AdamW with warmup then linear or cosine decay, clipping, and decay only on kernels.

Parameters whose path ("encoder/layers/attention/query/kernel") matches `freeze` get no
update at all (and no optimizer state worth speaking of).
"""

import re

import jax
import ml_collections
import optax


def learning_rate_schedule(cfg: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
  """cfg: optimizer section (learning_rate, warmup_steps, decay, end_learning_rate_factor)."""
  warmup = optax.linear_schedule(0.0, cfg.learning_rate, max(cfg.warmup_steps, 1))
  decay_steps = max(total_steps - cfg.warmup_steps, 1)
  end = cfg.learning_rate * cfg.end_learning_rate_factor
  if cfg.decay == "linear":
    decay = optax.linear_schedule(cfg.learning_rate, end, decay_steps)
  elif cfg.decay == "cosine":
    decay = optax.cosine_decay_schedule(cfg.learning_rate, decay_steps,
                                        alpha=cfg.end_learning_rate_factor)
  elif cfg.decay == "constant":
    decay = optax.constant_schedule(cfg.learning_rate)
  else:
    raise ValueError(f"config.optimizer.decay={cfg.decay!r}: use linear, cosine or constant")
  return optax.join_schedules([warmup, decay], [cfg.warmup_steps])


def decays(path) -> bool:
  """Weight decay on dense and conv kernels only: not on norms, biases or embeddings."""
  return any(getattr(key, "key", None) == "kernel" for key in path)


def param_path(path) -> str:
  """"encoder/layers/attention/query/kernel": dict keys only (boxes add attribute keys)."""
  return "/".join(str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey))


def make_optimizer(cfg: ml_collections.ConfigDict, total_steps: int,
                   freeze: str = "") -> optax.GradientTransformation:
  schedule = learning_rate_schedule(cfg, total_steps)
  mask = lambda params: jax.tree_util.tree_map_with_path(lambda p, _: decays(p), params)
  tx = optax.chain(
      optax.clip_by_global_norm(cfg.grad_clip_norm),
      optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
                  weight_decay=cfg.weight_decay, mask=mask))
  if not freeze:
    return tx
  pattern = re.compile(freeze)
  labels = lambda params: jax.tree_util.tree_map_with_path(
      lambda p, _: "frozen" if pattern.fullmatch(param_path(p)) else "trained", params)
  return optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, labels)
