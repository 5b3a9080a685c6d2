"""The BiomedGPT flavour against the PyTorch OFA reference (modelscope's port), float32.

Reference models are random, with every norm, BatchNorm statistic, head scale and relative
table randomised; weights go through the real converter (HF folder -> pretrained folder ->
from_pretrained), so the tests cover the layout map as well as the forward computation.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import ofa_fixtures as fx
from biomed_jax.convert import biomedgpt
from biomed_jax.model import EncoderDecoder, from_pretrained, init_cache
from biomed_jax.model import ofa_positions

pytest.importorskip("torch")

RTOL = 1e-4


def _close(ours, reference, what):
  scale = np.abs(reference).max()
  error = np.abs(np.asarray(ours) - reference).max() / scale
  assert error <= RTOL, f"{what}: max error {error:.2e} of the largest value {scale:.3g}"


@pytest.fixture(scope="module", params=sorted(fx.CONFIGS))
def converted(request, tmp_path_factory):
  reference = fx.reference_model(request.param)
  folder = tmp_path_factory.mktemp(request.param)
  hf = fx.save_hf_folder(reference, str(folder / "hf"))
  biomedgpt.convert(hf, str(folder / "ours"), log=lambda _: None)
  return request.param, reference, from_pretrained(str(folder / "ours"))


def test_bucket_tables_equal_the_reference():
  modeling = fx.ofa_reference.load()
  for bucket in (16, 256):
    reference = modeling.make_token_bucket_position(bucket).numpy()
    rows = ofa_positions.token_buckets(jnp.arange(1024), jnp.arange(1024),
                                       fx_config(token_bucket_size=bucket))
    np.testing.assert_array_equal(np.asarray(rows), reference)
  # Image buckets: the reference's table over position ids 1 + r * B + c of a 5 x 5 grid.
  buckets = 8
  table = modeling.make_image_bucket_position(buckets, (2 * buckets - 1) ** 2 + 3).numpy()
  ids = ofa_positions.image_position_ids(5, 5, buckets)
  np.testing.assert_array_equal(ofa_positions.image_bucket_rows(5, 5, buckets),
                                table[ids][:, ids])
  assert ofa_positions.token_bucket_table(256)[[1023, 1024, 1022, 1023 + 129, 2046]].tolist() \
      == [255, 256, 254, 384, 510]


def fx_config(**overrides):
  from biomed_jax.model import model_config  # pylint: disable=g-import-not-at-top
  return model_config("biomedgpt_tiny", **overrides)


@pytest.mark.parametrize("image_size", [64, 96])
def test_logits_and_encoder_equal_reference_with_images(converted, image_size):
  name, reference, model = converted
  enc, dec, images, mask = fx.inputs(name, image_size)
  ref_logits, ref_encoded = fx.reference_forward(reference, enc, dec, images, mask)
  vocab = fx.CONFIGS[name]["vocab_size"]
  logits = model(enc, dec, images, mask)
  # Padding rows of the table never score.
  assert logits.shape[-1] % 128 == 0 and np.all(np.asarray(logits[..., vocab:]) < -1e30)
  _close(logits[..., :vocab], ref_logits, "logits")
  encoded, _ = model.module.apply(model.variables, enc, images, mask,
                                  method=EncoderDecoder.encode)
  _close(encoded.hidden, ref_encoded, "encoder output")


def test_text_only_batch_equals_reference(converted):
  name, reference, model = converted
  enc, dec, _, _ = fx.inputs(name, 64, seed=3)
  ref_logits, ref_encoded = fx.reference_forward(reference, enc, dec)
  vocab = fx.CONFIGS[name]["vocab_size"]
  _close(model(enc, dec)[..., :vocab], ref_logits, "logits")
  encoded, _ = model.module.apply(model.variables, enc, method=EncoderDecoder.encode)
  _close(encoded.hidden, ref_encoded, "encoder output")


def test_cached_decoding_equals_full_forward(converted):
  name, _, model = converted
  enc, dec, images, mask = fx.inputs(name, 64, seed=5)
  full = model(enc, dec, images, mask)
  params = model.variables
  encoded, encoder_mask = model.module.apply(params, enc, images, mask,
                                             method=EncoderDecoder.encode)
  decoder, cache = init_cache(model.module, params["params"], encoded, encoder_mask,
                              dec.shape[1])
  steps = []
  for t in range(dec.shape[1]):
    logits, updated = decoder.apply({"params": params["params"], "cache": cache},
                                    jnp.asarray(dec[:, t:t + 1]), None, encoder_mask,
                                    method=EncoderDecoder.decode_logits, mutable=["cache"])
    cache = updated["cache"]
    steps.append(logits)
  stepped = np.concatenate(steps, 1)
  real = dec != fx.PAD  # pad positions attend differently (masked keys in the full pass)
  np.testing.assert_allclose(stepped[real], np.asarray(full)[real], rtol=1e-5, atol=1e-5)


def test_greedy_decode_equals_reference_step_by_step(converted):
  """Our compiled greedy decoding (one jitted loop over the KV cache) = argmax of the
  reference's full forward pass re-run on the growing prefix (the port's own cached generate
  is known to be off)."""
  from biomed_jax.decoding import decode  # pylint: disable=g-import-not-at-top
  name, reference, model = converted
  enc, _, images, mask = fx.inputs(name, 64, seed=7)
  steps, vocab = 6, fx.CONFIGS[name]["vocab_size"]
  prefix = np.full((enc.shape[0], 1), fx.BOS, np.int64)
  for _ in range(steps):
    logits, _ = fx.reference_forward(reference, enc, prefix, images, mask)
    prefix = np.concatenate([prefix, logits[:, -1, :vocab].argmax(-1)[:, None]], 1)
  expected = prefix[:, 1:]
  ours = np.asarray(decode(model.module, model.variables, enc, images, mask,
                           max_length=steps).tokens)
  # Rows end at the reference's first EOS (then pad); up to there they must agree exactly.
  for row, want in zip(ours, expected):
    stop = list(want).index(fx.EOS) + 1 if fx.EOS in want else steps
    np.testing.assert_array_equal(row[:stop], want[:stop])
