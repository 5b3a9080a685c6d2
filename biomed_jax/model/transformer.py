"""The T5-style encoder-decoder over [image tokens; text tokens].

Encoder input: optional image tokens from the vision encoder, then text token embeddings. Text
tokens attend to each other with T5's bidirectional relative position bias; image tokens carry
their learned 2-D positions and get no relative bias. The decoder is causal, with T5's
unidirectional relative bias and cross-attention over the encoder output.

`EncoderDecoder(config, train=..., decode=...)`: the flags change behaviour (dropout, BatchNorm
statistics, KV cache) but never the parameters, so one set of variables serves every mode.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from biomed_jax.model.config import ModelConfig
from biomed_jax.model.layers import (Dense, FeedForward, MultiHeadAttention, Norm,
                                     RelativePositionBias, constrain, normal_init, partitioned)
from biomed_jax.model.vision import VisionEncoder

REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_with_no_batch_dims": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


class EncoderBlock(nn.Module):
  config: ModelConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x, bias, mask):
    cfg = self.config
    dropout = lambda y: nn.Dropout(cfg.dropout_rate)(y, deterministic=self.deterministic)
    y = Norm(cfg, name="attention_norm")(x)
    y = MultiHeadAttention(cfg, deterministic=self.deterministic, name="attention")(
        y, None, bias, mask)
    x = x + dropout(y)
    y = FeedForward(cfg, self.deterministic, name="mlp")(Norm(cfg, name="mlp_norm")(x))
    x = constrain(x + dropout(y), ("batch", "length", "embed"))
    return x, None


class DecoderBlock(nn.Module):
  config: ModelConfig
  deterministic: bool = True
  decode: bool = False

  @nn.compact
  def __call__(self, x, encoded, self_bias, self_mask, cross_mask):
    cfg = self.config
    dropout = lambda y: nn.Dropout(cfg.dropout_rate)(y, deterministic=self.deterministic)
    attention = lambda cross, name: MultiHeadAttention(
        cfg, cross=cross, decode=self.decode, deterministic=self.deterministic, name=name)
    y = Norm(cfg, name="self_attention_norm")(x)
    x = x + dropout(attention(False, "self_attention")(y, None, self_bias, self_mask))
    y = Norm(cfg, name="cross_attention_norm")(x)
    x = x + dropout(attention(True, "cross_attention")(y, encoded, None, cross_mask))
    y = FeedForward(cfg, self.deterministic, name="mlp")(Norm(cfg, name="mlp_norm")(x))
    x = constrain(x + dropout(y), ("batch", "length", "embed"))
    return x, None


def _run_layers(block_cls, cfg: ModelConfig, num_layers: int, name: str, block_kwargs, x,
                *args):
  """Applies num_layers blocks, as one scanned stack (params get a leading "layers" axis) or
  as separately named layers; with remat by the configured policy."""
  if cfg.remat_policy != "none":
    block_cls = nn.remat(block_cls, policy=REMAT_POLICIES[cfg.remat_policy],
                         prevent_cse=not cfg.scan_layers)
  if cfg.scan_layers:
    stack = nn.scan(
        block_cls, variable_axes={"params": 0, "cache": 0},
        split_rngs={"params": True, "dropout": True}, in_axes=(nn.broadcast,) * len(args),
        length=num_layers, metadata_params={nn.PARTITION_NAME: "layers"})
    return stack(cfg, **block_kwargs, name=name)(x, *args)[0]
  for i in range(num_layers):
    x = block_cls(cfg, **block_kwargs, name=f"{name}_{i}")(x, *args)[0]
  return x


class Encoder(nn.Module):
  config: ModelConfig
  train: bool = False

  @nn.compact
  def __call__(self, text_embeddings, text_mask, image_tokens=None, image_mask=None):
    """text_embeddings [b, lt, d], text_mask [b, lt]; image_tokens [b, li, d], image_mask [b].
    Returns (encoded [b, li + lt, d], mask [b, li + lt])."""
    cfg = self.config
    lt = text_embeddings.shape[1]
    positions = jnp.arange(lt)
    bias = RelativePositionBias(cfg, bidirectional=True, name="relative_position_bias")(
        positions, positions)
    x, mask = text_embeddings, text_mask
    if image_tokens is not None:
      li = image_tokens.shape[1]
      x = jnp.concatenate([image_tokens, x], axis=1)
      mask = jnp.concatenate([jnp.broadcast_to(image_mask[:, None], (x.shape[0], li)), mask], 1)
      bias = jnp.pad(bias, ((0, 0), (0, 0), (li, 0), (li, 0)))
    x = nn.Dropout(cfg.dropout_rate)(x, deterministic=not self.train)
    x = constrain(x, ("batch", "length", "embed"))
    x = _run_layers(EncoderBlock, cfg, cfg.num_encoder_layers, "layers",
                    dict(deterministic=not self.train), x, bias, mask[:, None, None, :])
    x = Norm(cfg, name="final_norm")(x)
    return nn.Dropout(cfg.dropout_rate)(x, deterministic=not self.train), mask


class Decoder(nn.Module):
  config: ModelConfig
  train: bool = False
  decode: bool = False
  max_decode_length: int = 0  # cache size in decode mode

  @nn.compact
  def __call__(self, embeddings, encoded, encoder_mask):
    """embeddings [b, l, d] (l = 1 per step when decoding) -> hidden states [b, l, d]."""
    cfg = self.config
    length = embeddings.shape[1]
    relative_bias = RelativePositionBias(cfg, bidirectional=False, name="relative_position_bias")
    if self.decode:
      # Query positions continue from the previous step; the attention cache masks the keys.
      initialized = self.has_variable("cache", "position")
      position = self.variable("cache", "position", lambda: jnp.array(0, jnp.int32))
      if initialized:
        bias = relative_bias(position.value + jnp.arange(length),
                             jnp.arange(self.max_decode_length))
        position.value = position.value + length
        self_mask = None
      else:
        if length != self.max_decode_length:
          raise ValueError(f"the decoding cache is created with {length} positions but "
                           f"max_decode_length={self.max_decode_length}")
        bias = relative_bias(jnp.arange(length), jnp.arange(length))
        self_mask = jnp.tril(jnp.ones((length, length), bool))[None, None]
    else:
      bias = relative_bias(jnp.arange(length), jnp.arange(length))
      self_mask = jnp.tril(jnp.ones((length, length), bool))[None, None]
    x = nn.Dropout(cfg.dropout_rate)(embeddings, deterministic=not self.train)
    x = constrain(x, ("batch", "length", "embed"))
    x = _run_layers(DecoderBlock, cfg, cfg.num_decoder_layers, "layers",
                    dict(deterministic=not self.train, decode=self.decode),
                    x, encoded, bias, self_mask, encoder_mask[:, None, None, :])
    x = Norm(cfg, name="final_norm")(x)
    return nn.Dropout(cfg.dropout_rate)(x, deterministic=not self.train)


class EncoderDecoder(nn.Module):
  """logits = model(encoder_tokens, decoder_tokens, images=None, image_mask=None)."""
  config: ModelConfig
  train: bool = False
  decode: bool = False
  max_decode_length: int = 0  # cache size in decode mode (see init_cache)

  def setup(self):
    cfg = self.config
    self.embedding = nn.Embed(
        cfg.vocab_size, cfg.d_model, dtype=cfg.dtype, param_dtype=cfg.param_dtype,
        embedding_init=partitioned(normal_init(1.0), ("vocab", "embed")))
    self.vision = VisionEncoder(cfg, train=self.train)
    self.encoder = Encoder(cfg, train=self.train)
    self.decoder = Decoder(cfg, train=self.train, decode=self.decode,
                           max_decode_length=self.max_decode_length)
    if not cfg.tie_embeddings:
      self.lm_head = Dense((cfg.vocab_size,), ("embed", "vocab"), 1.0, cfg, use_bias=False)

  def __call__(self, encoder_tokens, decoder_tokens, images=None, image_mask=None):
    encoded, encoder_mask = self.encode(encoder_tokens, images, image_mask)
    return self.decode_logits(decoder_tokens, encoded, encoder_mask)

  def encode(self, encoder_tokens, images=None, image_mask=None):
    """Returns (encoded [b, l, d], encoder_mask [b, l]); l = image tokens + text tokens."""
    text_mask = encoder_tokens != self.config.pad_id
    image_tokens = None
    if images is not None:
      if image_mask is None:
        image_mask = jnp.ones(images.shape[:1], bool)
      image_tokens = self.vision(images, image_mask)
      # Text-only examples in a mixed batch: their image tokens are masked out and zeroed.
      image_tokens = jnp.where(image_mask[:, None, None], image_tokens, 0)
    return self.encoder(self.embedding(encoder_tokens), text_mask, image_tokens, image_mask)

  def decode_logits(self, decoder_tokens, encoded, encoder_mask):
    """decoder_tokens [b, l] -> float32 logits [b, l, vocab]. With decode=True, `encoded` is
    needed only while the cache is created (see init_cache); later steps may pass None."""
    cfg = self.config
    x = self.decoder(self.embedding(decoder_tokens), encoded, encoder_mask)
    if cfg.tie_embeddings:
      if cfg.scale_tied_logits:
        x = x * cfg.d_model ** -0.5
      logits = self.embedding.attend(x)
    else:
      logits = self.lm_head(x)
    return constrain(logits.astype(jnp.float32), ("batch", "length", "vocab"))


def init_cache(model: EncoderDecoder, params, encoded, encoder_mask, max_length: int):
  """(decoding model, fresh cache) for up to max_length steps, holding the encoder keys/values.

  Runs the decode-mode model once over max_length dummy tokens: that creates every cache
  variable with its full shape, and the cross-attention keys/values from `encoded`. Step with
  `decoding_model.apply({"params": params, "cache": cache}, tokens[:, None], None,
  encoder_mask, method=EncoderDecoder.decode_logits, mutable=["cache"])`.
  """
  decoder = model.clone(train=False, decode=True, max_decode_length=max_length)
  dummy = jnp.zeros((encoded.shape[0], max_length), jnp.int32)
  _, variables = decoder.apply({"params": params}, dummy, encoded, encoder_mask,
                               method=EncoderDecoder.decode_logits, mutable=["cache"])
  return decoder, variables["cache"]
