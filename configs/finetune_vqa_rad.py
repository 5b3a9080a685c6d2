"""Fine-tune BiomedGPT-Base on vqa_rad (configs/finetune.py:dataset=vqa_rad as a file)."""

from configs import finetune


def get_config(arg=None):
  return finetune.get_config(f"dataset=vqa_rad,{arg or 'variant=biomedgpt_base'}")
