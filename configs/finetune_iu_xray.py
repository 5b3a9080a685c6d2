"""Fine-tune BiomedGPT-Base on iu_xray (configs/finetune.py:dataset=iu_xray as a file)."""

from configs import finetune


def get_config(arg=None):
  return finetune.get_config(f"dataset=iu_xray,{arg or 'variant=biomedgpt_base'}")
