"""One optimisation step: forward, masked label-smoothed loss, gradients, optax update."""

from collections.abc import Mapping
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from biomed_jax.data import batch_contract
from biomed_jax.model import EncoderDecoder, ModelConfig, Packing
from biomed_jax.training.loss import cross_entropy
from biomed_jax.training.optimizer import param_path
from biomed_jax.training.state import TrainState

# Required keys; "images" and "image_mask" come together, or not at all (text-only model).
BATCH_KEYS = batch_contract.REQUIRED_KEYS
MODEL_INPUT_KEYS = batch_contract.MODEL_INPUT_KEYS
LOSS_NORMALIZATIONS = ("tokens", "examples")


def make_train_step(model: EncoderDecoder, tx: optax.GradientTransformation,
                    label_smoothing: float, grad_accum_steps: int = 1, ema_decay: float = 0.0,
                    freeze: str = "", loss_normalization: str = "tokens"):
  """train_step(state, batch) -> (state, metrics); pure, to be jitted with shardings.

  The batch is split into `grad_accum_steps` micro-batches whose gradients are summed in a
  scan (memory of one micro-batch, the update of the whole batch). A step whose loss or
  gradients are not finite changes nothing but the step counter and reports nonfinite=1.
  Parameters matching `freeze` (the optimizer's regex) are constants of the loss: their
  gradients are zeros the compiler folds away, not computed (LoRA's frozen base).

  loss_normalization: "tokens" = the mean over every target token of the batch (a task with
  long targets, captions or titles, weighs more per example); "examples" = the mean over
  examples of each example's mean token loss (every example weighs the same, whatever its
  target length; token_accuracy is then the mean of the examples' token accuracies).
  """
  if loss_normalization not in LOSS_NORMALIZATIONS:
    raise ValueError(f"config.train.loss_normalization={loss_normalization!r}: use one of "
                     f"{LOSS_NORMALIZATIONS}")
  train_model = model.clone(train=True)
  frozen = re.compile(freeze) if freeze else None

  def constants_frozen(params):
    if frozen is None:
      return params
    return jax.tree_util.tree_map_with_path(
        lambda p, x: jax.lax.stop_gradient(x) if frozen.fullmatch(param_path(p)) else x,
        params)

  def micro_step(params, batch_stats, batch, dropout_rng):
    def loss_fn(params):
      packing = Packing.from_batch(batch)
      logits, updates = train_model.apply(
          {"params": constants_frozen(params), "batch_stats": batch_stats}, batch["encoder_tokens"],
          batch["decoder_inputs"], batch.get("images"), batch.get("image_mask"), packing,
          rngs={"dropout": dropout_rng}, mutable=["batch_stats"])
      weights = batch["decoder_loss_weights"].astype(jnp.float32)
      if loss_normalization == "examples":  # each example's weights sum to 1 (or 0)
        weights = weights / jnp.maximum(_example_weight_sums(weights, packing), 1e-9)
      loss_sum, weight_sum, correct = cross_entropy(
          logits, batch["decoder_targets"], weights, label_smoothing,
          model.config.logit_vocab_size)
      return loss_sum, (updates.get("batch_stats", {}), weight_sum, correct)

    (loss_sum, (new_stats, weight_sum, correct)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(params)
    tokens = batch["decoder_loss_weights"].astype(jnp.float32).sum()
    if "image_mask" in batch:  # a batch without images leaves the BatchNorm averages alone
      any_image = jnp.any(batch["image_mask"])
      new_stats = jax.tree.map(lambda new, old: jnp.where(any_image, new, old), new_stats,
                               batch_stats)
    return grads, new_stats, loss_sum, weight_sum, correct, tokens

  def train_step(state: TrainState, batch: Mapping[str, jax.Array]):
    batch = {k: v for k, v in batch.items() if k in MODEL_INPUT_KEYS}
    dropout_rng = jax.random.fold_in(state.rng, state.step)
    if grad_accum_steps == 1:
      grads, batch_stats, loss_sum, weight_sum, correct, tokens = micro_step(
          state.params, state.batch_stats, batch, dropout_rng)
    else:
      micro = jax.tree.map(
          lambda x: x.reshape(grad_accum_steps, x.shape[0] // grad_accum_steps, *x.shape[1:]),
          batch)

      def accumulate(carry, inputs):
        grads, stats, loss_sum, weight_sum, correct, tokens = carry
        index, micro_batch = inputs
        g, stats, l, w, c, t = micro_step(state.params, stats, micro_batch,
                                          jax.random.fold_in(dropout_rng, index))
        return (jax.tree.map(jnp.add, grads, g), stats, loss_sum + l, weight_sum + w,
                correct + c, tokens + t), None

      zeros = jax.tree.map(jnp.zeros_like, state.params)
      (grads, batch_stats, loss_sum, weight_sum, correct, tokens), _ = jax.lax.scan(
          accumulate, (zeros, state.batch_stats, 0.0, 0.0, 0.0, 0.0),
          (jnp.arange(grad_accum_steps), micro))
    # Gradients of the mean loss over every target token (or example) of the whole batch.
    denominator = jnp.maximum(weight_sum, 1e-9 if loss_normalization == "examples" else 1.0)
    grads = jax.tree.map(lambda g: g / denominator, grads)
    loss = loss_sum / denominator
    grad_norm = optax.tree.norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)

    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema_params = state.ema_params
    if ema_decay > 0:
      ema_params = jax.tree.map(lambda e, p: ema_decay * e + (1 - ema_decay) * p,
                                state.ema_params, params)
    keep_if_finite = lambda new, old: jax.tree.map(
        lambda n, o: jnp.where(finite, n, o), new, old)
    new_state = state.replace(
        step=state.step + 1, params=keep_if_finite(params, state.params),
        batch_stats=keep_if_finite(batch_stats, state.batch_stats),
        opt_state=keep_if_finite(opt_state, state.opt_state),
        ema_params=keep_if_finite(ema_params, state.ema_params))
    metrics = {"loss": loss, "token_accuracy": correct / denominator,
               "target_tokens": tokens, "grad_norm": grad_norm,
               "nonfinite": 1 - finite.astype(jnp.int32)}
    return new_state, metrics

  return train_step


def _example_weight_sums(weights, packing):
  """The sum of the loss weights of each token's example: its row's, or in packed rows its
  segment's."""
  if packing is None:
    return weights.sum(-1, keepdims=True)
  ids = packing.decoder_segment_ids
  return jnp.einsum("bqk,bk->bq", (ids[:, :, None] == ids[:, None, :]).astype(weights.dtype),
                    weights)


def jit_train_step(train_step, state_shardings: TrainState, batch_sharding):
  """Jitted with explicit in/out shardings; the old state's buffers are donated. Trace and
  call it inside sharding.mesh_context(mesh, rules)."""
  return jax.jit(train_step, in_shardings=(state_shardings, batch_sharding),
                 out_shardings=(state_shardings, None), donate_argnums=(0,))


def validate_batch(batch: Mapping[str, Any], cfg: ModelConfig) -> None:
  """Host-side checks that name the offending value, run before anything is compiled."""
  missing = [k for k in BATCH_KEYS if k not in batch]
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
