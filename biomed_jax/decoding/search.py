"""Autoregressive decoding in one compiled loop: greedy, beam search, sampling.

`decode` encodes the batch once, builds the decoder's KV cache and runs a `lax.while_loop`
that feeds one token per step through the cache; the whole call is one jitted program (it can
also be called inside a caller's jit, e.g. an eval step with sharded params under
`biomed_jax.sharding.mesh_context`). Token ids come from the model config: `bos_id` starts the
decoder, `eos_id` ends a sequence, `pad_id` fills after it (T5: 0 / 1 / 0; OFA: 0 / 2 / 1).
Output: the generated tokens without the start token (and without a forced decoder prompt),
EOS included, then pad.

Decoder prompts (biomed_jax.data.prompts, BiomedGPT's `src` / `prev_output`): the prompt is
read off each example's encoder tokens, forced token by token after the start token (its
tokens add nothing to the score and do not count towards max_length or the length penalty),
and stripped from the output. `no_repeat_ngram_size` = n > 0 bans, at every free step, a token
that would repeat an n-gram of the sequence so far (start token and prompt included), as
fairseq's --no-repeat-ngram-size does.

Scores are model log-likelihoods: the sum of log p(token) under the unmodified distribution
(temperature, top-p and candidate constraints choose tokens but do not renormalise the
score), so a constrained decode's score equals `score_candidates` for the same candidate.
Beam scores are then divided by the length penalty (see beam.py).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from biomed_jax.data import prompts as prompts_lib
from biomed_jax.decoding import beam as beam_lib
from biomed_jax.decoding import cache as cache_lib
from biomed_jax.decoding.constraints import (CandidateTrie, TrieEdges, constrained_log_probs,
                                             no_repeat_ngram_mask)
from biomed_jax.model.transformer import EncoderDecoder

METHODS = ("greedy", "beam", "sample")


class DecodeResult(NamedTuple):
  tokens: jax.Array  # int32 [b, max_length]: the best sequence, EOS then pad
  scores: jax.Array  # float32 [b]: its log-likelihood (beam: divided by the length penalty)
  beam_tokens: jax.Array | None = None  # beam search: all finished beams [b, beam, max_length]
  beam_scores: jax.Array | None = None  # [b, beam], best first; -inf marks an empty slot


def decode(model: EncoderDecoder, variables, encoder_tokens, images=None, image_mask=None, *,
           max_length: int, method: str = "greedy", beam_size: int = 4,
           length_penalty: float = 1.0, early_stopping: bool | str = "never",
           temperature: float = 1.0, top_p: float = 1.0, rng: jax.Array | None = None,
           constraint: CandidateTrie | None = None, no_repeat_ngram_size: int = 0,
           decoder_prompt: str = "none") -> DecodeResult:
  """Generates up to max_length tokens per example, as one jitted program.

  Args:
    model: the EncoderDecoder (any train/decode flags: evaluation mode is used).
    variables: {"params": ..., ["batch_stats": ...]}, possibly sharded.
    encoder_tokens: int [b, l] text tokens ([bos] text EOS, then pad); images [b, h, w, 3],
      image_mask [b].
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
      least constraint.max_length); built with the model's pad and EOS ids.
    no_repeat_ngram_size: > 0 bans repeated n-grams of that size (fairseq's semantics).
    decoder_prompt: "none", "src" or "prev_output" (see the module docstring).
  Changing max_length, method, beam_size, early_stopping, no_repeat_ngram_size,
  decoder_prompt, the shapes or the trie's edge count compiles a new program; the other
  arguments are traced.
  """
  if method not in METHODS:
    raise ValueError(f"method={method!r} is not one of {METHODS}")
  cache_lib.check_images(variables, images)
  if constraint is not None and max_length < constraint.max_length:
    raise ValueError(f"max_length={max_length} is shorter than the longest candidate "
                     f"({constraint.max_length} tokens with EOS): its answers could not finish")
  if constraint is not None:
    constraint.check_vocabulary(model.config.vocab_size)
    constraint.check_ids(model.config.pad_id, model.config.eos_id)
  prompts_lib.check_mode(decoder_prompt)
  if no_repeat_ngram_size < 0:
    raise ValueError(f"no_repeat_ngram_size={no_repeat_ngram_size} must be >= 0 (0 = off)")
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
                 edges=None if constraint is None else constraint.edges,
                 no_repeat_ngram_size=no_repeat_ngram_size, decoder_prompt=decoder_prompt)


class Ids(NamedTuple):
  """The special ids a decoding loop uses (from the model config)."""
  pad: int
  eos: int
  start: int


class Prompt(NamedTuple):
  """Forced decoder prompts: prompt i is tokens[i, start:start + lengths[i]]; width is the
  longest possible (static), 0 when there is none."""
  tokens: jax.Array
  start: int
  lengths: jax.Array
  width: int

  @classmethod
  def make(cls, encoder_tokens, mode: str, ids: Ids, has_bos: bool) -> "Prompt":
    start, lengths = prompts_lib.prompt_span(encoder_tokens, mode, ids.eos, has_bos, xp=jnp)
    width = 0 if mode == "none" else encoder_tokens.shape[1] - start
    # max(0): a padding row of a batch may hold no EOS.
    return cls(encoder_tokens, start, jnp.maximum(lengths, 0).astype(jnp.int32), width)

  def forced(self, t) -> tuple[jax.Array, jax.Array]:
    """(whether step t is forced [b], the forced token [b])."""
    position = jnp.minimum(self.start + t, self.tokens.shape[1] - 1)
    token = jax.lax.dynamic_index_in_dim(self.tokens, position, axis=1, keepdims=False)
    return t < self.lengths, token.astype(jnp.int32)

  def strip(self, tokens: jax.Array, max_length: int, pad_id: int) -> jax.Array:
    """tokens [b, ..., width + max_length] -> [b, ..., max_length] without each prompt."""
    if not self.width:
      return tokens
    shift = self.lengths.reshape((-1,) + (1,) * (tokens.ndim - 1))
    index = jnp.arange(max_length) + shift
    gathered = jnp.take_along_axis(tokens, jnp.minimum(index, tokens.shape[-1] - 1), axis=-1)
    return jnp.where(index < tokens.shape[-1], gathered, pad_id)


@functools.partial(jax.jit, static_argnames=("model", "max_length", "method", "beam_size",
                                             "early_stopping", "no_repeat_ngram_size",
                                             "decoder_prompt"))
def _decode(model, variables, encoder_tokens, images, image_mask, *, max_length, method,
            beam_size, length_penalty, early_stopping, temperature, top_p, rng, edges,
            no_repeat_ngram_size, decoder_prompt):
  batch = encoder_tokens.shape[0]
  cfg = model.config
  ids = Ids(cfg.pad_id, cfg.eos_id, cfg.bos_id)
  # The encoder starts with bos exactly when the vocabulary has one distinct from pad.
  prompt = Prompt.make(encoder_tokens, decoder_prompt, ids, has_bos=cfg.bos_id != cfg.pad_id)
  steps = prompt.width + max_length
  if method == "beam":
    decoder = cache_lib.prepare(model, variables, encoder_tokens, images, image_mask,
                                steps, copies=beam_size)
    best, best_scores, kept, kept_scores = beam_lib.beam_search(
        decoder, batch=batch, beam_size=beam_size, max_length=max_length,
        length_penalty=length_penalty, early_stopping=early_stopping, edges=edges, ids=ids,
        prompt=prompt, no_repeat_ngram_size=no_repeat_ngram_size)
    return DecodeResult(prompt.strip(best, max_length, ids.pad), best_scores,
                        prompt.strip(kept, max_length, ids.pad), kept_scores)
  decoder = cache_lib.prepare(model, variables, encoder_tokens, images, image_mask, steps)
  tokens, scores = _token_by_token(decoder, batch, max_length, method == "sample",
                                   temperature, top_p, rng, edges, ids, prompt,
                                   no_repeat_ngram_size)
  return DecodeResult(prompt.strip(tokens, max_length, ids.pad), scores)


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
                    temperature, top_p, rng, edges: TrieEdges | None, ids: Ids,
                    prompt: Prompt, no_repeat_ngram_size: int):
  """Greedy or sampled decoding: one token per example per step; finished rows emit pad.
  -> (tokens [b, prompt width + max_length] with the prompts, scores [b])."""
  steps = prompt.width + max_length
  state = dict(
      t=jnp.array(0, jnp.int32),
      tokens=jnp.full((batch, steps), ids.pad, jnp.int32),
      last=jnp.full((batch,), ids.start, jnp.int32),
      done=jnp.zeros((batch,), bool),
      scores=jnp.zeros((batch,), jnp.float32),
      nodes=jnp.zeros((batch,), jnp.int32),
      cache=decoder.cache)

  def cond(s):
    return (s["t"] < steps) & ~jnp.all(s["done"])

  def body(s):
    logits, cache = decoder.step(s["cache"], s["last"])
    logits, log_probs = constrained_log_probs(logits, s["nodes"], edges,
                                              decoder.vocab_size)
    if no_repeat_ngram_size:
      history = jnp.concatenate([jnp.full((batch, 1), ids.start, jnp.int32), s["tokens"]], 1)
      banned = no_repeat_ngram_mask(history, s["t"], no_repeat_ngram_size, decoder.vocab_size)
      logits = jnp.where(banned, -jnp.inf, logits)
    if sample:
      key = jax.random.fold_in(rng, s["t"])
      filtered = top_p_filter(logits / temperature, top_p)
      token = jax.random.categorical(key, filtered, axis=-1).astype(jnp.int32)
    else:
      token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    forced, forced_token = prompt.forced(s["t"])
    token = jnp.where(forced, forced_token, token)
    token = jnp.where(s["done"], ids.pad, token)
    free = ~s["done"] & ~forced
    token_log_prob = jnp.take_along_axis(log_probs, token[:, None], axis=-1)[:, 0]
    nodes = s["nodes"]
    if edges is not None:
      nodes = jnp.where(free, edges.advance(nodes, token), nodes)
    generated = s["t"] + 1 - prompt.lengths
    return dict(
        t=s["t"] + 1,
        tokens=jax.lax.dynamic_update_slice(s["tokens"], token[:, None], (0, s["t"])),
        last=token,
        done=s["done"] | (free & ((token == ids.eos) | (generated >= max_length))),
        scores=s["scores"] + jnp.where(free, token_log_prob, 0.0),
        nodes=nodes,
        cache=cache)

  final = jax.lax.while_loop(cond, body, state)
  return final["tokens"], final["scores"]
