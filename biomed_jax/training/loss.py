"""Masked, label-smoothed cross-entropy on target tokens."""

import jax
import jax.numpy as jnp


def cross_entropy(logits, targets, weights, label_smoothing: float = 0.0):
  """Returns (sum of weighted per-token losses, sum of weights, number of correct tokens).

  Smoothing spreads `label_smoothing` over the other vocab entries; the entropy of the
  smoothed target is subtracted so a perfect prediction scores 0 (as T5X does), which keeps
  the logged loss comparable across smoothing values. Computed from log-probabilities at the
  target index and their sum, never materialising a one-hot of the vocabulary.
  """
  vocab = logits.shape[-1]
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  target_log_prob = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  if label_smoothing > 0:
    confidence = 1.0 - label_smoothing
    low = label_smoothing / (vocab - 1)
    entropy = -(confidence * jnp.log(confidence) + (vocab - 1) * low * jnp.log(low))
    loss = -(confidence - low) * target_log_prob - low * log_probs.sum(-1) - entropy
  else:
    loss = -target_log_prob
  weights = weights.astype(jnp.float32)
  correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32) * weights
  return (loss * weights).sum(), weights.sum(), correct.sum()
