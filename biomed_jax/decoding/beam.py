"""Beam search in one `lax.while_loop`, with Hugging Face transformers' (4.57) semantics.

Per example, k running beams and k kept finished hypotheses. Each step:
  1. every running beam is extended by every token: total = beam log-prob + log p(token);
  2. the best 2k (beam, token) candidates are taken (2k so that k of them are still running
     even if k of them end here);
  3. a candidate ends when its token is EOS or it reaches max_length tokens. Only the best k
     of the 2k may be kept as finished; its score is
         total / generated_length ** length_penalty
     (generated_length counts EOS, not the start token; T5X's ((5 + n) / 6) ** alpha is not
     used). The k best of (kept + newly finished) stay kept;
  4. the best k candidates that did not end become the running beams; their KV cache rows are
     gathered from the beams they extend.
An example stops growing its kept set once no running beam can still beat its worst kept
hypothesis (checked only once all k slots are filled), estimated per `early_stopping`:
  "never" (default): the bound is exact: best running log-prob divided by
      max_length ** length_penalty when length_penalty > 0 (longer may only help), else by
      its current length. The result is what running to max_length would give.
  False: Hugging Face's default heuristic, the current length (not exact when
      length_penalty > 0).
  True:  stop as soon as k hypotheses have finished.
The loop ends when no example can improve (or all are full, for True), or at max_length.
The answer is the best kept hypothesis. With a candidate trie, candidates at -inf (fewer
valid continuations than beams) never become hypotheses, and an example whose running beams
are all at -inf stops.
A forced decoder prompt (search.Prompt) takes the first steps of each example: its tokens
extend the live beam with log-probability 0 and never end it; max_length, generated_length
and the bounds above count the tokens after it. No-repeat-n-gram blocking sets the banned
tokens' log-probabilities to -inf before step 1, as fairseq does.
"""

import jax
import jax.numpy as jnp

from biomed_jax.decoding import cache as cache_lib
from biomed_jax.decoding.constraints import (TrieEdges, constrained_log_probs,
                                             no_repeat_ngram_mask)

EARLY_STOPPING = ("never", False, True)


