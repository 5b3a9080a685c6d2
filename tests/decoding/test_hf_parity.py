"""Oracle parity: greedy and beam decoding of a converted random HF T5 give the tokens (and
beam scores) that transformers' generate gives; top-p keeps the tokens transformers keeps."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from biomed_jax.convert import hf_t5  # noqa: E402
from biomed_jax.decoding import decode, top_p_filter  # noqa: E402
from biomed_jax.model import EncoderDecoder  # noqa: E402

SMALL = dict(vocab_size=64, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
             num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=20,
             dropout_rate=0.0, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
             decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
MAX_NEW = 12
BEAMS = 4


@pytest.fixture(scope="module")
def oracle():
  torch.manual_seed(0)
  torch.set_num_threads(1)  # tiny ops: threads only add overhead
  hf = transformers.T5ForConditionalGeneration(transformers.T5Config(**SMALL)).eval()
  with torch.no_grad():
    # A larger EOS output row: EOS then wins at some steps, so hypotheses finish at different
    # lengths and the finished-beam bookkeeping is exercised (with the plain init, few do).
    hf.lm_head.weight[1] *= 2.0
  weights = {k: v.detach().numpy().astype(np.float32) for k, v in hf.state_dict().items()}
  params = {}
  for scan in (True, False):
    cfg = hf_t5.model_config_from_hf(hf.config.to_dict(), scan_layers=scan, tied_weights=False)
    params[scan] = (EncoderDecoder(cfg), {"params": hf_t5.convert_params(weights, cfg)})
  rng = np.random.default_rng(1)
  lengths = [11, 3, 7, 11, 1, 9, 5, 10]  # 8 inputs, 0-padded
  enc = np.zeros((len(lengths), 11), np.int64)
  for i, n in enumerate(lengths):
    enc[i, :n] = rng.integers(2, SMALL["vocab_size"], n)
  return hf, params, enc


def _hf_generate(hf, enc, **kwargs):
  with torch.no_grad():
    return hf.generate(input_ids=torch.tensor(enc), attention_mask=torch.tensor(enc != 0),
                       max_new_tokens=MAX_NEW, do_sample=False, return_dict_in_generate=True,
                       output_scores=True, **kwargs)


def _as_ours(sequences: np.ndarray) -> np.ndarray:
  """HF rows: start token, tokens, then pad or EOS filler -> ours: tokens, EOS, then 0."""
  out = np.zeros((sequences.shape[0], MAX_NEW), np.int64)
  for row, seq in zip(out, sequences[:, 1:]):
    ends = np.flatnonzero(seq == 1)
    n = ends[0] + 1 if ends.size else len(seq)
    row[:n] = seq[:n]
  return out


def test_greedy_matches_transformers(oracle):
  hf, params, enc = oracle
  expected = _as_ours(_hf_generate(hf, enc, num_beams=1).sequences.numpy())
  model, variables = params[True]
  got = decode(model, variables, enc.astype(np.int32), max_length=MAX_NEW)
  np.testing.assert_array_equal(np.asarray(got.tokens), expected)
  # Sanity of the fixture: some rows end with EOS before the limit, some run to it.
  assert 0 < (expected == 1).any(1).sum() < len(enc)


@pytest.mark.parametrize("early_stopping,length_penalties,scan", [
    ("never", (1.0, 0.0, -0.5), True),
    (True, (1.0,), False),
    (False, (0.6,), True),
])
def test_beam_search_matches_transformers(oracle, early_stopping, length_penalties, scan):
  hf, params, enc = oracle
  model, variables = params[scan]
  greedy = _as_ours(_hf_generate(hf, enc, num_beams=1).sequences.numpy())
  for length_penalty in length_penalties:
    out = _hf_generate(hf, enc, num_beams=BEAMS, num_return_sequences=BEAMS,
                       length_penalty=length_penalty, early_stopping=early_stopping)
    expected = _as_ours(out.sequences.numpy()).reshape(len(enc), BEAMS, MAX_NEW)
    expected_scores = out.sequences_scores.numpy().reshape(len(enc), BEAMS)
    got = decode(model, variables, enc.astype(np.int32), max_length=MAX_NEW, method="beam",
                 beam_size=BEAMS, length_penalty=length_penalty, early_stopping=early_stopping)
    np.testing.assert_array_equal(np.asarray(got.tokens), expected[:, 0])
    np.testing.assert_array_equal(np.asarray(got.beam_tokens), expected)
    np.testing.assert_allclose(np.asarray(got.beam_scores), expected_scores, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(got.scores), expected_scores[:, 0], rtol=1e-4,
                               atol=1e-5)
    # Beam search found something greedy did not, so the comparison covers more than greedy.
    assert (expected[:, 0] != greedy).any()


def test_top_p_filter_keeps_the_same_tokens_as_transformers():
  logits = np.random.default_rng(0).normal(0, 3, (16, 50)).astype(np.float32)
  for top_p in (0.05, 0.3, 0.75, 0.95):
    warper = transformers.generation.TopPLogitsWarper(top_p)
    expected = np.isfinite(warper(None, torch.tensor(logits)).numpy())
    got = np.isfinite(np.asarray(top_p_filter(logits, top_p)))
    np.testing.assert_array_equal(got, expected)
