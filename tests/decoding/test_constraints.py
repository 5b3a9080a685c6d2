"""The candidate trie: allowed tokens and transitions, against a walk over the token lists."""

import numpy as np
import pytest

from biomed_jax.decoding import CandidateTrie

# "no", "no effusion", "no pleural effusion", "yes", "yes" again, and a long answer.
CANDIDATES = [[40], [40, 41], [40, 42, 41], [50], [50], [60, 61, 62, 63, 64]]
VOCAB = 70


def _next_tokens(prefix):
  rows = [c + [1] for c in CANDIDATES]
  return {r[len(prefix)] for r in rows if r[:len(prefix)] == prefix and len(r) > len(prefix)}


def _walk(trie, prefix):
  node = np.zeros(1, np.int32)
  for token in prefix:
    node = np.asarray(trie.advance(node, np.array([token], np.int32)))
  return node


@pytest.mark.parametrize("pad_edges_to", [None, 40])
def test_allowed_tokens_are_exactly_the_candidate_continuations(pad_edges_to):
  trie = CandidateTrie.from_token_lists(CANDIDATES, pad_edges_to=pad_edges_to)
  prefixes = {tuple(c[:i]) for c in CANDIDATES + [c + [1] for c in CANDIDATES]
              for i in range(len(c) + 1)}
  for prefix in sorted(prefixes):
    node = _walk(trie, list(prefix))
    allowed = set(np.flatnonzero(np.asarray(trie.allowed(node, VOCAB))[0]).tolist())
    assert allowed == _next_tokens(list(prefix)), prefix
  # Leaving the trie leads to a state that allows nothing, also after padding edges.
  node = _walk(trie, [40, 43])
  assert node[0] == -1
  assert not np.asarray(trie.allowed(node, VOCAB)).any()
  assert not np.asarray(trie.allowed(_walk(trie, [50, 1]), VOCAB)).any()


def test_candidates_and_lookup():
  trie = CandidateTrie.from_token_lists(CANDIDATES)
  assert trie.num_candidates == len(CANDIDATES)
  assert trie.max_length == 6  # the long answer and EOS
  np.testing.assert_array_equal(np.asarray(trie.candidates)[1], [40, 41, 1, 0, 0, 0])
  decoded = np.array([[40, 1, 0, 0], [40, 41, 1, 0], [50, 1, 0, 0], [40, 41, 0, 0],
                      [41, 1, 0, 0]])
  np.testing.assert_array_equal(trie.index_of(decoded), [0, 1, 3, -1, -1])


def test_bad_candidates_are_rejected():
  with pytest.raises(ValueError, match="at least one"):
    CandidateTrie.from_token_lists([])
  with pytest.raises(ValueError, match="EOS"):
    CandidateTrie.from_token_lists([[5, 1, 6]])
  with pytest.raises(ValueError, match="pad"):
    CandidateTrie.from_token_lists([[0, 5]])
  with pytest.raises(ValueError, match="pad_edges_to"):
    CandidateTrie.from_token_lists(CANDIDATES, pad_edges_to=3)
  trie = CandidateTrie.from_token_lists([[5, 80]])
  with pytest.raises(ValueError, match="outside the model's vocabulary"):
    trie.allowed(np.zeros(1, np.int32), VOCAB)
