"""A trie over a closed set of candidate answers, usable inside a compiled decoding loop.

Closed-set tasks (classification, closed VQA, NLI, multiple choice) decode under the trie: at
every step the logits of tokens that leave it are set to -inf, so whatever the model, the
output is one of the candidates (each candidate's tokens followed by EOS). A candidate may be
a prefix of another ("no" and "no effusion"): the node after "no" then allows both EOS and
the next token of the longer one.

The trie is stored as its edges (parent node, token, child node), padded to a fixed count, so
its memory is linear in the total number of candidate tokens whatever the fan-out (a dense
[nodes, max_children] table would be quadratic for answer sets with thousands of distinct
first tokens). The decoding state per sequence is one int32: its current node (0 = root).
Only the edges (`TrieEdges`, a pytree) enter the compiled loop.
"""

from collections.abc import Sequence
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

# The T5 flavour's ids (ModelConfig's defaults). Decoding takes the model config's ids and
# refuses a trie built with others.
DEFAULT_PAD_ID = 0
DEFAULT_EOS_ID = 1
ROOT = 0


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrieEdges:
  """The trie as it enters the compiled loop: int32 [num_edges] arrays (parent node, token,
  child node). Padding edges have parent -2 (no node: -1 is the state of a sequence that has
  left the trie). Only the edge count is part of the compiled program's signature."""
  parent: jax.Array
  token: jax.Array
  child: jax.Array

  def allowed(self, nodes: jax.Array, vocab_size: int) -> jax.Array:
    """nodes int32 [n] -> bool [n, vocab_size]: the tokens that stay in the trie."""
    on_node = (self.parent[None, :] == nodes[:, None]).astype(jnp.int32)  # [n, edges]
    counts = jnp.zeros((nodes.shape[0], vocab_size), jnp.int32)
    return counts.at[:, self.token].max(on_node) > 0

  def advance(self, nodes: jax.Array, tokens: jax.Array) -> jax.Array:
    """The node after `tokens` [n] from `nodes` [n]; -1 where the token leaves the trie."""
    match = (self.parent[None, :] == nodes[:, None]) & (self.token[None, :] == tokens[:, None])
    # (parent, token) pairs are unique, so at most one edge matches.
    return jnp.where(match.any(-1), jnp.sum(jnp.where(match, self.child[None, :], 0), -1), -1)


