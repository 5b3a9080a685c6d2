"""Fine-tune BiomedGPT-Base on mednli (configs/finetune.py:dataset=mednli as a file)."""

from configs import finetune


def get_config(arg=None):
  return finetune.get_config(f"dataset=mednli,{arg or 'variant=biomedgpt_base'}")
