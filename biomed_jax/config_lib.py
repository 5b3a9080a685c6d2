"""Building blocks for the config files in configs/.

A config file composes three choices: model size (`config.model.variant`), task or mixture
(`config.data`), and scale (`config.mesh`, batch size). Every key exists in the base config, so
a mistyped `--config.foo=...` is an error that names the key.
"""

import dataclasses

import ml_collections
from ml_collections import config_dict

from biomed_jax.model.config import ModelConfig, model_config


def model_section(variant: str) -> ml_collections.ConfigDict:
  """`variant` picks a row of biomed_jax.model.config.VARIANTS; any other field left None
  takes the variant's (or the default) value, e.g. --config.model.dtype=bfloat16."""
  section = ml_collections.ConfigDict({"variant": variant})
  for field in dataclasses.fields(ModelConfig):
    kind = {"vision_layers": tuple, "attention_scale": float}.get(field.name,
                                                                   type(field.default))
    section[field.name] = config_dict.placeholder(kind)
  return section


def resolve_model_config(section: ml_collections.ConfigDict) -> ModelConfig:
  overrides = {k: v for k, v in section.items() if k != "variant" and v is not None}
  return model_config(section.variant, **overrides)


def base_config(variant: str = "tiny") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = model_section(variant)
  # Mesh axis sizes; -1 fills the remaining devices. Pods: raise fsdp first, tensor for
  # models whose layers no longer fit one chip's share.
  c.mesh = ml_collections.ConfigDict({"data": 1, "fsdp": -1, "tensor": 1})
  # [logical axis, mesh axis or axes or None] pairs; empty = biomed_jax.sharding.DEFAULT_RULES.
  c.sharding = ml_collections.ConfigDict({"rules": config_dict.placeholder(tuple)})

  c.data = ml_collections.ConfigDict()
  c.data.mixture = ()  # ((task, weight), ...)
  c.data.batch_size = 8  # global, over all hosts
  c.data.max_source_len = 128
  c.data.max_target_len = 64
  c.data.data_dir = ""  # prepared ArrayRecord datasets (python -m biomed_jax.data.prepare)

  c.optimizer = ml_collections.ConfigDict(dict(
      learning_rate=1e-4, warmup_steps=100, decay="linear", end_learning_rate_factor=0.0,
      b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01, grad_clip_norm=1.0,
      label_smoothing=0.1))

  c.train = ml_collections.ConfigDict(dict(num_steps=1000))
  c.init_from = ""  # a pretrained folder (python -m biomed_jax.convert.hf_t5 ...)
  return c
