"""Transformer building blocks with logical axis names on every parameter.

Logical axes (mapped to mesh axes by the rules in biomed_jax/sharding.py):
  batch, length, embed, mlp, heads, kv, vocab, layers, relpos_buckets, image_grid,
  conv_h, conv_w, conv_in, conv_out.
Parameters are stored in `param_dtype` and cast to `dtype` at use.
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from biomed_jax.model import attention_kernels
from biomed_jax.model import lora
from biomed_jax.model.config import ModelConfig

NEG_INF = float(jnp.finfo(jnp.float32).min)


def partitioned(init, names):
  return nn.with_logical_partitioning(init, names)


def constrain(x, names):
  """Sharding hint for an activation; a no-op without a mesh and rules in context."""
  return nn.with_logical_constraint(x, names)


def normal_init(stddev: float):
  return nn.initializers.normal(stddev=stddev)


class Norm(nn.Module):
  """T5's RMSNorm (no mean, no bias) or LayerNorm with bias; statistics in float32.

  LayerNorm uses the exact two-pass variance: the one-pass E[x^2] - E[x]^2 loses up to 7e-3
  on inputs with a large mean (OFA's position embeddings), where torch's LayerNorm does not.
  """
  config: ModelConfig
  names: tuple[str, ...] = ("embed",)  # logical axis of the normalised features

  @nn.compact
  def __call__(self, x):
    cfg = self.config
    kwargs = dict(epsilon=cfg.layer_norm_epsilon, dtype=cfg.dtype, param_dtype=cfg.param_dtype,
                  scale_init=partitioned(nn.initializers.ones, self.names))
    if cfg.norm_type == "rms":
      return nn.RMSNorm(name="norm", **kwargs)(x)
    return nn.LayerNorm(name="norm", use_fast_variance=False,
                        bias_init=partitioned(nn.initializers.zeros, self.names), **kwargs)(x)


class DropPath(nn.Module):
  """Stochastic depth per sample (fairseq's): a residual branch is dropped for a whole
  example with probability `rate` while training, and scaled by 1 / (1 - rate) otherwise.
  `rate` may be traced (one value per scanned layer)."""
  rate: Any
  deterministic: bool = True

  @nn.compact
  def __call__(self, y):
    if self.deterministic or (isinstance(self.rate, float) and self.rate == 0.0):
      return y
    keep = 1.0 - jnp.asarray(self.rate, jnp.float32)
    shape = (y.shape[0],) + (1,) * (y.ndim - 1)
    mask = jnp.floor(keep + jax.random.uniform(self.make_rng("dropout"), shape))
    return (y / keep.astype(y.dtype)) * mask.astype(y.dtype)


def residual(x, sublayer, cfg: ModelConfig, name: str, deterministic: bool, drop_path_rate,
             post_norm: bool = False):
  """Both flavours' residual block: x + drop_path(dropout(post_norm(sublayer(norm(x))))).
  post_norm: NormFormer's norm after attention (the FFN's is on its hidden, inside it).
  Parameters are `{name}_norm`, `{name}_post_norm` and whatever `sublayer` creates (it is
  called inside the parent)."""
  y = sublayer(Norm(cfg, name=f"{name}_norm")(x))
  if post_norm:
    y = Norm(cfg, name=f"{name}_post_norm")(y)
  y = nn.Dropout(cfg.dropout_rate)(y, deterministic=deterministic)
  if cfg.drop_path_rate > 0:
    y = DropPath(drop_path_rate, deterministic)(y)
  return x + y


class Dense(nn.Module):
  """y = x . kernel (+ bias) contracting the last `in_axes` dims of x; kernel shape is
  x.shape[-in_axes:] + features, stored whole (not flattened) so its logical names always
  match its rank, also while it is being initialised under a mesh."""
  features: tuple[int, ...]
  names: tuple[str, ...]  # logical axes of the kernel
  stddev: float
  config: ModelConfig
  in_axes: int = 1
  use_bias: bool | None = None  # None: config.use_bias
  deterministic: bool = True  # only LoRA's dropout reads it


  @nn.compact
  def __call__(self, x):
    cfg = self.config
    shape = tuple(x.shape[x.ndim - self.in_axes:]) + tuple(self.features)
    kernel = self.param("kernel", partitioned(normal_init(self.stddev), self.names), shape,
                        cfg.param_dtype)
    axes = tuple(range(x.ndim - self.in_axes, x.ndim))
    y = jnp.tensordot(x.astype(cfg.dtype), jnp.asarray(kernel, cfg.dtype),
                      (axes, tuple(range(self.in_axes))))
    if cfg.use_bias if self.use_bias is None else self.use_bias:
      bias = self.param("bias", partitioned(nn.initializers.zeros,
                                            self.names[self.in_axes:]),
                        tuple(self.features), cfg.param_dtype)
      y = y + jnp.asarray(bias, cfg.dtype)
    if lora.is_target(self, cfg):
      y = y + lora.adapter_output(self, x, self.in_axes, tuple(self.features), self.names,
                                  self.deterministic)
    return y


def _dense(features, axis, names, stddev, cfg, name, deterministic=True):
  features = features if isinstance(features, tuple) else (features,)
  in_axes = len(axis) if isinstance(axis, tuple) else 1
  return Dense(features, names, stddev, cfg, in_axes, deterministic=deterministic, name=name)


class MultiHeadAttention(nn.Module):
  """Attention with an additive bias, an optional key mask and an optional KV cache.

  decode=True keeps a cache in the "cache" collection: for self-attention the keys/values of
  every position written so far; for cross-attention (`cross=True`) the encoder keys/values,
  computed once when the cache is created and reused at every step (pass kv=None then).
  Cached keys/values are stored heads first, [b, h, length, d]: the layout the score and
  output products read, so a step does not transpose the whole cache.
  """
  config: ModelConfig
  cross: bool = False
  decode: bool = False
  deterministic: bool = True

  @nn.compact
  def __call__(self, x, kv, bias, mask):
    """x: [b, lq, d]; kv: [b, lk, d] or None; bias float32 and mask bool, both broadcastable
    to [b, h, lq, lk] (either may be None)."""
    cfg = self.config
    h, dh, d = cfg.num_heads, cfg.head_dim, cfg.d_model
    # T5 has no 1/sqrt(dh) in the scores: it lives in the query initialisation instead.
    q_std = (d * dh) ** -0.5 if cfg.attention_scale is None else d ** -0.5
    project = lambda name, std: _dense((h, dh), -1, ("embed", "heads", "kv"), std, cfg, name,
                                       self.deterministic)
    q = project("query", q_std)(x)
    if cfg.attention_scale is not None:
      q = q * jnp.asarray(cfg.attention_scale, q.dtype)

    heads_first = False  # k, v [b, h, lk, d] (from the cache) rather than [b, lk, h, d]
    if self.cross:
      k, v, heads_first = self._cross_key_value(kv, project)
    else:
      k, v = project("key", d ** -0.5)(x), project("value", d ** -0.5)(x)
      if self.decode:
        k, v, cache_mask, heads_first = self._append_to_cache(k, v)
        mask = cache_mask if mask is None else mask & cache_mask

    q = constrain(q, ("batch", "length", "heads", "kv"))
    if not heads_first:
      k = constrain(k, ("batch", "length", "heads", "kv"))
    kv_axes = "bhkd" if heads_first else "bkhd"
    impl = attention_kernels.resolve(cfg.attention_impl, cfg.dtype)
    if impl != "xla" and not self.decode:  # a cached decoding step has one query: einsums
      out = attention_kernels.fused_attention(impl, q, k, v, bias, mask)
    else:
      scores = jnp.einsum(f"bqhd,{kv_axes}->bhqk", q, k).astype(jnp.float32)
      if bias is not None:
        scores = scores + bias
      if mask is not None:
        # `where`, not adding a large negative: a row with every key masked stays finite.
        scores = jnp.where(mask, scores, NEG_INF)
      weights = jax.nn.softmax(scores, axis=-1).astype(cfg.dtype)
      weights = nn.Dropout(cfg.attention_dropout)(weights, deterministic=self.deterministic)
      out = jnp.einsum(f"bhqk,{kv_axes}->bqhd", weights, v)
    if cfg.head_scale:  # NormFormer's learned scale per head
      scale = self.param("head_scale", partitioned(nn.initializers.ones, ("heads",)), (h,),
                         cfg.param_dtype)
      out = out * jnp.asarray(scale, out.dtype)[:, None]
    return _dense(d, (-2, -1), ("heads", "kv", "embed"), (h * dh) ** -0.5, cfg, "out",
                  self.deterministic)(out)

  def _cross_key_value(self, kv, project):
    """(k, v, heads_first)."""
    if not self.decode:
      return project("key", self.config.d_model ** -0.5)(kv), project(
          "value", self.config.d_model ** -0.5)(kv), False
    if kv is not None and not self.has_variable("cache", "cross_key"):
      k = _heads_first(project("key", self.config.d_model ** -0.5)(kv))
      v = _heads_first(project("value", self.config.d_model ** -0.5)(kv))
      self.variable("cache", "cross_key", lambda: k)
      self.variable("cache", "cross_value", lambda: v)
      return k, v, True
    if not self.has_variable("cache", "cross_key"):
      raise ValueError("cross-attention cache is empty: create it with the encoder outputs "
                       "first (see EncoderDecoder.init_cache)")
    return (self.get_variable("cache", "cross_key"), self.get_variable("cache", "cross_value"),
            True)

  def _append_to_cache(self, k, v):
    """Writes this step's key/value at the cache index; returns the whole cache (heads first),
    its mask and whether it is heads first (not in the creation pass)."""
    initialized = self.has_variable("cache", "cached_key")
    shape = _heads_first(k).shape
    cached_k = self.variable("cache", "cached_key", jnp.zeros, shape, k.dtype)
    cached_v = self.variable("cache", "cached_value", jnp.zeros, shape, v.dtype)
    index = self.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32))
    if not initialized:  # creation pass: shapes only, full-length computation
      return k, v, jnp.ones((), bool), False
    step = k.shape[1]
    i = index.value
    cached_k.value = jax.lax.dynamic_update_slice(cached_k.value, _heads_first(k), (0, 0, i, 0))
    cached_v.value = jax.lax.dynamic_update_slice(cached_v.value, _heads_first(v), (0, 0, i, 0))
    index.value = i + step
    max_len = cached_k.value.shape[2]
    # Query j of this step (absolute position i + j) sees keys 0 .. i + j.
    mask = jnp.arange(max_len)[None, :] <= (i + jnp.arange(step))[:, None]
    return cached_k.value, cached_v.value, mask[None, None], True


def _heads_first(x):
  """[b, l, h, d] -> [b, h, l, d]."""
  return jnp.swapaxes(x, 1, 2)


class FeedForward(nn.Module):
  config: ModelConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x):
    cfg = self.config
    # "gelu" is the exact (erf) GELU of fairseq and HF; T5 v1.1's gated-gelu uses the tanh
    # approximation ("gelu_new").
    act = {"relu": nn.relu, "gelu": functools.partial(nn.gelu, approximate=False),
           "gated-gelu": functools.partial(nn.gelu, approximate=True),
           "gated-silu": nn.silu}[cfg.ffn_type]
    wi = lambda name: _dense(cfg.d_ff, -1, ("embed", "mlp"), cfg.d_model ** -0.5, cfg, name,
                             self.deterministic)
    if cfg.ffn_type.startswith("gated"):
      hidden = act(wi("wi_0")(x)) * wi("wi_1")(x)
    else:
      hidden = act(wi("wi")(x))
    hidden = constrain(hidden, ("batch", "length", "mlp"))
    hidden = nn.Dropout(cfg.activation_dropout)(hidden, deterministic=self.deterministic)
    if cfg.normformer:
      hidden = Norm(cfg, ("mlp",), name="hidden_norm")(hidden)
    return _dense(cfg.d_model, -1, ("mlp", "embed"), cfg.d_ff ** -0.5, cfg, "wo",
                  self.deterministic)(hidden)


def relative_position_bucket(relative_position, bidirectional: bool, num_buckets: int,
                             max_distance: int):
  """T5's bucketing of (key position - query position): exact near, logarithmic far."""
  buckets = jnp.zeros_like(relative_position)
  if bidirectional:
    num_buckets //= 2
    buckets += (relative_position > 0).astype(jnp.int32) * num_buckets
    distance = jnp.abs(relative_position)
  else:
    distance = -jnp.minimum(relative_position, 0)
  max_exact = num_buckets // 2
  log_ratio = jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / max_exact) / math.log(
      max_distance / max_exact)
  large = max_exact + (log_ratio * (num_buckets - max_exact)).astype(jnp.int32)
  large = jnp.minimum(large, num_buckets - 1)
  return buckets + jnp.where(distance < max_exact, distance, large)


class RelativePositionBias(nn.Module):
  """Per-head learned bias over bucketed relative positions, shared by all layers."""
  config: ModelConfig
  bidirectional: bool

  @nn.compact
  def __call__(self, query_positions, key_positions):
    """Positions: int [lq], [lk] -> bias float32 [1, heads, lq, lk]; or per row (packed
    batches) [b, lq], [b, lk] -> [b, heads, lq, lk]."""
    cfg = self.config
    table = self.param(
        "embedding",
        partitioned(normal_init(cfg.d_model ** -0.5), ("relpos_buckets", "heads")),
        (cfg.relative_attention_num_buckets, cfg.num_heads), cfg.param_dtype)
    buckets = relative_position_bucket(
        key_positions[..., None, :] - query_positions[..., :, None], self.bidirectional,
        cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance)
    bias = jnp.moveaxis(jnp.asarray(table, jnp.float32)[buckets], -1, -3)  # [(b,) h, lq, lk]
    return bias if bias.ndim == 4 else bias[None]
