"""Model configuration: one frozen dataclass and a small table of named sizes.

The transformer's variations (norm type, FFN type, tied embeddings, attention scaling) are
switches here, so T5 checkpoints and BiomedGPT-sized models use one implementation.
"""

import dataclasses
from typing import Any

# BiomedGPT sizes (OFA architecture names): encoder/decoder layers, width, heads, FFN and the
# ResNet depth of the three stages used (see reference: Base = ofa_base, Large = ofa_large,
# XLarge = ofa_huge). `tiny` keeps every code path but is small enough for unit tests.
VARIANTS: dict[str, dict[str, Any]] = {
    "tiny": dict(num_encoder_layers=2, num_decoder_layers=2, d_model=64, num_heads=4,
                 head_dim=16, d_ff=128, vision_layers=(1, 1, 1), vision_width=16),
    "base": dict(num_encoder_layers=6, num_decoder_layers=6, d_model=768, num_heads=12,
                 head_dim=64, d_ff=3072, vision_layers=(3, 4, 23), vision_width=64),
    "large": dict(num_encoder_layers=12, num_decoder_layers=12, d_model=1024, num_heads=16,
                  head_dim=64, d_ff=4096, vision_layers=(3, 8, 36), vision_width=64),
    "xlarge": dict(num_encoder_layers=24, num_decoder_layers=12, d_model=1280, num_heads=16,
                   head_dim=80, d_ff=5120, vision_layers=(3, 8, 36), vision_width=64),
}

NORM_TYPES = ("rms", "layer")
FFN_TYPES = ("relu", "gelu", "gated-gelu", "gated-silu")
REMAT_POLICIES = ("none", "full", "dots", "dots_with_no_batch_dims")

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
  dropout_rate: float = 0.1
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

  def __post_init__(self):
    checks = (("norm_type", NORM_TYPES), ("ffn_type", FFN_TYPES),
              ("remat_policy", REMAT_POLICIES))
    for key, allowed in checks:
      if getattr(self, key) not in allowed:
        raise ValueError(f"model.{key}={getattr(self, key)!r} is not one of {allowed}")
    if len(self.vision_layers) != 3:
      raise ValueError(f"model.vision_layers={self.vision_layers!r}: the vision encoder uses "
                       "exactly three ResNet stages")
    if self.image_size % 16 or self.image_size // 16 > self.image_position_buckets:
      raise ValueError(
          f"model.image_size={self.image_size} must be a multiple of 16 and at most "
          f"{16 * self.image_position_buckets} (16 x image_position_buckets)")

  @property
  def image_grid(self) -> int:
    return self.image_size // 16

  @property
  def num_image_tokens(self) -> int:
    return self.image_grid ** 2

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
  """The named size with any field overridden, e.g. model_config("large", dtype="bfloat16")."""
  if variant not in VARIANTS:
    raise ValueError(f"unknown model variant {variant!r}; known variants: {sorted(VARIANTS)}")
  return ModelConfig.from_dict({**VARIANTS[variant], **overrides})