def beam_search(decoder: cache_lib.Decoder, *, batch: int, beam_size: int, max_length: int,
                length_penalty, early_stopping, edges: TrieEdges | None, ids, prompt,
                no_repeat_ngram_size: int = 0):
  """ids: search.Ids; prompt: search.Prompt. -> (best tokens [b, L], best scores [b], kept
  tokens [b, beam, L], kept scores [b, beam] best first, -inf for an empty slot), with
  L = prompt.width + max_length and the prompts still in the tokens."""
  if not (early_stopping == "never" or isinstance(early_stopping, bool)):
    raise ValueError(f"early_stopping={early_stopping!r} is not one of {EARLY_STOPPING}")
  b, k, vocab = batch, beam_size, decoder.vocab_size
  length = prompt.width + max_length
  if 2 * k > k * vocab:
    raise ValueError(f"beam_size={k} needs a vocabulary of at least 2 tokens")
  length_penalty = jnp.asarray(length_penalty, jnp.float32)
  first_of_2k = jnp.arange(2 * k) < k
  gather = lambda x, index: jnp.take_along_axis(
      x, index.reshape(index.shape + (1,) * (x.ndim - index.ndim)), axis=1)

  state = dict(
      t=jnp.array(0, jnp.int32),
      running_tokens=jnp.full((b, k, length), ids.pad, jnp.int32),
      # Only beam 0 is live at the start, so the first step's candidates are distinct.
      running_scores=jnp.where(jnp.arange(k) == 0, 0.0, -jnp.inf) * jnp.ones((b, 1)),
      nodes=jnp.zeros((b, k), jnp.int32),
      kept_tokens=jnp.full((b, k, length), ids.pad, jnp.int32),
      kept_scores=jnp.full((b, k), -jnp.inf, jnp.float32),
      kept=jnp.zeros((b, k), bool),
      improvable=jnp.ones((b,), bool),
      cache=decoder.cache)

  def cond(s):
    going = (s["t"] < length) & jnp.any(s["improvable"])
    if early_stopping is True:
      going &= ~jnp.all(s["kept"])
    return going

  def body(s):
    t = s["t"]
    last = jnp.where(t == 0, ids.start, jax.lax.dynamic_index_in_dim(
        s["running_tokens"], jnp.maximum(t - 1, 0), axis=2, keepdims=False))
    logits, cache = decoder.step(s["cache"], last.reshape(b * k))
    _, log_probs = constrained_log_probs(logits, s["nodes"].reshape(b * k), edges, vocab)
    if no_repeat_ngram_size:
      history = jnp.concatenate([jnp.full((b * k, 1), ids.start, jnp.int32),
                                 s["running_tokens"].reshape(b * k, length)], axis=1)
      banned = no_repeat_ngram_mask(history, t, no_repeat_ngram_size, vocab)
      log_probs = jnp.where(banned, -jnp.inf, log_probs)
    log_probs = log_probs.reshape(b, k, vocab)
    forced, forced_token = prompt.forced(t)  # [b]
    forced_log_probs = jnp.where(jnp.arange(vocab) == forced_token[:, None], 0.0, -jnp.inf)
    log_probs = jnp.where(forced[:, None, None], forced_log_probs[:, None, :], log_probs)
    totals = s["running_scores"][:, :, None] + log_probs
    top_scores, top_index = jax.lax.top_k(totals.reshape(b, k * vocab), 2 * k)
    origin, token = top_index // vocab, (top_index % vocab).astype(jnp.int32)
    tokens = jax.lax.dynamic_update_slice(
        gather(s["running_tokens"], origin), token[:, :, None], (0, 0, t))
    nodes = gather(s["nodes"], origin)
    if edges is not None:
      advanced = edges.advance(nodes.reshape(-1), token.reshape(-1)).reshape(b, 2 * k)
      nodes = jnp.where(forced[:, None], nodes, advanced)
    generated = (t + 1 - prompt.lengths).astype(jnp.float32)[:, None]  # [b, 1]
    ends = ~forced[:, None] & ((token == ids.eos) | (generated >= max_length))

    # Running beams: the best k candidates that did not end.
    running_scores, pick = jax.lax.top_k(jnp.where(ends, -jnp.inf, top_scores), k)
    cache = cache_lib.reorder_beams(cache, decoder.batch_axes, gather(origin, pick))

    # Kept hypotheses: merge the newly finished ones among the best k candidates.
    new = ends & first_of_2k & (top_scores > -jnp.inf) & s["improvable"][:, None]
    if early_stopping is True:
      new &= ~jnp.all(s["kept"], axis=1, keepdims=True)
    new_scores = jnp.where(new, top_scores / generated ** length_penalty, -jnp.inf)
    kept_scores, merged = jax.lax.top_k(
        jnp.concatenate([s["kept_scores"], new_scores], axis=1), k)
    kept_tokens = gather(jnp.concatenate([s["kept_tokens"], tokens], axis=1), merged)
    kept = gather(jnp.concatenate([s["kept"], new], axis=1), merged)

    # Can a running beam still beat the worst kept hypothesis?
    if early_stopping == "never":
      best_length = jnp.where(length_penalty > 0, float(max_length), generated[:, 0])
    else:
      best_length = generated[:, 0]
    best_running = running_scores[:, 0] / jnp.maximum(best_length, 1.0) ** length_penalty
    improvable = s["improvable"] & (running_scores[:, 0] > -jnp.inf) & (
        ~jnp.all(kept, axis=1) | (best_running > jnp.min(kept_scores, axis=1)))

    return dict(t=t + 1, running_tokens=gather(tokens, pick), running_scores=running_scores,
                nodes=gather(nodes, pick), kept_tokens=kept_tokens, kept_scores=kept_scores,
                kept=kept, improvable=improvable, cache=cache)

  final = jax.lax.while_loop(cond, body, state)
  return (final["kept_tokens"][:, 0], final["kept_scores"][:, 0], final["kept_tokens"],
          final["kept_scores"])
