"""Decoding with the model config's special ids, for T5's (pad 0, EOS 1, start 0) and OFA's
(pad 1, EOS 2, start <s> = 0): greedy, trie-constrained greedy and beam search, and candidate
scoring against step-by-step full forward passes."""

import jax
import numpy as np
import pytest

from biomed_jax.decoding import CandidateTrie, decode, score_candidates

from id_fixtures import (BATCH, CANDIDATES, ID_SETS, MAX_LEN, make_setup, members,  # pylint: disable=g-bad-import-order
                         next_tokens, reference_greedy)


@pytest.fixture(scope="module", params=sorted(ID_SETS))
def setup(request):
  return make_setup(ID_SETS[request.param])


def test_greedy_equals_reference(setup):
  cfg, model, variables, enc, forward = setup
  got = decode(model, variables, enc, max_length=MAX_LEN)
  tokens, scores = reference_greedy(forward, variables, enc, cfg, MAX_LEN)
  np.testing.assert_array_equal(np.asarray(got.tokens), tokens)
  np.testing.assert_allclose(np.asarray(got.scores), scores, rtol=1e-4, atol=1e-4)
  assert 0 < (tokens == cfg.eos_id).any(1).sum() < BATCH  # some, not all, end early


def test_beam_hypotheses_end_with_eos_then_pad(setup):
  cfg, model, variables, enc, _ = setup
  got = decode(model, variables, enc, max_length=MAX_LEN, method="beam", beam_size=3)
  scores = np.asarray(got.beam_scores)
  assert np.isfinite(scores).all() and (np.diff(scores, axis=1) <= 0).all()
  for kept in np.asarray(got.beam_tokens):
    assert len({tuple(r) for r in kept}) == len(kept)
    for row in kept:
      ends = np.flatnonzero(row == cfg.eos_id)
      if ends.size:
        assert (row[ends[0] + 1:] == cfg.pad_id).all()


def test_trie_greedy_beam_and_scoring_agree(setup):
  cfg, model, variables, enc, forward = setup
  trie = CandidateTrie.from_token_lists(CANDIDATES, cfg.eos_id, pad_id=cfg.pad_id)
  assert (trie.candidates[0, 2:] == cfg.pad_id).all()
  allcand = score_candidates(model, variables, enc, None, None, trie, chunk_size=4)
  # Teacher forcing by hand: [start] + candidate, summed log-probabilities.
  for i in (0, 3):
    for c, candidate in enumerate(CANDIDATES):
      row = candidate + [cfg.eos_id]
      dec = np.array([[cfg.bos_id] + row[:-1]], np.int32)
      log_probs = np.asarray(jax.nn.log_softmax(forward(variables, enc[i:i + 1], dec)))[0]
      expected = sum(log_probs[t, token] for t, token in enumerate(row))
      np.testing.assert_allclose(np.asarray(allcand.log_likelihood)[i, c], expected,
                                 rtol=1e-4, atol=1e-4)
  got = decode(model, variables, enc, max_length=MAX_LEN, constraint=trie)
  members(got.tokens, cfg)
  tokens, scores = reference_greedy(forward, variables, enc, cfg, MAX_LEN,
                                    lambda p: next_tokens(p, cfg.eos_id))
  np.testing.assert_array_equal(np.asarray(got.tokens), tokens)
  np.testing.assert_allclose(np.asarray(got.scores), scores, rtol=1e-4, atol=1e-4)
  # Enough beams: exhaustive, so the answer is the best teacher-forced candidate.
  beam = decode(model, variables, enc, max_length=MAX_LEN, method="beam",
                beam_size=len(CANDIDATES), length_penalty=0.0, constraint=trie)
  members(beam.tokens, cfg)
  np.testing.assert_array_equal(trie.index_of(np.asarray(beam.tokens)),
                                np.argmax(np.asarray(allcand.log_likelihood), axis=1))


def test_trie_with_other_ids_is_refused(setup):
  cfg, model, variables, enc, _ = setup
  other = {0: 1, 1: 2}[cfg.pad_id]
  trie = CandidateTrie.from_token_lists(CANDIDATES, other + 1, pad_id=other)
  with pytest.raises(ValueError, match="model's are pad"):
    decode(model, variables, enc, max_length=MAX_LEN, constraint=trie)
  with pytest.raises(ValueError, match="must not contain the pad id"):
    CandidateTrie.from_token_lists([[5, cfg.pad_id]], cfg.eos_id, pad_id=cfg.pad_id)
