"""Score every candidate answer by teacher forcing ("allcand" closed-set evaluation).

Each example is encoded once; its encoder output is then paired with every candidate
(tokens + EOS) and the decoder computes log p(candidate | input) = sum over its tokens. The
candidates are processed in chunks (`lax.map`), so memory is
batch x chunk_size x candidate length x vocab logits whatever the size of the answer set.
"""

from collections.abc import Sequence
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from biomed_jax.decoding import cache as cache_lib
from biomed_jax.decoding.constraints import CandidateTrie
from biomed_jax.model.transformer import EncoderDecoder


class CandidateScores(NamedTuple):
  log_likelihood: jax.Array  # float32 [b, num_candidates]: sum of log p over tokens and EOS
  best: jax.Array  # int32 [b]: argmax candidate (lowest index on ties)


def score_candidates(model: EncoderDecoder, variables, encoder_tokens, images, image_mask,
                     candidate_tokens: CandidateTrie | Sequence[Sequence[int]] | np.ndarray,
                     *, chunk_size: int = 16) -> CandidateScores:
  """Log-likelihood of every candidate for every example, and the best one.

  candidate_tokens: a CandidateTrie, lists of token ids (EOS is appended), or an int array
    [num_candidates, length] already ending each row with EOS and padded with pad; the ids
    are the model config's (pad_id, eos_id; the decoder starts with bos_id).
  """
  cache_lib.check_images(variables, images)
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
                padded.reshape(-1, chunk, candidates.shape[1]), num)


@functools.partial(jax.jit, static_argnames=("model", "num"))
def _score(model, variables, encoder_tokens, images, image_mask, chunks, num):
  encoded, encoder_mask = cache_lib.encode(model, variables, encoder_tokens, images, image_mask)
  b = encoded.shape[0]
  model = model.clone(train=False, decode=False)
  pad_id, start_id = model.config.pad_id, model.config.bos_id

  def score_chunk(targets):  # [chunk, length] -> [b, chunk]
    c, length = targets.shape
    inputs = jnp.concatenate([jnp.full((c, 1), start_id, targets.dtype), targets[:, :-1]], 1)
    tile = lambda x: jnp.broadcast_to(x[:, None], (b, c) + x.shape[1:]).reshape(
        (b * c,) + x.shape[1:])
    logits = model.apply(variables, jnp.tile(inputs, (b, 1)), tile(encoded),
                         tile(encoder_mask), method=EncoderDecoder.decode_logits)
    log_probs = jnp.take_along_axis(logits, jnp.tile(targets, (b, 1))[..., None], -1)[..., 0]
    log_probs = log_probs - jax.nn.logsumexp(logits, axis=-1)
    weights = jnp.tile(targets, (b, 1)) != pad_id
    return jnp.sum(jnp.where(weights, log_probs, 0.0), axis=-1).reshape(b, c)

  scores = jax.lax.map(score_chunk, chunks)  # [chunks, b, chunk]
  scores = jnp.moveaxis(scores, 0, 1).reshape(b, -1)[:, :num]
  return CandidateScores(scores, jnp.argmax(scores, axis=-1).astype(jnp.int32))
