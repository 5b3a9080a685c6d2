"""Model configuration: one frozen dataclass and a small table of named sizes.

The transformer's variations (position bias, norms, FFN type, embeddings, attention scaling,
special ids) are switches here, so T5 checkpoints and BiomedGPT (OFA) checkpoints use one
implementation: a flavour is a set of switch values, a variant a flavour at one size.
"""

import dataclasses
from typing import Any

# The BiomedGPT/OFA flavour (reference: OFA's unify_transformer run with BiomedGPT's flags
# --encoder/decoder-normalize-before --share-all-embeddings --layernorm-embedding
# --patch-layernorm-embedding --add-type-embedding --scale-attn --scale-fc --scale-heads
# --disable-entangle, attention scale factor 2). Sizes are set per variant below.
OFA_FLAVOUR: dict[str, Any] = dict(
    position_bias="ofa", norm_type="layer", layer_norm_epsilon=1e-5, use_bias=True,
    normformer=True, head_scale=True, type_embedding=True, embedding_norm=True,
    ffn_type="gelu", tie_embeddings=True, scale_tied_logits=False,
    token_bucket_size=256, max_positions=1024, image_position_buckets=42,
    dropout_rate=0.1, attention_dropout_rate=0.0, activation_dropout_rate=0.0,
    drop_path_rate=0.0, batch_norm_momentum=0.9, batch_norm_epsilon=1e-5, vision_width=64,
    # GPT-2 BPE mapped through fairseq's dict.txt + <mask>, 8,192 <code_i>, 1,000 <bin_i>:
    # 59,457 ids, the table padded to a multiple of 128 so it shards; padding never scores.
    vocab_size=59_520, logit_vocab_size=59_457, pad_id=1, eos_id=2, bos_id=0)


def _ofa(d_model, heads, ffn, encoder_layers, decoder_layers, resnet):
  head_dim = d_model // heads
  return dict(OFA_FLAVOUR, d_model=d_model, num_heads=heads, head_dim=head_dim, d_ff=ffn,
              num_encoder_layers=encoder_layers, num_decoder_layers=decoder_layers,
              vision_layers=resnet, attention_scale=(head_dim * 2.0) ** -0.5)


# Two flavours of one transformer. `t5_*`: T5-style blocks at BiomedGPT's sizes with the
# shipped SentencePiece vocabulary (and `t5_tiny` for tests and the demo). `biomedgpt_*`:
# BiomedGPT exactly (OFA sizes ofa_tiny .. ofa_huge; ResNet-50/101/152 stages 1-3), so the
# released checkpoints load (python -m biomed_jax.convert.biomedgpt).
VARIANTS: dict[str, dict[str, Any]] = {
    "t5_tiny": dict(num_encoder_layers=2, num_decoder_layers=2, d_model=64, num_heads=4,
                    head_dim=16, d_ff=128, vision_layers=(1, 1, 1), vision_width=16),
    "t5_base": dict(num_encoder_layers=6, num_decoder_layers=6, d_model=768, num_heads=12,
                    head_dim=64, d_ff=3072, vision_layers=(3, 4, 23), vision_width=64),
    "t5_large": dict(num_encoder_layers=12, num_decoder_layers=12, d_model=1024,
                     num_heads=16, head_dim=64, d_ff=4096, vision_layers=(3, 8, 36),
                     vision_width=64),
    "t5_xlarge": dict(num_encoder_layers=24, num_decoder_layers=12, d_model=1280,
                      num_heads=16, head_dim=80, d_ff=5120, vision_layers=(3, 8, 36),
                      vision_width=64),
    "biomedgpt_tiny": _ofa(256, 4, 1024, 4, 4, (3, 4, 6)),
    "biomedgpt_medium": _ofa(512, 8, 2048, 4, 4, (3, 4, 23)),
    "biomedgpt_base": _ofa(768, 12, 3072, 6, 6, (3, 4, 23)),
    "biomedgpt_large": _ofa(1024, 16, 4096, 12, 12, (3, 8, 36)),
    "biomedgpt_xlarge": _ofa(1280, 16, 5120, 24, 12, (3, 8, 36)),
}

