"""One optimisation step: forward, masked label-smoothed loss, gradients, optax update."""

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from biomed_jax.model import EncoderDecoder, ModelConfig
from biomed_jax.training.loss import cross_entropy
from biomed_jax.training.state import TrainState

# Required keys; "images" and "image_mask" come together, or not at all (text-only model).
BATCH_KEYS = ("encoder_tokens", "decoder_inputs", "decoder_targets", "decoder_loss_weights")


def make_train_step(model: EncoderDecoder, tx: optax.GradientTransformation,
                    label_smoothing: float):
  """train_step(state, batch) -> (state, metrics); pure, to be jitted with shardings."""
  train_model = model.clone(train=True)

  def train_step(state: TrainState, batch: Mapping[str, jax.Array]):
    dropout_rng = jax.random.fold_in(state.rng, state.step)

    def loss_fn(params):
      logits, updates = train_model.apply(
          {"params": params, "batch_stats": state.batch_stats}, batch["encoder_tokens"],
          batch["decoder_inputs"], batch.get("images"), batch.get("image_mask"),
          rngs={"dropout": dropout_rng}, mutable=["batch_stats"])
      loss_sum, weight_sum, correct = cross_entropy(
          logits, batch["decoder_targets"], batch["decoder_loss_weights"], label_smoothing)
      denominator = jnp.maximum(weight_sum, 1.0)
      return loss_sum / denominator, (updates.get("batch_stats", {}), weight_sum,
                                       correct / denominator)

    (loss, (batch_stats, tokens, accuracy)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if "image_mask" in batch:  # a batch without images leaves the BatchNorm averages alone
      any_image = jnp.any(batch["image_mask"])
      batch_stats = jax.tree.map(lambda new, old: jnp.where(any_image, new, old),
                                 batch_stats, state.batch_stats)
    metrics = {"loss": loss, "token_accuracy": accuracy, "target_tokens": tokens,
               "grad_norm": optax.global_norm(grads)}
    return state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                         opt_state=opt_state), metrics

  return train_step


def jit_train_step(train_step, state_shardings: TrainState, batch_sharding):
  """Jitted with explicit in/out shardings; the old state's buffers are donated. Trace and
  call it inside sharding.mesh_context(mesh, rules)."""
  return jax.jit(train_step, in_shardings=(state_shardings, batch_sharding),
                 out_shardings=(state_shardings, None), donate_argnums=(0,))


def validate_batch(batch: Mapping[str, Any], cfg: ModelConfig) -> None:
  """Host-side checks that name the offending value, run before anything is compiled."""
  missing = [k for k in BATCH_KEYS[:4] if k not in batch]
  if missing:
    raise ValueError(f"batch is missing {missing}; it has {sorted(batch)}")
  for key in ("encoder_tokens", "decoder_inputs", "decoder_targets"):
    tokens = np.asarray(batch[key])
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
      raise ValueError(f"batch[{key!r}] must be integer [batch, length], got "
                       f"{tokens.dtype} {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= cfg.vocab_size):
      bad = tokens[(tokens < 0) | (tokens >= cfg.vocab_size)].ravel()[0]
      raise ValueError(f"batch[{key!r}] holds token id {int(bad)} outside the vocabulary "
                       f"[0, {cfg.vocab_size}) (model.vocab_size)")
  if "images" in batch:
    images = batch["images"]
    expected = (images.shape[0], cfg.image_size, cfg.image_size, 3)
    if tuple(images.shape) != expected:
      raise ValueError(f"batch['images'] has shape {tuple(images.shape)}; the model expects "
                       f"[batch, {cfg.image_size}, {cfg.image_size}, 3] (model.image_size="
                       f"{cfg.image_size}, RGB)")
    mask = batch.get("image_mask")
    if mask is None or tuple(np.shape(mask)) != (images.shape[0],):
      raise ValueError(f"batch['image_mask'] must have shape ({images.shape[0]},) next to "
                       f"the images, got {None if mask is None else np.shape(mask)}")
