"""BiomedGPT/OFA's attention bias (config.position_bias = "ofa").

Positions never enter the token stream; they only shape the attention scores:
  bias = absolute term + relative term
  absolute: (W_q P + b)(W_k P + b)^T * attention_scale per head, P the LayerNormed position
            embeddings (text: 0 .. L-1 from <s>, pads included; image: 1 + row * 42 + col on
            the ResNet feature grid). Computed once per forward, shared by all layers.
  relative: per layer, a learned table indexed by a bucketed text distance (1-D, text x text
            block) or by a 2-D grid offset (image x image block); image x text blocks get
            the absolute term only.
The decoder's self-attention has its own tables and the same formulas (causality comes from
the mask); its cross-attention bias pairs decoder positions with the encoder's P.
"""

import dataclasses
import functools
import math

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from biomed_jax.model.config import ModelConfig
from biomed_jax.model.layers import Dense, Norm, normal_init, partitioned


# The reference's text bucket function spans 1,024 positions whatever the position tables'
# size (fairseq and the HF port both call it with the default).
BUCKET_RANGE = 1024


@functools.lru_cache(maxsize=8)
def token_bucket_table(bucket_size: int, max_positions: int = BUCKET_RANGE) -> np.ndarray:
  """Relative-table row of every text distance r = query - key in [-(M-1), M-1], stored at
  index r + M - 1: |r| <= m = bucket/2 keeps r, farther is logarithmic,
  sign(r) * (m + ceil(ln(|r|/m) / ln((M-1)/m) * (m-1))); then + bucket - 1. Computed in
  float32 as the reference does, so every boundary rounds the same way."""
  r = np.arange(-(max_positions - 1), max_positions, dtype=np.int64)
  mid = bucket_size // 2
  distance = np.where(np.abs(r) < mid, mid - 1, np.abs(r))
  ratio = distance.astype(np.float32) / np.float32(mid)
  log_bucket = np.ceil(np.log(ratio) / np.float32(math.log((max_positions - 1) / mid))
                       * np.float32(mid - 1)).astype(np.int64) + mid
  bucket = np.where(distance <= mid, r, log_bucket * np.sign(r))
  return (bucket + bucket_size - 1).astype(np.int32)


def token_buckets(query_positions, key_positions, cfg: ModelConfig):
  """int32 [lq, lk] rows of the text relative table (or [b, lq, lk] from per-row positions
  [b, lq], [b, lk] of packed batches); positions may be traced."""
  table = jnp.asarray(token_bucket_table(cfg.token_bucket_size))
  offset = query_positions[..., :, None] - key_positions[..., None, :] + BUCKET_RANGE - 1
  return table[offset]


def image_bucket_rows(grid_h: int, grid_w: int, buckets: int) -> np.ndarray:
  """int32 [h*w, h*w] rows of the image relative table ((2B-1)^2 + 3 rows) for the patches of
  an h x w feature grid, row-major: (dr + B - 1) * (2B - 1) + (dc + B - 1)."""
  rows, cols = np.divmod(np.arange(grid_h * grid_w), grid_w)
  dr = rows[:, None] - rows[None, :] + buckets - 1
  dc = cols[:, None] - cols[None, :] + buckets - 1
  return (dr * (2 * buckets - 1) + dc).astype(np.int32)


def image_position_ids(grid_h: int, grid_w: int, buckets: int) -> np.ndarray:
  """Rows of the image position table: 1 + row * B + col (row 0 is unused by text tasks)."""
  rows, cols = np.divmod(np.arange(grid_h * grid_w), grid_w)
  return (1 + rows * buckets + cols).astype(np.int32)


def num_token_buckets(cfg: ModelConfig) -> int:
  return 2 * cfg.token_bucket_size - 1


def num_image_buckets(cfg: ModelConfig) -> int:
  return (2 * cfg.image_position_buckets - 1) ** 2 + 3


