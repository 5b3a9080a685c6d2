"""Decoding: greedy, beam search and sampling in one compiled loop over the KV cache;
candidate-trie constrained decoding and candidate scoring for closed-set tasks."""

from biomed_jax.decoding.constraints import CandidateTrie, TrieEdges
from biomed_jax.decoding.scoring import CandidateScores, score_candidates
from biomed_jax.decoding.search import METHODS, DecodeResult, decode, top_p_filter
