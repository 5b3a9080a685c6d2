"""Fine-tune BiomedGPT-Base on pubmedqa (configs/finetune.py:dataset=pubmedqa as a file)."""

from configs import finetune


def get_config(arg=None):
  return finetune.get_config(f"dataset=pubmedqa,{arg or 'variant=biomedgpt_base'}")