class PositionEmbeddings(nn.Module):
  """One stack's position tables and their LayerNorms (the encoder and the decoder each
  have their own): `text(positions)` and `image(grid_h, grid_w)` -> float32 [l, d]."""
  config: ModelConfig

  def setup(self):
    cfg = self.config
    init = partitioned(normal_init(cfg.d_model ** -0.5), ("positions", "embed"))
    self.text_table = self.param("text", init, (cfg.max_positions + 2, cfg.d_model),
                                 cfg.param_dtype)
    self.image_table = self.param("image", init, (cfg.image_position_buckets ** 2 + 1,
                                                  cfg.d_model), cfg.param_dtype)
    float_cfg = _float32(cfg)
    self.text_norm = Norm(float_cfg)
    self.image_norm = Norm(float_cfg)

  def text(self, positions):
    """positions int [l] (or [b, l] per row) -> [(b,) l, d]."""
    if positions.shape[-1] > min(self.config.max_positions, BUCKET_RANGE):
      raise ValueError(f"{positions.shape[0]} text positions exceed model.max_positions="
                       f"{self.config.max_positions} (the BiomedGPT flavour holds at most "
                       f"{min(self.config.max_positions, BUCKET_RANGE)}): shorten "
                       "data.max_source_len / data.max_target_len")
    return self.text_norm(jnp.asarray(self.text_table, jnp.float32)[positions])

  def image(self, grid_h: int, grid_w: int):
    ids = image_position_ids(grid_h, grid_w, self.config.image_position_buckets)
    return self.image_norm(jnp.asarray(self.image_table, jnp.float32)[ids])


class AbsolutePositionBias(nn.Module):
  """(W_q Pq + b)(W_k Pk + b)^T * attention_scale -> float32 [1, heads, lq, lk]; from per-row
  positions [b, l, d] (packed batches; either side may be shared) -> [b, heads, lq, lk]."""
  config: ModelConfig

  @nn.compact
  def __call__(self, query_positions, key_positions):
    cfg = _float32(self.config)
    project = lambda name: Dense((cfg.num_heads, cfg.head_dim), ("embed", "heads", "kv"),
                                 cfg.d_model ** -0.5, cfg, use_bias=True, name=name)
    q = project("query")(query_positions) * cfg.attention_scale
    k = project("key")(key_positions)
    if q.ndim == k.ndim == 3:
      return jnp.einsum("qhd,khd->hqk", q, k)[None]
    q, k = (x if x.ndim == 4 else x[None] for x in (q, k))
    return jnp.einsum("bqhd,bkhd->bhqk", q, k)


def relative_tables(module: nn.Module, cfg: ModelConfig):
  """A layer's (text, image) relative tables [buckets, heads]; zero at init, as OFA's."""
  init = partitioned(nn.initializers.zeros, ("relpos_buckets", "heads"))
  text = module.param("token_relative_bias", init, (num_token_buckets(cfg), cfg.num_heads),
                      cfg.param_dtype)
  image = module.param("image_relative_bias", init, (num_image_buckets(cfg), cfg.num_heads),
                       cfg.param_dtype)
  return jnp.asarray(text, jnp.float32), jnp.asarray(image, jnp.float32)


def layer_bias(module: nn.Module, cfg: ModelConfig, absolute, text_rows, image_rows):
  """A layer's attention bias: the shared absolute term [1 or b, h, L, L'] plus its own text
  table at `text_rows` [lt, lt'] (or [b, lt, lt'] in packed batches; the bottom-right block)
  and image table at `image_rows` [li, li] (the top-left block; None without images)."""
  text_table, image_table = relative_tables(module, cfg)
  relative = jnp.moveaxis(text_table[text_rows], -1, -3)  # [(b,) h, lt, lt']
  lq, lk = absolute.shape[-2:]
  relative = jnp.pad(relative, ((0, 0),) * (relative.ndim - 2) + (
      (lq - relative.shape[-2], 0), (lk - relative.shape[-1], 0)))
  if image_rows is not None:
    li = image_rows.shape[0]
    image = jnp.transpose(image_table[image_rows], (2, 0, 1))
    relative = relative + jnp.pad(image, ((0, 0), (0, lq - li), (0, lk - li)))
  return absolute + (relative if relative.ndim == 4 else relative[None])


def _float32(cfg: ModelConfig) -> ModelConfig:
  """Positions are computed in float32 whatever the activation dtype: they are batch-free
  and cheap, and bf16 would quantise the bias that orders the sequence."""
  return dataclasses.replace(cfg, dtype="float32")
