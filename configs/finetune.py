"""Fine-tuning on one benchmark dataset, in its family's recipe.

  --config=configs/finetune.py:dataset=vqa_rad,variant=base
Datasets: any task name of biomed_jax/data/tasks.py (vqa_rad, slake, path_vqa, pmc_vqa,
pathmnist ..., iu_xray, mimic_cxr, roco, peir_gross, mednli, meqsum, pubmedqa, medqa,
medmcqa, ...), prepared first with python -m biomed_jax.data.prepare (data_dir below).
Start from weights with --config.init_from=DIR (e.g. a converted T5, or an instruct run).
"""

from biomed_jax import config_lib
from biomed_jax.data.tasks import get_task

# Per family: (learning rate, steps, batch) in BiomedGPT's range for Base-size fine-tuning.
RECIPES = {
    "vqa": (5e-5, 10_000, 64),
    "image_classification": (5e-5, 5_000, 64),
    "captioning": (5e-5, 10_000, 32),
    "text_understanding": (3e-5, 5_000, 32),
    "summarization": (3e-5, 5_000, 16),
    "question_answering": (3e-5, 5_000, 16),
}


def get_config(arg=None):
  args = config_lib.parse_arg(arg, dataset="vqa_rad", variant="base")
  task = get_task(args["dataset"])
  c = config_lib.base_config(args["variant"])
  c.data.mixture = ((task.name, 1.0),)
  config_lib.use_task_lengths(c)
  lr, steps, batch = RECIPES[task.family]
  c.optimizer.learning_rate = lr
  c.optimizer.warmup_steps = steps // 20
  c.train.num_steps = steps
  c.data.batch_size = batch
  c.train.ema_decay = 0.9999 if task.family == "vqa" else 0.0  # BiomedGPT's VQA recipe
  c.eval.every_steps = steps // 5
  c.eval.split = config_lib.held_out_split(task.name)
  return c
