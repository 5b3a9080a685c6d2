"""model.attention_impl: the fused kernels give the einsum (xla) path's logits and gradients.

The Pallas TPU flash-attention kernel runs here in its TPU interpret mode; the cuDNN call
(jax.nn.dot_product_attention) runs through JAX's XLA implementation of the same function,
which checks our layout, scale, bias and mask arguments (the cuDNN kernel itself needs a GPU).
"""

import dataclasses
import functools

import flax.linen as nn
import jax
from jax.experimental.pallas import tpu as pltpu
import numpy as np
import pytest

from biomed_jax.model import EncoderDecoder, attention_kernels, model_config

# One layer per stack: every attention kind (encoder, causal decoder, cross) runs once, and the
# Pallas interpreter, slow on CPU, runs no more than that.
FLAVOURS = {
    "t5": model_config("t5_tiny", vocab_size=128, num_encoder_layers=1, num_decoder_layers=1,
                       image_size=32, dropout_rate=0.0),
    "ofa": model_config("biomedgpt_tiny", vocab_size=128, logit_vocab_size=120, d_model=32,
                        num_heads=4, head_dim=8, d_ff=64, num_encoder_layers=1,
                        num_decoder_layers=1, vision_layers=(1, 1, 1), vision_width=8,
                        image_size=32, dropout_rate=0.0, attention_dropout_rate=0.0,
                        activation_dropout_rate=0.0),
}


def _inputs(cfg):
  rng = np.random.default_rng(0)
  enc = rng.integers(3, 100, (2, 11)).astype(np.int32)
  enc[0, 7:] = cfg.pad_id  # a padded row: masked keys
  dec = rng.integers(3, 100, (2, 5)).astype(np.int32)
  dec[:, 0] = cfg.bos_id
  images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  image_mask = np.array([True, False])  # a text-only row: masked image tokens
  return enc, dec, images, image_mask


def _logits_and_grads(cfg, variables, inputs, jit=False):
  """jit: one compiled program, much faster than eager for the interpreted Pallas kernel
  (and slower for the rest, whose compile costs more than it runs)."""
  model = EncoderDecoder(cfg)

  def loss(params):
    logits = model.apply({**variables, "params": params}, *inputs)
    return (jax.nn.log_softmax(logits)[..., :100] ** 2).mean(), logits

  grad_fn = jax.value_and_grad(loss, has_aux=True)
  (_, logits), grads = (jax.jit(grad_fn) if jit else grad_fn)(variables["params"])
  return np.asarray(logits), grads


@functools.cache
def _reference(flavour):
  """(config, variables, inputs, xla logits and gradients) of a flavour, shared by the tests."""
  cfg = FLAVOURS[flavour]
  inputs = _inputs(cfg)
  variables = nn.meta.unbox(EncoderDecoder(cfg).init(jax.random.key(0), *inputs))
  return cfg, variables, inputs, _logits_and_grads(cfg, variables, inputs)


@pytest.mark.parametrize("flavour", ["t5", "ofa"])
@pytest.mark.parametrize("impl", ["pallas_tpu", "cudnn"])
def test_fused_attention_equals_xla(flavour, impl, monkeypatch):
  cfg, variables, inputs, reference = _reference(flavour)
  fused_cfg = dataclasses.replace(cfg, attention_impl=impl)
  if impl == "cudnn":
    monkeypatch.setattr(attention_kernels, "cudnn_attention",
                        functools.partial(attention_kernels.cudnn_attention,
                                          implementation="xla"))
    fused = _logits_and_grads(fused_cfg, variables, inputs)
  else:
    with pltpu.force_tpu_interpret_mode():
      fused = _logits_and_grads(fused_cfg, variables, inputs, jit=True)
  logits = reference[0]
  valid = logits > -1e30  # OFA's padded vocabulary rows are -inf-like in both
  np.testing.assert_allclose(fused[0][valid], logits[valid], atol=2e-5, rtol=2e-5)
  for (path, g), f in zip(jax.tree_util.tree_flatten_with_path(reference[1])[0],
                          jax.tree.leaves(fused[1])):
    np.testing.assert_allclose(f, g, atol=2e-5, rtol=1e-3, err_msg=jax.tree_util.keystr(path))


def test_auto_is_xla_on_cpu_and_kernels_refuse_attention_dropout():
  assert attention_kernels.resolve("auto", "float32") == "xla"
  assert attention_kernels.resolve("pallas_tpu", "float32") == "pallas_tpu"
  with pytest.raises(ValueError, match="attention_dropout_rate=0.0"):
    model_config("t5_tiny", attention_impl="pallas_tpu")  # T5: attention dropout 0.1
  with pytest.raises(ValueError, match="attention_impl='flash' is not one of"):
    model_config("t5_tiny", attention_impl="flash")
