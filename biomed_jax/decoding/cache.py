"""Encode once, build the decoder's KV cache, and step it one token at a time.

The cache is whatever pytree `init_cache` returns. Its layout depends on the model: with
scanned layers the leaves carry a leading "layers" axis ([layers, batch, length, heads, kv]),
without they are [batch, ...], and the step counters are batch-free ([layers] or scalars). So
the batch axis of each leaf is not guessed from its rank or sizes (a layer count may equal the
batch size): it is found by evaluating the cache's shapes abstractly at twice the batch size
and seeing which dimension doubles. Leaves with no such dimension are left alone when beams
are reordered.
"""

from collections.abc import Callable
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from biomed_jax.model.transformer import EncoderDecoder, init_cache

NO_BATCH_AXIS = -1
# Cache leaves that hold the encoder keys/values: equal across the beams of one example and
# never written while decoding, so reordering beams may skip them (a pure saving).
ENCODER_CACHE_NAMES = ("cross_key", "cross_value")  # (position biases are batch-free)


@dataclasses.dataclass(frozen=True)
class Decoder:
  """step(cache, tokens [n]) -> (float32 logits [n, vocab], cache); built inside a trace."""
  step: Callable[[Any, jax.Array], tuple[jax.Array, Any]]
  cache: Any
  batch_axes: Any  # same tree as cache: the batch axis of each leaf, or NO_BATCH_AXIS
  vocab_size: int


def check_images(variables, images) -> None:
  if images is not None and "vision" not in variables["params"]:
    raise ValueError("these weights have no vision encoder (a text-only import): decode "
                     "without images, or fine-tune with images first")


def encode(model: EncoderDecoder, variables, encoder_tokens, images=None, image_mask=None):
  """(Encoded (hidden [b, l, d], ...), encoder_mask [b, l]) in evaluation mode (BatchNorm
  running statistics)."""
  return model.clone(train=False, decode=False).apply(
      variables, encoder_tokens, images, image_mask, method=EncoderDecoder.encode)


def _batch_axes(make_cache: Callable, encoded, encoder_mask, cache) -> Any:
  """Per leaf of `cache` (made at batch n): the axis that becomes 2n at batch 2n."""
  n = encoded.hidden.shape[0]
  double = lambda x: jax.ShapeDtypeStruct((2 * n,) + x.shape[1:], x.dtype)
  doubled = jax.eval_shape(make_cache, jax.tree.map(double, encoded), double(encoder_mask))

  def axis(path, leaf, bigger):
    changed = [i for i, (a, c) in enumerate(zip(leaf.shape, bigger.shape)) if a != c]
    if not changed:
      return NO_BATCH_AXIS
    if len(changed) > 1 or bigger.shape[changed[0]] != 2 * leaf.shape[changed[0]]:
      raise ValueError(f"cache leaf {jax.tree_util.keystr(path)} has shape {leaf.shape} at "
                       f"batch {n} and {bigger.shape} at batch {2 * n}: cannot tell its "
                       "batch axis")
    return changed[0]

  return jax.tree_util.tree_map_with_path(axis, cache, doubled)


def _layers_unstacked(model: EncoderDecoder, params):
  """The model and its weights with every layer a module of its own (layers_0, layers_1, ...):
  a decoding step, run inside the decoding loop, then reads each layer's weights in place,
  where a scanned stack copies every layer's slice of them at every step
  (benchmarks/results/t5_vs_hf.md). The slices are taken once per decoding call: at most one
  more copy of the weights (of their shards, on a mesh) while it runs."""
  cfg = model.config
  if not cfg.scan_layers:
    return model, params
  counts = {"encoder": cfg.num_encoder_layers, "decoder": cfg.num_decoder_layers}
  params = dict(params)
  for stack, count in counts.items():
    if stack in params and "layers" in params[stack]:
      part = dict(params[stack])
      layers = part.pop("layers")
      part.update({f"layers_{i}": jax.tree.map(lambda x, i=i: x[i], layers)
                   for i in range(count)})
      params[stack] = part
  return model.clone(config=dataclasses.replace(cfg, scan_layers=False)), params


def prepare(model: EncoderDecoder, variables, encoder_tokens, images, image_mask,
            max_length: int, copies: int = 1) -> Decoder:
  """Encodes the batch once; with copies > 1 each example's encoder output is repeated
  (example i occupies rows i * copies ... i * copies + copies - 1), so the cache, made from
  the repeated outputs, is the batch cache tiled `copies` times (beam search)."""
  params = variables["params"]
  encoded, encoder_mask = encode(model, variables, encoder_tokens, images, image_mask)
  if copies > 1:
    encoded = jax.tree.map(lambda x: jnp.repeat(x, copies, axis=0), encoded)
    encoder_mask = jnp.repeat(encoder_mask, copies, axis=0)

  model, params = _layers_unstacked(model, params)

  def make_cache(enc, mask):
    return init_cache(model, params, enc, mask, max_length)[1]

  decoding_model, cache = init_cache(model, params, encoded, encoder_mask, max_length)
  batch_axes = _batch_axes(make_cache, encoded, encoder_mask, cache)

  def step(cache, tokens):
    logits, updated = decoding_model.apply(
        {"params": params, "cache": cache}, tokens[:, None], None, encoder_mask,
        method=EncoderDecoder.decode_logits, mutable=["cache"])
    return logits[:, 0], updated["cache"]

  return Decoder(step, cache, batch_axes, model.config.vocab_size)


def reorder_beams(cache, batch_axes, origin: jax.Array):
  """Row (i, j) of every batch-dependent leaf <- row (i, origin[i, j]); origin [b, beams].

  Gathers within each example (batch axis split into [b, beams]), so an example-sharded
  batch stays sharded."""
  b, beams = origin.shape

  def gather(path, leaf, axis):
    names = {getattr(key, "key", None) for key in path}
    if axis == NO_BATCH_AXIS or names & set(ENCODER_CACHE_NAMES):
      return leaf
    shape = leaf.shape
    split = leaf.reshape(shape[:axis] + (b, beams) + shape[axis + 1:])
    index = origin.reshape((1,) * axis + (b, beams) + (1,) * (leaf.ndim - axis - 1))
    return jnp.take_along_axis(split, index, axis=axis + 1).reshape(shape)

  return jax.tree_util.tree_map_with_path(gather, cache, batch_axes)
