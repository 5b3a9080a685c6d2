"""The encoder-decoder over [image tokens; text tokens], in either flavour.

Encoder input: optional image tokens from the vision encoder, then text token embeddings. The
decoder is causal, with cross-attention over the encoder output. How positions enter is the
flavour's switch (config.position_bias):
  "t5":  T5's bucketed relative bias (one table per stack, shared by its layers) on text;
         image tokens carry learned 2-D positions added to them.
  "ofa": BiomedGPT/OFA's absolute-position term plus per-layer text and image relative
         tables (biomed_jax/model/ofa_positions.py); positions never enter the tokens.
Both flavours' blocks are the same residual helper (layers.residual) with NormFormer norms,
type embeddings, embedding norms and drop-path as switches.

`EncoderDecoder(config, train=..., decode=...)`: the flags change behaviour (dropout, BatchNorm
statistics, KV cache) but never the parameters, so one set of variables serves every mode.

Packed rows (data.packing; training only): a `Packing` of segment ids and per-segment
positions makes each example of a row attend only to itself (encoder, decoder and
cross-attention) and see the positions it would have alone, so its logits are those of the
unpacked example.
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from biomed_jax.model import ofa_positions as ofa
from biomed_jax.model.config import ModelConfig
from biomed_jax.model.layers import (NEG_INF, Dense, FeedForward, MultiHeadAttention, Norm,
                                     RelativePositionBias, constrain, normal_init, partitioned,
                                     residual)
from biomed_jax.model.vision import VisionEncoder

REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_with_no_batch_dims": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


class Encoded(NamedTuple):
  """The encoder's output: hidden [b, l, d], and (ofa) the LayerNormed position embeddings
  [b, l, d] the decoder's cross-attention bias is built from (None for t5); in packed
  batches the segment id of every encoder position [b, l]. A pytree, so decoding repeats or
  tiles it along the batch."""
  hidden: jax.Array
  positions: Any = None
  segment_ids: Any = None


class Packing(NamedTuple):
  """Packed rows: segment ids (1, 2, ... per example of the row, 0 on padding) and positions
  within each segment, int [b, ls] for the encoder's text and [b, lt] for the decoder
  (the batch keys of biomed_jax/data/batch_contract.py)."""
  encoder_segment_ids: jax.Array
  encoder_positions: jax.Array
  decoder_segment_ids: jax.Array
  decoder_positions: jax.Array

  @classmethod
  def from_batch(cls, batch) -> "Packing | None":
    """The batch's packing keys, or None for an unpacked batch."""
    if "encoder_segment_ids" not in batch:
      return None
    return cls(*(batch[k] for k in cls._fields))


def _same_segment(query_ids, key_ids):
  """bool [b, 1, lq, lk]: query and key belong to the same example."""
  return (query_ids[:, :, None] == key_ids[:, None, :])[:, None]


class EncoderBlock(nn.Module):
  config: ModelConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x, drop_path_rate, bias, mask, text_rows, image_rows):
    cfg = self.config
    if cfg.position_bias == "ofa":
      bias = ofa.layer_bias(self, cfg, bias, text_rows, image_rows)
    attention = MultiHeadAttention(cfg, deterministic=self.deterministic, name="attention")
    x = residual(x, lambda y: attention(y, None, bias, mask), cfg, "attention",
                 self.deterministic, drop_path_rate, cfg.normformer)
    x = residual(x, FeedForward(cfg, self.deterministic, name="mlp"), cfg, "mlp",
                 self.deterministic, drop_path_rate)
    return constrain(x, ("batch", "length", "embed")), None