@dataclasses.dataclass(frozen=True, eq=False)
class CandidateTrie:
  """A candidate set: its trie edges (for decoding) and the candidates themselves.

  candidates: int32 [num_candidates, max_candidate_length], each candidate's tokens then EOS,
    padded with pad_id; the input to teacher-forced scoring (biomed_jax.decoding.scoring).
  """
  edges: TrieEdges
  candidates: np.ndarray
  eos_id: int = DEFAULT_EOS_ID
  max_token: int = 0
  pad_id: int = DEFAULT_PAD_ID

  @classmethod
  def from_token_lists(cls, token_lists: Sequence[Sequence[int]], eos_id: int = DEFAULT_EOS_ID,
                       pad_edges_to: int | None = None, *,
                       pad_id: int = DEFAULT_PAD_ID) -> "CandidateTrie":
    """One candidate per token list (without EOS: it is appended). Duplicates are merged.
    eos_id, pad_id: the model's (biomed_jax.model.ModelConfig); T5's by default.

    pad_edges_to: pad the edge arrays to this many, so candidate sets of different sizes
    share one compiled decoding program (decode's program depends only on the edge count).
    """
    if not token_lists:
      raise ValueError("CandidateTrie needs at least one candidate")
    children: list[dict[int, int]] = [{}]
    parents, tokens, childs = [], [], []
    rows = []
    for i, candidate in enumerate(token_lists):
      candidate = [int(t) for t in candidate]
      bad = [t for t in candidate if t in (pad_id, eos_id) or t < 0]
      if bad:
        raise ValueError(f"candidate {i} {candidate} contains token {bad[0]}: candidates must "
                         f"not contain the pad id {pad_id}, the EOS id {eos_id} (appended "
                         "here) or negative ids")
      row = candidate + [eos_id]
      rows.append(row)
      node = ROOT
      for token in row:
        if token not in children[node]:
          children.append({})
          child = len(children) - 1
          children[node][token] = child
          parents.append(node)
          tokens.append(token)
          childs.append(child)
        node = children[node][token]
    num_edges = len(parents)
    if pad_edges_to is not None:
      if pad_edges_to < num_edges:
        raise ValueError(f"pad_edges_to={pad_edges_to} is less than the {num_edges} edges of "
                         "this candidate set")
      extra = pad_edges_to - num_edges
      parents += [-2] * extra
      tokens += [0] * extra
      childs += [0] * extra
    width = max(len(r) for r in rows)
    candidates = np.full((len(rows), width), pad_id, np.int32)
    for i, row in enumerate(rows):
      candidates[i, :len(row)] = row
    edges = TrieEdges(np.asarray(parents, np.int32), np.asarray(tokens, np.int32),
                      np.asarray(childs, np.int32))
    return cls(edges, candidates, eos_id=eos_id, max_token=int(max(max(r) for r in rows)),
               pad_id=pad_id)

  @property
  def num_candidates(self) -> int:
    return self.candidates.shape[0]

  @property
  def max_length(self) -> int:
    """Tokens of the longest candidate, EOS included: the decoding length it needs."""
    return self.candidates.shape[1]

  def check_ids(self, pad_id: int, eos_id: int) -> None:
    """Refuses a trie built with other ids than the model's."""
    if (self.pad_id, self.eos_id) != (pad_id, eos_id):
      raise ValueError(f"the candidate trie uses pad {self.pad_id} / EOS {self.eos_id}; the "
                       f"model's are pad {pad_id} / EOS {eos_id}: build it with "
                       "CandidateTrie.from_token_lists(..., eos_id, pad_id=) of the model")

  def check_vocabulary(self, vocab_size: int) -> None:
    if self.max_token >= vocab_size:
      raise ValueError(f"candidate token {self.max_token} is outside the model's vocabulary "
                       f"of {vocab_size}")

  def allowed(self, nodes: jax.Array, vocab_size: int) -> jax.Array:
    """nodes int32 [n] -> bool [n, vocab_size]: the tokens that stay in the trie."""
    self.check_vocabulary(vocab_size)
    return self.edges.allowed(jnp.asarray(nodes), vocab_size)

  def advance(self, nodes: jax.Array, tokens: jax.Array) -> jax.Array:
    """The node after `tokens` [n] from `nodes` [n]; -1 where the token leaves the trie."""
    return self.edges.advance(jnp.asarray(nodes), jnp.asarray(tokens))

  def index_of(self, tokens: np.ndarray) -> np.ndarray:
    """Decoded tokens [b, length] (EOS then padding) -> candidate index [b], -1 if none."""
    tokens = np.asarray(tokens)
    lookup = {tuple(row[:np.argmax(row == self.eos_id) + 1].tolist()): i
              for i, row in reversed(list(enumerate(np.asarray(self.candidates))))}
    out = np.full(tokens.shape[0], -1, np.int64)
    for i, row in enumerate(tokens):
      ends = np.flatnonzero(row == self.eos_id)
      if ends.size:
        out[i] = lookup.get(tuple(row[:ends[0] + 1].tolist()), -1)
    return out


def constrained_log_probs(logits, nodes, edges: TrieEdges | None, vocab_size: int):
  """(logits, log-probabilities) with the tokens that leave the trie at -inf."""
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  if edges is None:
    return logits, log_probs
  allowed = edges.allowed(nodes, vocab_size)
  return jnp.where(allowed, logits, -jnp.inf), jnp.where(allowed, log_probs, -jnp.inf)


def no_repeat_ngram_mask(history: jax.Array, last: jax.Array, n: int,
                         vocab_size: int) -> jax.Array:
  """Tokens that would repeat an n-gram (fairseq's NGramRepeatBlock): bool [m, vocab_size].

  history int32 [m, length]: each sequence so far, decoder start first (prompt tokens
  included), valid up to position `last` (a traced scalar); later positions are ignored.
  When at least n - 1 tokens precede, every earlier n-gram whose first n - 1 tokens equal the
  last n - 1 tokens bans its final token.
  """
  m, length = history.shape
  if n < 1 or length < n:
    return jnp.zeros((m, vocab_size), bool)
  starts = length - n + 1
  windows = jnp.stack([history[:, k:k + starts] for k in range(n)], axis=-1)  # [m, starts, n]
  key = jax.lax.dynamic_slice_in_dim(history, jnp.maximum(last - n + 2, 0), n - 1, axis=1)
  match = jnp.all(windows[..., :n - 1] == key[:, None, :], axis=-1)
  match &= (jnp.arange(starts) + n - 1 <= last)[None, :] & (last >= n - 2)
  rows = jnp.broadcast_to(jnp.arange(m)[:, None], (m, starts))
  return jnp.zeros((m, vocab_size), bool).at[rows, windows[..., n - 1]].max(match)
