"""BiomedGPT-Large (473M) instruction tuning; same mixture and recipe as XLarge."""

from biomed_jax import config_lib
from configs import xlarge_instruct


def get_config(arg=None):
  c = xlarge_instruct.instruct_config("biomedgpt_large", **config_lib.parse_arg(arg, data="benchmarks"))
  c.optimizer.learning_rate = 1e-4
  return c
