"""BiomedGPT's decoding conventions: forced decoder prompts read off the encoder tokens and
stripped from the output, and fairseq's no-repeat-n-gram blocking inside the compiled loops."""

import jax.numpy as jnp
import numpy as np
import pytest

from biomed_jax.data import prompts as prompts_lib
from biomed_jax.decoding import CandidateTrie, decode, score_candidates
from biomed_jax.decoding.constraints import no_repeat_ngram_mask

from id_fixtures import (CANDIDATES, ID_SETS, MAX_LEN, banned_tokens, make_setup,  # pylint: disable=g-bad-import-order
                         members, next_tokens, reference_greedy)


@pytest.fixture(scope="module", params=sorted(ID_SETS))
def setup(request):
  return make_setup(ID_SETS[request.param], prompt_ready=True)


def _prompts(enc, cfg, mode):
  has_bos = cfg.bos_id != cfg.pad_id
  start, lengths = prompts_lib.prompt_span(enc, mode, cfg.eos_id, has_bos)
  return [enc[i, start:start + n].tolist() for i, n in enumerate(lengths)]


def test_prompt_span_follows_the_modes():
  # OFA: <s>=0 a b c </s>=2 pad=1 ...
  enc = np.array([[0, 7, 8, 9, 2, 1, 1], [0, 5, 2, 1, 1, 1, 1]])
  spans = {m: prompts_lib.prompt_span(enc, m, eos_id=2, has_bos=True)
           for m in prompts_lib.DECODER_PROMPTS}
  assert spans["none"][1].tolist() == [0, 0]
  assert spans["src"] == (1, spans["src"][1]) and spans["src"][1].tolist() == [4, 2]
  assert spans["prev_output"][1].tolist() == [3, 1]
  # T5: no bos, EOS 1, pad 0.
  start, lengths = prompts_lib.prompt_span(np.array([[7, 8, 1, 0]]), "src", 1, has_bos=False)
  assert start == 0 and lengths.tolist() == [3]
  with pytest.raises(ValueError, match="decoder_prompt"):
    prompts_lib.prompt_span(enc, "question", 2, True)


@pytest.mark.parametrize("mode", ["src", "prev_output"])
def test_prompted_greedy_forces_and_strips_the_prompt(setup, mode):
  cfg, model, variables, enc, forward = setup
  prompts = _prompts(enc, cfg, mode)
  got = decode(model, variables, enc, max_length=MAX_LEN, decoder_prompt=mode)
  tokens, scores = reference_greedy(forward, variables, enc, cfg, MAX_LEN, prompts=prompts)
  assert np.asarray(got.tokens).shape == (enc.shape[0], MAX_LEN)
  np.testing.assert_array_equal(np.asarray(got.tokens), tokens)
  np.testing.assert_allclose(np.asarray(got.scores), scores, rtol=1e-4, atol=1e-4)
  unprompted = decode(model, variables, enc, max_length=MAX_LEN)
  assert (np.asarray(unprompted.tokens) != tokens).any()  # the prompt changed the answers


def test_prompted_trie_beam_is_the_best_candidate_after_the_prompt(setup):
  cfg, model, variables, enc, forward = setup
  mode = "prev_output"
  prompts = _prompts(enc, cfg, mode)
  trie = CandidateTrie.from_token_lists(CANDIDATES, cfg.eos_id, pad_id=cfg.pad_id)
  got = decode(model, variables, enc, max_length=MAX_LEN, method="beam",
               beam_size=len(CANDIDATES), length_penalty=1.0, constraint=trie,
               decoder_prompt=mode)
  members(got.tokens, cfg)
  scored = np.asarray(score_candidates(model, variables, enc, None, None, trie, chunk_size=4,
                                       decoder_prompt=mode).log_likelihood)
  for i in range(enc.shape[0]):
    normalised = []
    for candidate in CANDIDATES:
      row = candidate + [cfg.eos_id]
      dec = np.array([[cfg.bos_id] + prompts[i] + row[:-1]], np.int32)
      log_probs = np.log(np.asarray(_softmax(forward(variables, enc[i:i + 1], dec)))[0])
      p = len(prompts[i])
      total = sum(log_probs[p + t, tok] for t, tok in enumerate(row))
      np.testing.assert_allclose(scored[i, len(normalised)], total, rtol=1e-4, atol=1e-4)
      normalised.append(total / len(row))
    assert trie.index_of(np.asarray(got.tokens)[i:i + 1])[0] == int(np.argmax(normalised))
    np.testing.assert_allclose(np.asarray(got.scores)[i], max(normalised), rtol=1e-4,
                               atol=1e-4)
  greedy = decode(model, variables, enc, max_length=MAX_LEN, constraint=trie,
                  decoder_prompt=mode)
  expected, _ = reference_greedy(forward, variables, enc, cfg, MAX_LEN,
                                 lambda p: next_tokens(p, cfg.eos_id), prompts=prompts)
  np.testing.assert_array_equal(np.asarray(greedy.tokens), expected)


def _softmax(logits):
  logits = np.asarray(logits, np.float64)
  e = np.exp(logits - logits.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_mask_equals_fairseq_reference(n):
  rng = np.random.default_rng(n)
  vocab, length = 6, 12
  history = rng.integers(0, 4, (5, length)).astype(np.int32)  # few symbols: many repeats
  for last in range(length):
    mask = np.asarray(no_repeat_ngram_mask(jnp.asarray(history), jnp.int32(last), n, vocab))
    for row in range(history.shape[0]):
      expected = np.zeros(vocab, bool)
      expected[banned_tokens(history[row, :last + 1].tolist(), n)] = True
      np.testing.assert_array_equal(mask[row], expected, err_msg=f"{row} {last}")
  assert mask.any()


def _has_repeat(sequence, n):
  grams = [tuple(sequence[j:j + n]) for j in range(len(sequence) - n + 1)]
  return len(grams) != len(set(grams))


def test_no_repeat_ngram_in_greedy_and_beam(setup):
  cfg, model, variables, enc, forward = setup
  n = 2
  got = decode(model, variables, enc, max_length=MAX_LEN, no_repeat_ngram_size=n)
  expected, _ = reference_greedy(forward, variables, enc, cfg, MAX_LEN, no_repeat=n)
  np.testing.assert_array_equal(np.asarray(got.tokens), expected)
  plain = np.asarray(decode(model, variables, enc, max_length=MAX_LEN).tokens)

  def answer(row):
    ends = np.flatnonzero(row == cfg.eos_id)
    return (row[:ends[0] + 1] if ends.size else row).tolist()

  beam = decode(model, variables, enc, max_length=MAX_LEN, method="beam", beam_size=3,
                no_repeat_ngram_size=n, decoder_prompt="src")
  prompts = _prompts(enc, cfg, "src")
  for i, kept in enumerate(np.asarray(beam.beam_tokens)):
    assert not _has_repeat([cfg.bos_id] + prompts[i], n)
    for row in kept:
      assert not _has_repeat([cfg.bos_id] + prompts[i] + answer(row), n)
  assert any(_has_repeat([cfg.bos_id] + answer(r), n) for r in plain)  # blocking mattered
