"""Fine-tune BiomedGPT-Base on meqsum (configs/finetune.py:dataset=meqsum as a file)."""

from configs import finetune


def get_config(arg=None):
  return finetune.get_config(f"dataset=meqsum,{arg or 'variant=biomedgpt_base'}")
