"""Tiny model on the shipped real sample mixture (six task families), CPU, a few minutes."""

from biomed_jax import config_lib


def get_config():
  c = config_lib.base_config("t5_tiny")
  c.model.image_size = 128
  c.data.mixture = config_lib.SAMPLE_MIXTURE
  c.data.batch_size = 16
  c.data.max_source_len = 128
  c.data.max_target_len = 32
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 50
  c.train.num_steps = 600
  c.train.checkpoint_every = 200
  c.eval.every_steps = 300
  return c
