"""Fine-tune BiomedGPT-Base on pathmnist (configs/finetune.py:dataset=pathmnist as a file)."""

from configs import finetune


def get_config(arg=None):
  return finetune.get_config(f"dataset=pathmnist,{arg or 'variant=biomedgpt_base'}")
