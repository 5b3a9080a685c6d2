"""BiomedGPT-XLarge (929M, OFA flavour) instruction tuning on a mixture of all six task families.

  configs/xlarge_instruct.py             the benchmark mixture: the recipe
                                         biomed_jax/data/recipes.py:BIOMEDGPT_INSTRUCT
                                         (prepared datasets in --config.data.data_dir);
                                         configs/zeroshot.py evaluates its held-out tasks
  configs/xlarge_instruct.py:data=sample the shipped sample mixture, e.g. for a CPU check with
                                         --config.model.variant=t5_tiny (see README)
On a TPU pod the mesh fills fsdp with every chip.
"""

from biomed_jax import config_lib
from biomed_jax.data import recipes


def get_config(arg=None):
  return instruct_config("biomedgpt_xlarge", **config_lib.parse_arg(arg, data="benchmarks"))


def instruct_config(variant: str, data: str):
  c = config_lib.base_config(variant)
  c.model.dtype = "bfloat16"
  c.model.remat_policy = "dots_with_no_batch_dims"
  c.mesh.fsdp = -1
  if data == "sample":
    c.data.mixture = config_lib.SAMPLE_MIXTURE
  elif data == "benchmarks":
    c.data.mixture, _ = recipes.BIOMEDGPT_INSTRUCT.build()  # held-out ones: configs/zeroshot.py
  else:
    raise ValueError(f"config argument data={data!r}: use benchmarks or sample")
  c.data.batch_size = 256
  c.data.max_source_len = 256
  c.data.max_target_len = 128
  c.optimizer.learning_rate = 5e-5
  c.optimizer.warmup_steps = 1000
  c.train.num_steps = 50_000
  c.train.checkpoint_every = 1000
  c.eval.every_steps = 5000
  # Periodic evaluation on the tasks with a validation split (llava_med and bioinstruct have
  # only train; vqa_rad, pmc_vqa and peir_gross keep their test split for the final numbers).
  c.eval.tasks = tuple(name for name, _ in c.data.mixture
                       if "validation" in config_lib.task_splits(name))
  c.eval.max_examples = 500
  return c
