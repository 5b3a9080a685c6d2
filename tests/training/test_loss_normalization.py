"""loss_normalization="examples": every example weighs the same, whatever its target length."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biomed_jax import sharding
from biomed_jax.model import EncoderDecoder, model_config
from biomed_jax.training import optimizer, state as state_lib, step as step_lib
from biomed_jax.training.loss import cross_entropy
import ml_collections


def _setup(normalization, grad_accum_steps=1):
  cfg = model_config("t5_tiny", vocab_size=128, image_size=32, dropout_rate=0.0)
  model = EncoderDecoder(cfg)
  opt = ml_collections.ConfigDict(dict(
      learning_rate=1e-3, warmup_steps=0, decay="constant", end_learning_rate_factor=0.0,
      b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, grad_clip_norm=0.0, label_smoothing=0.0))
  tx = optimizer.make_optimizer(opt, 10)
  mesh = sharding.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, jax.devices()[:1])
  rules = sharding.rules_from_config(None)
  state, _ = state_lib.create_state(model, tx, state_lib.example_inputs(cfg, 4, 8, 6), mesh,
                                    rules, 0)
  step = jax.jit(step_lib.make_train_step(model, tx, 0.0, grad_accum_steps,
                                          loss_normalization=normalization))
  return model, state, step


def _batch():
  rng = np.random.default_rng(0)
  weights = np.zeros((4, 6), np.float32)
  for row, length in enumerate((1, 6, 2, 4)):  # targets of different lengths
    weights[row, :length] = 1
  return {"encoder_tokens": jnp.asarray(rng.integers(3, 128, (4, 8)), jnp.int32),
          "decoder_inputs": jnp.asarray(rng.integers(3, 128, (4, 6)), jnp.int32),
          "decoder_targets": jnp.asarray(rng.integers(3, 128, (4, 6)), jnp.int32),
          "decoder_loss_weights": jnp.asarray(weights)}


@pytest.mark.parametrize("grad_accum_steps", [1, 2])
def test_examples_normalization_is_the_mean_of_per_example_means(grad_accum_steps):
  model, state, step = _setup("examples", grad_accum_steps)
  batch = _batch()
  logits = model.apply({"params": state.params}, batch["encoder_tokens"],
                       batch["decoder_inputs"])
  per_example = []
  for row in range(4):  # each example's own token-mean loss, computed one by one
    loss, weight, _ = cross_entropy(logits[row:row + 1], batch["decoder_targets"][row:row + 1],
                                    batch["decoder_loss_weights"][row:row + 1])
    per_example.append(float(loss / weight))
  _, metrics = step(state, batch)
  np.testing.assert_allclose(float(metrics["loss"]), np.mean(per_example), rtol=1e-5)
  assert float(metrics["target_tokens"]) == 13  # real target tokens, not examples


def test_tokens_normalization_is_the_token_mean():
  model, state, step = _setup("tokens")
  batch = _batch()
  logits = model.apply({"params": state.params}, batch["encoder_tokens"],
                       batch["decoder_inputs"])
  loss, weight, _ = cross_entropy(logits, batch["decoder_targets"],
                                  batch["decoder_loss_weights"])
  _, metrics = step(state, batch)
  np.testing.assert_allclose(float(metrics["loss"]), float(loss / weight), rtol=1e-5)


def test_an_unknown_normalization_is_refused():
  model = EncoderDecoder(model_config("t5_tiny"))
  with pytest.raises(ValueError, match="loss_normalization='sentences'"):
    step_lib.make_train_step(model, optimizer.optax.sgd(1.0), 0.0,
                             loss_normalization="sentences")
