"""Score every candidate answer by teacher forcing ("allcand" closed-set evaluation).

Each example is encoded once; its encoder output is then paired with every candidate
(tokens + EOS) and the decoder computes log p(candidate | input) = sum over its tokens. The
candidates are processed in chunks (`lax.map`), so memory is
batch x chunk_size x candidate length x vocab logits whatever the size of the answer set.
With a decoder prompt (biomed_jax.data.prompts) the decoder reads start + prompt + candidate
and only the candidate's tokens are scored, as decode(..., decoder_prompt=) forces them.
"""

from collections.abc import Sequence
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from biomed_jax.decoding import cache as cache_lib
from biomed_jax.data import prompts as prompts_lib
from biomed_jax.decoding.constraints import CandidateTrie
from biomed_jax.decoding.search import Ids, Prompt
from biomed_jax.model.transformer import EncoderDecoder


class CandidateScores(NamedTuple):
  log_likelihood: jax.Array  # float32 [b, num_candidates]: sum of log p over tokens and EOS
  best: jax.Array  # int32 [b]: argmax candidate (lowest index on ties)


def score_candidates(model: EncoderDecoder, variables, encoder_tokens, images, image_mask,
                     candidate_tokens: CandidateTrie | Sequence[Sequence[int]] | np.ndarray,
                     *, chunk_size: int = 16, decoder_prompt: str = "none"
                     ) -> CandidateScores:
  """Log-likelihood of every candidate for every example, and the best one.

  candidate_tokens: a CandidateTrie, lists of token ids (EOS is appended), or an int array
    [num_candidates, length] already ending each row with EOS and padded with pad; the ids
    are the model config's (pad_id, eos_id; the decoder starts with bos_id).
  """
  cache_lib.check_images(variables, images)
  prompts_lib.check_mode(decoder_prompt)
  pad_id, eos_id = model.config.pad_id, model.config.eos_id
  if isinstance(candidate_tokens, CandidateTrie):
    candidate_tokens.check_ids(pad_id, eos_id)
    candidates = np.asarray(candidate_tokens.candidates)
  elif isinstance(candidate_tokens, np.ndarray | jax.Array):
    candidates = np.asarray(candidate_tokens, np.int32)
  else:
    candidates = np.asarray(CandidateTrie.from_token_lists(
        candidate_tokens, eos_id, pad_id=pad_id).candidates)
  if candidates.ndim != 2 or not np.all((candidates == eos_id).any(axis=1)):
    raise ValueError("candidate arrays must be [num_candidates, length] with every row "
                     f"ending in EOS ({eos_id}) then pad ({pad_id})")
  num = candidates.shape[0]
  chunk = max(1, min(chunk_size, num))
  padded = np.full((-(-num // chunk) * chunk, candidates.shape[1]), pad_id, np.int32)
  padded[:num] = candidates
  return _score(model, variables, encoder_tokens, images, image_mask,
                padded.reshape(-1, chunk, candidates.shape[1]), num, decoder_prompt)


def _with_prompt(prompt: Prompt, targets, pad_id: int):
  """targets [c, length] -> (prompt + candidate [b, c, width + length], candidate mask)."""
  b, (c, length) = prompt.lengths.shape[0], targets.shape
  j = jnp.arange(prompt.width + length)
  p = prompt.lengths[:, None]  # [b, 1]
  position = jnp.minimum(prompt.start + j, prompt.tokens.shape[1] - 1)
  prompt_tokens = jnp.broadcast_to(prompt.tokens[:, position][:, None], (b, c, j.size))
  index = jnp.broadcast_to(jnp.clip(j[None] - p, 0, length - 1)[:, None], (b, c, j.size))
  candidate = jnp.take_along_axis(jnp.broadcast_to(targets[None], (b, c, length)), index, 2)
  in_prompt = (j[None] < p)[:, None]
  in_candidate = ((j[None] >= p) & (j[None] - p < length))[:, None]
  full = jnp.where(in_prompt, prompt_tokens,
                   jnp.where(in_candidate, candidate, pad_id)).astype(targets.dtype)
  return full, in_candidate & (full != pad_id)


@functools.partial(jax.jit, static_argnames=("model", "num", "decoder_prompt"))
def _score(model, variables, encoder_tokens, images, image_mask, chunks, num, decoder_prompt):
  encoded, encoder_mask = cache_lib.encode(model, variables, encoder_tokens, images, image_mask)
  b = encoded.hidden.shape[0]
  model = model.clone(train=False, decode=False)
  cfg = model.config
  pad_id, start_id = cfg.pad_id, cfg.bos_id
  prompt = Prompt.make(encoder_tokens, decoder_prompt, Ids(pad_id, cfg.eos_id, start_id),
                       has_bos=start_id != pad_id)

  def score_chunk(targets):  # [chunk, length] -> [b, chunk]
    c = targets.shape[0]
    if prompt.width:
      full, weights = _with_prompt(prompt, targets, pad_id)
      full, weights = full.reshape(b * c, -1), weights.reshape(b * c, -1)
    else:
      full = jnp.tile(targets, (b, 1))
      weights = full != pad_id
    inputs = jnp.concatenate([jnp.full((b * c, 1), start_id, full.dtype), full[:, :-1]], 1)
    tile = lambda x: jnp.broadcast_to(x[:, None], (b, c) + x.shape[1:]).reshape(
        (b * c,) + x.shape[1:])
    logits = model.apply(variables, inputs, jax.tree.map(tile, encoded), tile(encoder_mask),
                         method=EncoderDecoder.decode_logits)
    log_probs = jnp.take_along_axis(logits, full[..., None], -1)[..., 0]
    log_probs = log_probs - jax.nn.logsumexp(logits, axis=-1)
    return jnp.sum(jnp.where(weights, log_probs, 0.0), axis=-1).reshape(b, c)

  scores = jax.lax.map(score_chunk, chunks)  # [chunks, b, chunk]
  scores = jnp.moveaxis(scores, 0, 1).reshape(b, -1)[:, :num]
  return CandidateScores(scores, jnp.argmax(scores, axis=-1).astype(jnp.int32))
