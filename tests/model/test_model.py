"""Model behaviour: cached decoding, image masking, BatchNorm modes, scan vs unrolled."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biomed_jax.model import EncoderDecoder, init_cache, model_config

CFG = model_config("t5_tiny", vocab_size=128, image_size=64, dropout_rate=0.0)


def _inputs(rng, batch=3):
  enc = rng.integers(3, CFG.vocab_size, (batch, 9)).astype(np.int32)
  enc[0, 6:] = 0
  dec = rng.integers(3, CFG.vocab_size, (batch, 7)).astype(np.int32)
  dec[:, 0] = 0
  images = rng.uniform(-1, 1, (batch, 64, 64, 3)).astype(np.float32)
  return enc, dec, images


@pytest.fixture(scope="module")
def variables():
  enc, dec, images = _inputs(np.random.default_rng(0))
  return nn.meta.unbox(jax.jit(EncoderDecoder(CFG).init)(jax.random.key(0), enc, dec, images))


def test_cached_decoding_equals_full_forward(variables):
  model = EncoderDecoder(CFG)
  enc, dec, images = _inputs(np.random.default_rng(1))
  mask = np.array([True, False, True])
  full = model.apply(variables, enc, dec, images, mask)
  encoded, encoder_mask = model.apply(variables, enc, images, mask,
                                      method=EncoderDecoder.encode)
  decoder, cache = init_cache(model, variables["params"], encoded, encoder_mask, dec.shape[1])
  steps = []
  for t in range(dec.shape[1]):
    logits, updated = decoder.apply({"params": variables["params"], "cache": cache},
                                    dec[:, t:t + 1], None, encoder_mask,
                                    method=EncoderDecoder.decode_logits, mutable=["cache"])
    cache = updated["cache"]
    steps.append(logits)
  np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_masked_image_is_ignored_and_text_only_matches(variables):
  model = EncoderDecoder(CFG)
  enc, dec, images = _inputs(np.random.default_rng(2))
  mask = np.array([False, True, False])
  other = images.copy()
  other[0] = -images[0]  # change only the masked-out images
  other[2] = 0.3
  a = np.asarray(model.apply(variables, enc, dec, images, mask))
  b = np.asarray(model.apply(variables, enc, dec, other, mask))
  np.testing.assert_allclose(a[[0, 2]], b[[0, 2]], atol=1e-6)
  swapped = images.copy()
  swapped[1] = images[0]  # the unmasked example's image does matter
  assert not np.allclose(a[1], np.asarray(model.apply(variables, enc, dec, swapped, mask))[1])
  # An example whose image is masked out sees exactly what a text-only call sees.
  text_only = np.asarray(model.apply(variables, enc, dec))
  np.testing.assert_allclose(a[[0, 2]], text_only[[0, 2]], atol=1e-5)


def test_batch_norm_uses_batch_stats_of_image_examples_only_in_training(variables):
  train = EncoderDecoder(CFG, train=True)
  enc, dec, images = _inputs(np.random.default_rng(3))
  mask = np.array([True, False, True])
  other = images.copy()
  other[1] = 5.0  # a masked-out (text-only) slot must not move the statistics
  run = lambda imgs: train.apply(variables, enc, dec, imgs, mask, mutable=["batch_stats"])
  (logits_a, stats_a), (logits_b, stats_b) = run(images), run(other)
  logits_a, logits_b = np.asarray(logits_a), np.asarray(logits_b)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-6), stats_a, stats_b)
  np.testing.assert_allclose(logits_a[[0, 2]], logits_b[[0, 2]], atol=1e-5)
  changed = jax.tree.map(lambda x, y: not np.allclose(x, y), stats_a["batch_stats"],
                         variables["batch_stats"])
  assert all(jax.tree.leaves(changed))
  # Evaluation mode uses the running averages: an example's output does not depend on the
  # rest of the batch.
  eval_model = EncoderDecoder(CFG)
  alone = eval_model.apply(variables, enc[:1], dec[:1], images[:1], mask[:1])
  together = np.asarray(eval_model.apply(variables, enc, dec, images, mask))
  np.testing.assert_allclose(alone[0], together[0], atol=1e-5)


def test_scan_and_unrolled_layers_compute_the_same_function(variables):
  unrolled_cfg = model_config("t5_tiny", vocab_size=128, image_size=64, dropout_rate=0.0,
                              scan_layers=False)
  p = variables["params"]
  unstack = lambda tree, n: {f"layers_{i}": jax.tree.map(lambda x: x[i], tree)
                             for i in range(n)}
  params = {**p,
            "encoder": {**{k: v for k, v in p["encoder"].items() if k != "layers"},
                        **unstack(p["encoder"]["layers"], CFG.num_encoder_layers)},
            "decoder": {**{k: v for k, v in p["decoder"].items() if k != "layers"},
                        **unstack(p["decoder"]["layers"], CFG.num_decoder_layers)}}
  enc, dec, images = _inputs(np.random.default_rng(4))
  expected = EncoderDecoder(CFG).apply(variables, enc, dec, images)
  got = EncoderDecoder(unrolled_cfg).apply(
      {"params": params, "batch_stats": variables["batch_stats"]}, enc, dec, images)
  np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("policy", ["full", "dots_with_no_batch_dims"])
def test_remat_policies_do_not_change_gradients(variables, policy):
  enc, dec, _ = _inputs(np.random.default_rng(5))  # remat wraps the transformer layers
  text_params = {k: v for k, v in variables["params"].items() if k != "vision"}

  def loss(params, cfg):
    logits = EncoderDecoder(cfg).apply({"params": params}, enc, dec)
    return jnp.mean(jax.nn.log_softmax(logits)[..., 5])

  base = jax.jit(jax.grad(loss), static_argnums=1)(text_params, CFG)
  remat_cfg = model_config("t5_tiny", vocab_size=128, image_size=64, dropout_rate=0.0,
                           remat_policy=policy)
  got = jax.jit(jax.grad(loss), static_argnums=1)(text_params, remat_cfg)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-6, rtol=1e-5), got, base)


def test_ofa_text_longer_than_the_position_table_is_refused():
  cfg = model_config("biomedgpt_tiny", vocab_size=128, logit_vocab_size=100, d_model=16,
                     num_heads=2, head_dim=8, d_ff=32, num_encoder_layers=1,
                     num_decoder_layers=1, max_positions=8, image_size=64)
  tokens = np.ones((1, 12), np.int32)
  with pytest.raises(ValueError, match="model.max_positions=8"):
    jax.eval_shape(EncoderDecoder(cfg).init, jax.random.key(0), tokens, tokens[:, :4])