class DecoderBlock(nn.Module):
  config: ModelConfig
  deterministic: bool = True
  decode: bool = False

  @nn.compact
  def __call__(self, x, drop_path_rate, encoded, self_bias, self_mask, cross_bias, cross_mask,
               text_rows):
    cfg = self.config
    if cfg.position_bias == "ofa":
      self_bias = ofa.layer_bias(self, cfg, self_bias, text_rows, None)
    attention = lambda cross, name: MultiHeadAttention(
        cfg, cross=cross, decode=self.decode, deterministic=self.deterministic, name=name)
    self_attention = attention(False, "self_attention")
    cross_attention = attention(True, "cross_attention")
    x = residual(x, lambda y: self_attention(y, None, self_bias, self_mask), cfg,
                 "self_attention", self.deterministic, drop_path_rate, cfg.normformer)
    x = residual(x, lambda y: cross_attention(y, encoded, cross_bias, cross_mask), cfg,
                 "cross_attention", self.deterministic, drop_path_rate, cfg.normformer)
    x = residual(x, FeedForward(cfg, self.deterministic, name="mlp"), cfg, "mlp",
                 self.deterministic, drop_path_rate)
    return constrain(x, ("batch", "length", "embed")), None


def _run_layers(block_cls, cfg: ModelConfig, num_layers: int, name: str, block_kwargs, x,
                *args):
  """Applies num_layers blocks, as one scanned stack (params get a leading "layers" axis) or
  as separately named layers; with remat by the configured policy. Each layer gets its own
  drop-path rate, rising linearly from 0 to config.drop_path_rate."""
  rates = np.linspace(0.0, cfg.drop_path_rate, num_layers, dtype=np.float32)
  if cfg.remat_policy != "none":
    block_cls = nn.remat(block_cls, policy=REMAT_POLICIES[cfg.remat_policy],
                         prevent_cse=not cfg.scan_layers)
  if cfg.scan_layers:
    stack = nn.scan(
        block_cls, variable_axes={"params": 0, "cache": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=(0,) + (nn.broadcast,) * len(args), length=num_layers,
        metadata_params={nn.PARTITION_NAME: "layers"})
    return stack(cfg, **block_kwargs, name=name)(x, jnp.asarray(rates), *args)[0]
  for i in range(num_layers):
    x = block_cls(cfg, **block_kwargs, name=f"{name}_{i}")(x, float(rates[i]), *args)[0]
  return x


def _type_embedding(module: nn.Module, cfg: ModelConfig):
  return module.param("type_embedding", partitioned(normal_init(cfg.d_model ** -0.5),
                                                    ("types", "embed")),
                      (2, cfg.d_model), cfg.param_dtype)


class Encoder(nn.Module):
  config: ModelConfig
  train: bool = False

  @nn.compact
  def __call__(self, text_embeddings, text_mask, image_tokens=None, image_mask=None,
               image_grid=None, segment_ids=None, text_positions=None):
    """text_embeddings [b, lt, d], text_mask [b, lt]; image_tokens [b, li, d] on an
    image_grid (h, w), image_mask [b]; packed rows: segment_ids and text_positions [b, lt]
    (an image, alone in its row, is segment 1). Returns (Encoded, mask [b, li + lt])."""
    cfg = self.config
    lt = text_embeddings.shape[1]
    if text_positions is None:
      text_positions = jnp.arange(lt)
    types = _type_embedding(self, cfg) if cfg.type_embedding else None

    def embed(x, type_id, norm_name):
      if types is not None:
        x = x + jnp.asarray(types[type_id], x.dtype)
      return Norm(cfg, name=norm_name)(x) if cfg.embedding_norm else x

    x, mask = embed(text_embeddings, 0, "token_norm"), text_mask
    if image_tokens is not None:
      li = image_tokens.shape[1]
      x = jnp.concatenate([embed(image_tokens, 1, "patch_norm"), x], axis=1)
      mask = jnp.concatenate([jnp.broadcast_to(image_mask[:, None], (x.shape[0], li)), mask], 1)
      if segment_ids is not None:
        segment_ids = jnp.concatenate(
            [jnp.ones((x.shape[0], li), segment_ids.dtype), segment_ids], 1)

    positions = text_rows = image_rows = None
    if cfg.position_bias == "ofa":
      x = jnp.where(mask[..., None], x, 0)  # OFA zeroes padded and absent-image positions
      tables = ofa.PositionEmbeddings(cfg, name="positions")
      positions = tables.text(text_positions)  # [(b,) lt, d]
      if image_tokens is not None:
        image_positions = tables.image(*image_grid)
        if positions.ndim == 3:
          image_positions = jnp.broadcast_to(image_positions[None],
                                             (x.shape[0],) + image_positions.shape)
        positions = jnp.concatenate([image_positions, positions], axis=-2)
        image_rows = ofa.image_bucket_rows(*image_grid, cfg.image_position_buckets)
      bias = ofa.AbsolutePositionBias(cfg, name="position_bias")(positions, positions)
      text_rows = ofa.token_buckets(text_positions, text_positions, cfg)
      positions = jnp.broadcast_to(positions, (x.shape[0],) + positions.shape[-2:])
    else:
      bias = RelativePositionBias(cfg, bidirectional=True, name="relative_position_bias")(
          text_positions, text_positions)
      if image_tokens is not None:
        bias = jnp.pad(bias, ((0, 0), (0, 0), (li, 0), (li, 0)))

    x = nn.Dropout(cfg.dropout_rate)(x, deterministic=not self.train)
    x = constrain(x, ("batch", "length", "embed"))
    attention_mask = mask[:, None, None, :]
    if segment_ids is not None:
      attention_mask = attention_mask & _same_segment(segment_ids, segment_ids)
    x = _run_layers(EncoderBlock, cfg, cfg.num_encoder_layers, "layers",
                    dict(deterministic=not self.train), x, bias, attention_mask,
                    text_rows, image_rows)
    x = Norm(cfg, name="final_norm")(x)
    if cfg.position_bias != "ofa":  # OFA: no dropout after the final norm
      x = nn.Dropout(cfg.dropout_rate)(x, deterministic=not self.train)
    return Encoded(x, positions, segment_ids), mask


class Decoder(nn.Module):
  config: ModelConfig
  train: bool = False
  decode: bool = False
  max_decode_length: int = 0  # cache size in decode mode

  @nn.compact
  def __call__(self, embeddings, encoded: Encoded | None, encoder_mask, key_mask=None,
               segment_ids=None, positions=None):
    """embeddings [b, l, d] (l = 1 per step when decoding) -> hidden states [b, l, d].
    key_mask [b, l]: decoder positions that may be attended to (None: all). Packed rows:
    segment_ids and positions [b, l], with the encoder's segment ids in `encoded`."""
    cfg = self.config
    length = embeddings.shape[1]
    packed = segment_ids is not None
    if packed and (self.decode or encoded.segment_ids is None):
      raise ValueError("packed decoder rows need packed encoder rows, and decoding takes "
                       "unpacked batches")
    start, self_mask = self._positions(length)
    if self_mask is not None and key_mask is not None:
      self_mask = self_mask & key_mask[:, None, None, :]
    cross_mask = encoder_mask[:, None, None, :]
    if packed:
      self_mask = self_mask & _same_segment(segment_ids, segment_ids)
      cross_mask = cross_mask & _same_segment(segment_ids, encoded.segment_ids)
    else:
      positions = start + jnp.arange(length)
    if cfg.position_bias == "ofa":
      self_bias, cross_bias, text_rows = self._ofa_bias(start, positions, encoded, packed)
    else:
      key_positions = positions if packed else jnp.arange(
          self.max_decode_length if self.decode else length)
      self_bias = RelativePositionBias(cfg, bidirectional=False,
                                       name="relative_position_bias")(positions, key_positions)
      cross_bias = text_rows = None

    x = embeddings
    if cfg.embedding_norm:
      # The reference's norm for image-code tokens: unused for text, kept so the released
      # weights round-trip (its output is dead code to the compiler).
      Norm(cfg, name="code_token_norm")(x)
      x = Norm(cfg, name="token_norm")(x)
    x = nn.Dropout(cfg.dropout_rate)(x, deterministic=not self.train)
    x = constrain(x, ("batch", "length", "embed"))
    x = _run_layers(DecoderBlock, cfg, cfg.num_decoder_layers, "layers",
                    dict(deterministic=not self.train, decode=self.decode),
                    x, None if encoded is None else encoded.hidden, self_bias, self_mask,
                    cross_bias, cross_mask, text_rows)
    x = Norm(cfg, name="final_norm")(x)
    if cfg.position_bias != "ofa":
      x = nn.Dropout(cfg.dropout_rate)(x, deterministic=not self.train)
    return x

  def _positions(self, length):
    """(first query position, causal self-attention mask or None). When decoding, query
    positions continue from the previous step and the attention cache masks the keys."""
    if not self.decode:
      return 0, jnp.tril(jnp.ones((length, length), bool))[None, None]
    initialized = self.has_variable("cache", "position")
    position = self.variable("cache", "position", lambda: jnp.array(0, jnp.int32))
    if not initialized:
      if length != self.max_decode_length:
        raise ValueError(f"the decoding cache is created with {length} positions but "
                         f"max_decode_length={self.max_decode_length}")
      return 0, jnp.tril(jnp.ones((length, length), bool))[None, None]
    start = position.value
    position.value = start + length
    return start, None

  def _ofa_bias(self, start, positions, encoded, packed):
    """(self bias [1, h, l, keys], cross bias [1, h, l, encoder length], text rows [l, keys];
    each with the batch instead of 1 when `packed`, from per-row `positions` [b, l]). When
    decoding, the absolute terms for every cache position are computed once with the cache
    and sliced per step."""
    cfg = self.config
    length = positions.shape[-1]
    full = self.max_decode_length if self.decode else length
    key_positions = positions if packed else jnp.arange(full)

    def absolute_terms():
      tables = ofa.PositionEmbeddings(cfg, name="positions")
      queries = tables.text(key_positions)
      tables.image(1, 1)  # image-code positions: unused for text, kept for the weights
      self_term = ofa.AbsolutePositionBias(cfg, name="self_position_bias")(queries, queries)
      cross_term = ofa.AbsolutePositionBias(cfg, name="cross_position_bias")(
          queries, encoded.positions if packed else encoded.positions[0])
      return self_term, cross_term

    if self.decode:
      if not self.has_variable("cache", "self_bias_table"):
        self_term, cross_term = absolute_terms()
        self.variable("cache", "self_bias_table", lambda: self_term)
        self.variable("cache", "cross_bias_table", lambda: cross_term)
      self_term = self.get_variable("cache", "self_bias_table")
      cross_term = self.get_variable("cache", "cross_bias_table")
      self_term = jax.lax.dynamic_slice_in_dim(self_term, start, length, axis=2)
      cross_term = jax.lax.dynamic_slice_in_dim(cross_term, start, length, axis=2)
    else:
      self_term, cross_term = absolute_terms()
    text_rows = ofa.token_buckets(positions, key_positions, cfg)
    return self_term, cross_term, text_rows


class EncoderDecoder(nn.Module):
  """logits = model(encoder_tokens, decoder_tokens, images=None, image_mask=None,
  packing=None)."""
  config: ModelConfig
  train: bool = False
  decode: bool = False
  max_decode_length: int = 0  # cache size in decode mode (see init_cache)

  def setup(self):
    cfg = self.config
    # Tied, unscaled logits (OFA) need OFA's small N(0, 1/d) table at init; T5 scales the
    # logits instead (or has a separate output layer).
    std = cfg.d_model ** -0.5 if cfg.tie_embeddings and not cfg.scale_tied_logits else 1.0
    self.embedding = nn.Embed(
        cfg.vocab_size, cfg.d_model, dtype=cfg.dtype, param_dtype=cfg.param_dtype,
        embedding_init=partitioned(normal_init(std), ("vocab", "embed")))
    self.vision = VisionEncoder(cfg, train=self.train)
    self.encoder = Encoder(cfg, train=self.train)
    self.decoder = Decoder(cfg, train=self.train, decode=self.decode,
                           max_decode_length=self.max_decode_length)
    if not cfg.tie_embeddings:
      self.lm_head = Dense((cfg.vocab_size,), ("embed", "vocab"), 1.0, cfg, use_bias=False)

  def __call__(self, encoder_tokens, decoder_tokens, images=None, image_mask=None,
               packing: Packing | None = None):
    encoded, encoder_mask = self.encode(encoder_tokens, images, image_mask, packing)
    return self.decode_logits(decoder_tokens, encoded, encoder_mask, packing)

  def encode(self, encoder_tokens, images=None, image_mask=None,
             packing: Packing | None = None):
    """Returns (Encoded, encoder_mask [b, l]); l = image tokens + text tokens."""
    text_mask = encoder_tokens != self.config.pad_id
    image_tokens = grid = None
    if images is not None:
      if image_mask is None:
        image_mask = jnp.ones(images.shape[:1], bool)
      image_tokens = self.vision(images, image_mask)
      b, gh, gw, d = image_tokens.shape
      grid = (gh, gw)
      # Text-only examples in a mixed batch: their image tokens are masked out and zeroed.
      image_tokens = jnp.where(image_mask[:, None, None, None], image_tokens, 0).reshape(
          b, gh * gw, d)
    segments = (None, None) if packing is None else (packing.encoder_segment_ids,
                                                      packing.encoder_positions)
    return self.encoder(self.embedding(encoder_tokens), text_mask, image_tokens, image_mask,
                        grid, *segments)

  def decode_logits(self, decoder_tokens, encoded, encoder_mask,
                    packing: Packing | None = None):
    """decoder_tokens [b, l] -> float32 logits [b, l, vocab]. With decode=True, `encoded` is
    needed only while the cache is created (see init_cache); later steps may pass None."""
    cfg = self.config
    # Padding is masked as a key where it differs from the start token (OFA; in T5 the start
    # token is the pad id). Right padding never reaches a real position either way.
    key_mask = None
    if cfg.pad_id != cfg.bos_id and not self.decode:
      key_mask = decoder_tokens != cfg.pad_id
    segments = (None, None) if packing is None else (packing.decoder_segment_ids,
                                                      packing.decoder_positions)
    x = self.decoder(self.embedding(decoder_tokens), encoded, encoder_mask, key_mask,
                     *segments)
    if cfg.tie_embeddings:
      if cfg.scale_tied_logits:
        x = x * cfg.d_model ** -0.5
      logits = self.embedding.attend(x)
    else:
      logits = self.lm_head(x)
    logits = logits.astype(jnp.float32)
    if cfg.logit_vocab_size is not None and cfg.logit_vocab_size < cfg.vocab_size:
      logits = jnp.where(jnp.arange(cfg.vocab_size) < cfg.logit_vocab_size, logits, NEG_INF)
    return constrain(logits, ("batch", "length", "vocab"))


def init_cache(model: EncoderDecoder, params, encoded: Encoded, encoder_mask,
               max_length: int):
  """(decoding model, fresh cache) for up to max_length steps, holding the encoder keys/values.

  Runs the decode-mode model once over max_length dummy tokens: that creates every cache
  variable with its full shape, and the cross-attention keys/values from `encoded`. Step with
  `decoding_model.apply({"params": params, "cache": cache}, tokens[:, None], None,
  encoder_mask, method=EncoderDecoder.decode_logits, mutable=["cache"])`.
  """
  decoder = model.clone(train=False, decode=True, max_decode_length=max_length)
  dummy = jnp.full((encoded.hidden.shape[0], max_length), model.config.bos_id, jnp.int32)
  _, variables = decoder.apply({"params": params}, dummy, encoded, encoder_mask,
                               method=EncoderDecoder.decode_logits, mutable=["cache"])
  return decoder, variables["cache"]