# Attention projections and FFN matrices of every block (not the position projections, the
# vision projection or the output layer).
LORA_DEFAULT_TARGETS = r".*attention/(query|key|value|out)|.*mlp/(wi|wi_0|wi_1|wo)"

NORM_TYPES = ("rms", "layer")
POSITION_BIASES = ("t5", "ofa")
FFN_TYPES = ("relu", "gelu", "gated-gelu", "gated-silu")
REMAT_POLICIES = ("none", "full", "dots", "dots_with_no_batch_dims")
ATTENTION_IMPLS = ("xla", "cudnn", "pallas_tpu", "auto")  # model/attention_kernels.py

# The unified vocabulary of the shipped tokenizer (32,000 SentencePiece pieces + 1,000
# location tokens + specials), padded to a multiple of 128 so it shards evenly.
DEFAULT_VOCAB_SIZE = 33_024


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Everything that fixes the parameter shapes and the forward computation."""
  vocab_size: int = DEFAULT_VOCAB_SIZE
  d_model: int = 64
  num_heads: int = 4
  head_dim: int = 16
  d_ff: int = 128
  num_encoder_layers: int = 2
  num_decoder_layers: int = 2
  # Transformer flavour. T5 v1.0: relu + tied; v1.1 / Flan-T5: gated-gelu + untied.
  # BiomedGPT sizes use a plain GELU FFN (two matrices), which is what gives XLarge ~930M.
  ffn_type: str = "gelu"
  norm_type: str = "rms"
  layer_norm_epsilon: float = 1e-6
  use_bias: bool = False
  tie_embeddings: bool = True
  # T5 scales the decoder output by d_model**-0.5 before the tied output projection.
  scale_tied_logits: bool = True
  # None = T5 (no 1/sqrt(d) in attention; folded into the query initialisation).
  attention_scale: float | None = None
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  # "t5": one bucketed relative bias shared by all layers (text), learned 2-D positions
  # added to image tokens. "ofa": an absolute-position term (q/k projections of position
  # embeddings; image positions only here) plus per-layer text (1-D) and image (2-D)
  # relative tables, in the encoder, decoder self- and cross-attention.
  position_bias: str = "t5"
  token_bucket_size: int = 256  # ofa: text relative buckets per direction
  max_positions: int = 1024  # ofa: text positions per stack (tables hold 2 more rows)
  normformer: bool = False  # LayerNorm after each attention and on the FFN hidden
  head_scale: bool = False  # learned per-head scale of the attention output
  type_embedding: bool = False  # text = type 0, image = type 1 (encoder)
  embedding_norm: bool = False  # LayerNorm on token embeddings and projected patches
  # Rows >= logit_vocab_size pad the table for sharding and never enter the softmax.
  logit_vocab_size: int | None = None
  dropout_rate: float = 0.1  # residual branches and embeddings
  attention_dropout_rate: float | None = None  # None: dropout_rate (T5)
  activation_dropout_rate: float | None = None  # FFN hidden; None: dropout_rate (T5)
  drop_path_rate: float = 0.0  # per sample, rising linearly from 0 at the first layer
  # Special ids the masks, the data pipeline and decoding agree on. T5: pad=0 is also the
  # decoder start, eos=1. BiomedGPT/OFA: <s>=0 starts the decoder, <pad>=1, </s>=2.
  pad_id: int = 0
  eos_id: int = 1
  bos_id: int = 0  # decoder start token
  # Vision encoder: the first three ResNet stages (stride 16), projected to d_model tokens.
  vision_layers: tuple[int, ...] = (1, 1, 1)
  vision_width: int = 16  # stem width; the stage outputs are 4x, 8x, 16x this
  image_size: int = 384
  image_position_buckets: int = 42  # learned 2-D grid: images up to 16 * 42 = 672 px
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  # Numerics and memory.
  dtype: str = "float32"  # activations / compute
  param_dtype: str = "float32"
  scan_layers: bool = True
  remat_policy: str = "none"
  # xla: einsums (every platform); cudnn / pallas_tpu: fused flash-attention kernels
  # (GPU / TPU; no attention dropout); auto: the platform's kernel (attention_kernels.py).
  # Decoding steps with a KV cache always use xla.
  attention_impl: str = "xla"
  # LoRA (biomed_jax/model/lora.py): rank > 0 adds adapters to every dense layer whose module
  # path ("encoder/layers/attention/query") fully matches lora_targets; only they train.
  lora_rank: int = 0
  lora_alpha: float = 16.0
  lora_dropout: float = 0.0
  lora_targets: str = LORA_DEFAULT_TARGETS

  def __post_init__(self):
    checks = (("norm_type", NORM_TYPES), ("ffn_type", FFN_TYPES),
              ("remat_policy", REMAT_POLICIES), ("position_bias", POSITION_BIASES),
              ("attention_impl", ATTENTION_IMPLS))
    for key, allowed in checks:
      if getattr(self, key) not in allowed:
        raise ValueError(f"model.{key}={getattr(self, key)!r} is not one of {allowed}")
    if self.attention_impl != "xla" and self.attention_dropout > 0:
      raise ValueError(f"model.attention_impl={self.attention_impl!r}: the fused kernels "
                       "apply no dropout to the attention weights; set "
                       "model.attention_dropout_rate=0.0 (it is model.dropout_rate="
                       f"{self.dropout_rate} when unset) or use attention_impl='xla'")
    if len(self.vision_layers) != 3:
      raise ValueError(f"model.vision_layers={self.vision_layers!r}: the vision encoder uses "
                       "exactly three ResNet stages")
    if self.image_size % 16 or self.image_size // 16 > self.image_position_buckets:
      raise ValueError(
          f"model.image_size={self.image_size} must be a multiple of 16 and at most "
          f"{16 * self.image_position_buckets} (16 x image_position_buckets)")

    if self.logit_vocab_size is not None and not 0 < self.logit_vocab_size <= self.vocab_size:
      raise ValueError(f"model.logit_vocab_size={self.logit_vocab_size} must be in "
                       f"(0, model.vocab_size={self.vocab_size}]")
    if self.lora_rank < 0 or not 0.0 <= self.lora_dropout < 1.0:
      raise ValueError(f"model.lora_rank={self.lora_rank} must be >= 0 and model.lora_dropout="
                       f"{self.lora_dropout} in [0, 1)")
    if not 0.0 <= self.drop_path_rate < 1.0:
      raise ValueError(f"model.drop_path_rate={self.drop_path_rate} must be in [0, 1)")

  @property
  def image_grid(self) -> int:
    return self.image_size // 16

  @property
  def num_image_tokens(self) -> int:
    return self.image_grid ** 2

  @property
  def attention_dropout(self) -> float:
    return self.dropout_rate if self.attention_dropout_rate is None else (
        self.attention_dropout_rate)

  @property
  def activation_dropout(self) -> float:
    return self.dropout_rate if self.activation_dropout_rate is None else (
        self.activation_dropout_rate)

  @property
  def vision_channels(self) -> int:
    return self.vision_width * 16  # bottleneck expansion 4 x stage-3 width (4 x stem width)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"unknown model config keys {unknown}; known keys: {sorted(known)}")
    values = dict(values)
    if "vision_layers" in values:
      values["vision_layers"] = tuple(values["vision_layers"])
    return cls(**values)


def model_config(variant: str, **overrides) -> ModelConfig:
  """The named size with any field overridden, e.g. model_config("biomedgpt_large", dtype="bfloat16")."""
  if variant not in VARIANTS:
    raise ValueError(f"unknown model variant {variant!r}; known variants: {sorted(VARIANTS)}")
  return ModelConfig.from_dict({**VARIANTS[variant], **overrides})
