"""Masked, label-smoothed cross-entropy on target tokens."""

import jax
import jax.numpy as jnp


def cross_entropy(logits, targets, weights, label_smoothing: float = 0.0,
                  num_classes: int | None = None):
  """Returns (sum of weighted per-token losses, sum of weights, number of correct tokens).

  Smoothing spreads `label_smoothing` over the other vocab entries; the entropy of the
  smoothed target is subtracted so a perfect prediction scores 0 (as T5X does), which keeps
  the logged loss comparable across smoothing values. Computed from log-probabilities at the
  target index and their sum, never materialising a one-hot of the vocabulary.
  `num_classes`: only the first entries are classes (the rest pad the vocabulary table and
  are masked by the model); smoothing spreads over them alone, as fairseq's does.
  """
  vocab = logits.shape[-1] if num_classes is None else num_classes
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  target_log_prob = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  if label_smoothing > 0:
    confidence = 1.0 - label_smoothing
    low = label_smoothing / (vocab - 1)
    entropy = -(confidence * jnp.log(confidence) + (vocab - 1) * low * jnp.log(low))
    class_log_probs = log_probs if vocab == logits.shape[-1] else jnp.where(
        jnp.arange(logits.shape[-1]) < vocab, log_probs, 0.0)
    loss = -(confidence - low) * target_log_prob - low * class_log_probs.sum(-1) - entropy
  else:
    loss = -target_log_prob
  weights = weights.astype(jnp.float32)
  correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32) * weights
  return (loss * weights).sum(), weights.sum(), correct.sum()
