"""Autoregressive decoding in one compiled loop: greedy, beam search, sampling.

`decode` encodes the batch once, builds the decoder's KV cache and runs a `lax.while_loop`
that feeds one token per step through the cache; the whole call is one jitted program (it can
also be called inside a caller's jit, e.g. an eval step with sharded params under
`biomed_jax.sharding.mesh_context`). Token conventions: pad 0 (also the decoder start token),
EOS 1. Output: the generated tokens without the start token, EOS included, then pad.

Scores are model log-likelihoods: the sum of log p(token) under the unmodified distribution
(temperature, top-p and candidate constraints choose tokens but do not renormalise the
score), so a constrained decode's score equals `score_candidates` for the same candidate.
Beam scores are then divided by the length penalty (see beam.py).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from biomed_jax.decoding import beam as beam_lib
from biomed_jax.decoding import cache as cache_lib
from biomed_jax.decoding.constraints import (EOS_ID, PAD_ID, CandidateTrie, TrieEdges,
                                             constrained_log_probs)
from biomed_jax.model.transformer import EncoderDecoder

METHODS = ("greedy", "beam", "sample")


class DecodeResult(NamedTuple):
  tokens: jax.Array  # int32 [b, max_length]: the best sequence, EOS then pad (0)
  scores: jax.Array  # float32 [b]: its log-likelihood (beam: divided by the length penalty)
  beam_tokens: jax.Array | None = None  # beam search: all finished beams [b, beam, max_length]
  beam_scores: jax.Array | None = None  # [b, beam], best first; -inf marks an empty slot


def decode(model: EncoderDecoder, variables, encoder_tokens, images=None, image_mask=None, *,
           max_length: int, method: str = "greedy", beam_size: int = 4,
           length_penalty: float = 1.0, early_stopping: bool | str = "never",
           temperature: float = 1.0, top_p: float = 1.0, rng: jax.Array | None = None,
           constraint: CandidateTrie | None = None) -> DecodeResult:
  """Generates up to max_length tokens per example, as one jitted program.

  Args:
    model: the EncoderDecoder (any train/decode flags: evaluation mode is used).
    variables: {"params": ..., ["batch_stats": ...]}, possibly sharded.
    encoder_tokens: int [b, l] text tokens, 0-padded; images [b, h, w, 3], image_mask [b].
    max_length: generated tokens at most, EOS included (Hugging Face's max_new_tokens).
    method: "greedy", "beam" or "sample".
    beam_size, length_penalty, early_stopping: beam search, as Hugging Face's generate
      (see biomed_jax.decoding.beam): a finished hypothesis scores
      sum(log p) / generated_length ** length_penalty; early_stopping "never" (default) is
      exact: stop an example once no running beam can still beat its worst kept one.
    temperature, top_p: sampling; logits / temperature (> 0), then the smallest set of
      tokens whose probability reaches top_p (at least the most likely one).
    rng: a PRNG key, required for sampling; a fixed key gives a fixed output.
    constraint: a CandidateTrie: every output is one of its candidates (max_length must be at
      least constraint.max_length).
  Changing max_length, method, beam_size, early_stopping, the shapes or the trie's edge
  count compiles a new program; the other arguments are traced.
  """
  if method not in METHODS:
    raise ValueError(f"method={method!r} is not one of {METHODS}")
  cache_lib.check_images(variables, images)
  if constraint is not None and max_length < constraint.max_length:
    raise ValueError(f"max_length={max_length} is shorter than the longest candidate "
                     f"({constraint.max_length} tokens with EOS): its answers could not finish")
  if constraint is not None:
    constraint.check_vocabulary(model.config.vocab_size)
    if constraint.eos_id != EOS_ID:
      raise ValueError(f"the candidate trie ends candidates with {constraint.eos_id}; the "
                       f"model's EOS is {EOS_ID}")
  if method == "sample" and rng is None:
    raise ValueError("method='sample' needs rng (a jax.random key)")
  if isinstance(temperature, int | float) and temperature <= 0:
    raise ValueError(f"temperature={temperature} must be > 0 (use method='greedy')")
  if method == "beam" and beam_size < 1:
    raise ValueError(f"beam_size={beam_size} must be >= 1")
  if not (early_stopping == "never" or isinstance(early_stopping, bool)):
    raise ValueError(f"early_stopping={early_stopping!r} is not one of "
                     f"{beam_lib.EARLY_STOPPING}")
  return _decode(model, variables, encoder_tokens, images, image_mask,
                 max_length=max_length, method=method, beam_size=beam_size,
                 length_penalty=length_penalty, early_stopping=early_stopping,
                 temperature=temperature, top_p=top_p, rng=rng,
                 edges=None if constraint is None else constraint.edges)


@functools.partial(jax.jit, static_argnames=("model", "max_length", "method", "beam_size",
                                             "early_stopping"))
def _decode(model, variables, encoder_tokens, images, image_mask, *, max_length, method,
            beam_size, length_penalty, early_stopping, temperature, top_p, rng, edges):
  batch = encoder_tokens.shape[0]
  if method == "beam":
    decoder = cache_lib.prepare(model, variables, encoder_tokens, images, image_mask,
                                max_length, copies=beam_size)
    return DecodeResult(*beam_lib.beam_search(
        decoder, batch=batch, beam_size=beam_size, max_length=max_length,
        length_penalty=length_penalty, early_stopping=early_stopping, edges=edges))
  decoder = cache_lib.prepare(model, variables, encoder_tokens, images, image_mask, max_length)
  return _token_by_token(decoder, batch, max_length, method == "sample", temperature, top_p,
                         rng, edges)


def top_p_filter(logits: jax.Array, top_p) -> jax.Array:
  """Keeps the most likely tokens whose probability mass before them is < top_p (always at
  least the most likely one); the others get -inf. Ties at the cut-off are all kept."""
  sorted_logits = jnp.flip(jnp.sort(logits, axis=-1), axis=-1)
  probs = jax.nn.softmax(sorted_logits, axis=-1)
  mass_before = jnp.cumsum(probs, axis=-1) - probs
  keep = (mass_before < top_p).at[..., 0].set(True)
  cutoff = jnp.min(jnp.where(keep, sorted_logits, jnp.inf), axis=-1, keepdims=True)
  return jnp.where(logits >= cutoff, logits, -jnp.inf)


def _token_by_token(decoder: cache_lib.Decoder, batch: int, max_length: int, sample: bool,
                    temperature, top_p, rng, edges: TrieEdges | None) -> DecodeResult:
  """Greedy or sampled decoding: one token per example per step; finished rows emit pad."""
  state = dict(
      t=jnp.array(0, jnp.int32),
      tokens=jnp.full((batch, max_length), PAD_ID, jnp.int32),
      last=jnp.full((batch,), PAD_ID, jnp.int32),
      done=jnp.zeros((batch,), bool),
      scores=jnp.zeros((batch,), jnp.float32),
      nodes=jnp.zeros((batch,), jnp.int32),
      cache=decoder.cache)

  def cond(s):
    return (s["t"] < max_length) & ~jnp.all(s["done"])

  def body(s):
    logits, cache = decoder.step(s["cache"], s["last"])
    logits, log_probs = constrained_log_probs(logits, s["nodes"], edges,
                                              decoder.vocab_size)
    if sample:
      key = jax.random.fold_in(rng, s["t"])
      filtered = top_p_filter(logits / temperature, top_p)
      token = jax.random.categorical(key, filtered, axis=-1).astype(jnp.int32)
    else:
      token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    token = jnp.where(s["done"], PAD_ID, token)
    token_log_prob = jnp.take_along_axis(log_probs, token[:, None], axis=-1)[:, 0]
    nodes = s["nodes"]
    if edges is not None:
      nodes = jnp.where(s["done"], nodes, edges.advance(nodes, token))
    return dict(
        t=s["t"] + 1,
        tokens=jax.lax.dynamic_update_slice(s["tokens"], token[:, None], (0, s["t"])),
        last=token,
        done=s["done"] | (token == EOS_ID),
        scores=s["scores"] + jnp.where(s["done"], 0.0, token_log_prob),
        nodes=nodes,
        cache=cache)

  final = jax.lax.while_loop(cond, body, state)
  return DecodeResult(final["tokens"], final["scores"])
