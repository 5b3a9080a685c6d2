"""Vision encoder + T5-style encoder-decoder (Flax Linen)."""

from biomed_jax.model.config import VARIANTS, ModelConfig, model_config
from biomed_jax.model.transformer import EncoderDecoder, Packing, init_cache
from biomed_jax.model.pretrained import PretrainedModel, from_pretrained, save_pretrained
