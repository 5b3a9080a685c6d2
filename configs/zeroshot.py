"""Zero-shot evaluation of an instruction-tuned run on tasks held out of its mixture.

  python -m biomed_jax.main --config=configs/zeroshot.py:variant=biomedgpt_xlarge \
      --workdir=<the instruct run's workdir> --mode=evaluate --config.data.data_dir=PREPARED
The run's latest checkpoint is evaluated (EMA weights if it kept them) on every task below,
none of which it trained on.
"""

from biomed_jax import config_lib
from biomed_jax.data import recipes
from configs import xlarge_instruct

# The recipe's held-out tasks: no task of their datasets is in the instruct mixture.
HELD_OUT = recipes.BIOMEDGPT_INSTRUCT.build()[1]


def get_config(arg=None):
  args = config_lib.parse_arg(arg, variant="biomedgpt_xlarge", data="benchmarks")
  c = xlarge_instruct.instruct_config(args["variant"], args["data"])
  mixture = {name for name, _ in c.data.mixture}
  c.eval.tasks = tuple(t for t in HELD_OUT if t not in mixture)
  c.eval.max_examples = 0
  return c
