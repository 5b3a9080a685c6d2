"""One check of the whole config before anything is read, compiled or written.

Every problem found is listed in one ConfigError (the key, the value, and what would do), so a
run that cannot finish is refused before step 1 instead of crashing at its first evaluation
or silently doing nothing. `check_resume` adds the one check that needs the workdir: the
number of steps must not be below the latest checkpoint.
"""

import math

import ml_collections

from biomed_jax.config_lib import task_splits
from biomed_jax.data.pipeline import BAD_RECORD_POLICIES
from biomed_jax.data.objectives import OBJECTIVES
from biomed_jax.data.tasks import SAMPLE_TASKS, TASKS, evaluated_by_default, get_task
from biomed_jax.training.step import LOSS_NORMALIZATIONS

DECODE_METHODS = ("greedy", "beam")
EVALUATING_MODES = ("evaluate", "train_and_evaluate")


class ConfigError(ValueError):
  """A config that cannot run; the message lists every problem, one per line."""


def _known(name: str) -> bool:
  try:
    get_task(name)
  except KeyError:
    return False
  return True


def _task_problems(config: ml_collections.ConfigDict, mode: str) -> list[str]:
  problems = []
  mixture = [name for name, _ in config.data.mixture]
  evaluated = list(config.eval.tasks) or evaluated_by_default(n for n in mixture if _known(n))
  unknown = sorted({n for n in mixture + evaluated if not _known(n)})
  if unknown:
    problems.append(f"unknown task(s) {unknown} in config.data.mixture / config.eval.tasks; "
                    f"registered: {', '.join(sorted(TASKS))}; pre-training objectives: "
                    f"{', '.join(OBJECTIVES)} as '<objective>:<task>'")
  objectives_evaluated = [n for n in config.eval.tasks if _known(n) and get_task(n).objective]
  if objectives_evaluated:
    problems.append(f"config.eval.tasks: {objectives_evaluated} are pre-training objectives, "
                    "not evaluation tasks; evaluate their base tasks instead")
  mixture, evaluated = ([n for n in names if _known(n)] for names in (mixture, evaluated))
  for name, weight in config.data.mixture:
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
      problems.append(f"config.data.mixture: task {name!r} has weight {weight!r}; weights "
                      "must be positive")
  for name in mixture:
    if "train" not in task_splits(name):
      problems.append(f"config.data.mixture: task {name!r} has no train split "
                      f"(splits: {task_splits(name)})")
  if mode in EVALUATING_MODES:
    split = config.eval.split
    for name in evaluated:
      if split not in task_splits(name):
        problems.append(f"config.eval.split={split!r}: task {name!r} has only "
                        f"{task_splits(name)}; set --config.eval.split or leave the task out of "
                        "config.eval.tasks")
  needs_data = [n for n in set(mixture + (evaluated if mode in EVALUATING_MODES else []))
                if get_task(n).dataset not in SAMPLE_TASKS]
  if needs_data and not config.data.data_dir:
    problems.append(
        f"tasks {sorted(needs_data)} read prepared datasets, but config.data.data_dir is empty: "
        "prepare them with `python -m biomed_jax.data.prepare --dataset=all "
        "--manual_dir=<downloads> --data_dir=<out>` and pass --config.data.data_dir=<out>")
  return problems


def _number_problems(config: ml_collections.ConfigDict) -> list[str]:
  problems = []

  def need(key: str, ok, what: str):
    section, name = key.split(".")
    value = config[section][name]
    if not ok(value):
      problems.append(f"config.{key}={value!r}: {what}")

  positive_int = lambda v: isinstance(v, int) and v >= 1
  for key in ("train.num_steps", "train.log_every", "train.checkpoint_every",
              "eval.every_steps", "train.grad_accum_steps", "train.max_consecutive_nonfinite",
              "data.batch_size", "eval.batch_size", "eval.beam_size"):
    need(key, positive_int, "must be an integer >= 1")
  need("train.keep_checkpoints", positive_int,
       "must be >= 1 (0 would delete every checkpoint the run writes)")
  finite = lambda v: isinstance(v, (int, float)) and math.isfinite(v)
  need("optimizer.learning_rate", lambda v: finite(v) and v > 0, "must be a finite number > 0")
  need("optimizer.warmup_steps", lambda v: isinstance(v, int) and v >= 0, "must be >= 0")
  need("optimizer.end_learning_rate_factor", lambda v: finite(v) and 0 <= v <= 1,
       "must be in [0, 1]")
  need("optimizer.grad_clip_norm", lambda v: finite(v) and v >= 0, "must be >= 0")
  need("optimizer.weight_decay", lambda v: finite(v) and v >= 0, "must be >= 0")
  need("optimizer.label_smoothing", lambda v: finite(v) and 0 <= v < 1, "must be in [0, 1)")
  need("train.ema_decay", lambda v: finite(v) and 0 <= v < 1, "must be in [0, 1)")
  need("eval.max_examples", lambda v: isinstance(v, int) and v >= 0, "must be >= 0 (0 = all)")
  need("eval.decode_method", lambda v: v in DECODE_METHODS, f"use one of {DECODE_METHODS}")
  need("data.bad_records_train", lambda v: v in BAD_RECORD_POLICIES,
       f"use one of {BAD_RECORD_POLICIES}")
  need("data.bad_records_eval", lambda v: v in BAD_RECORD_POLICIES,
       f"use one of {BAD_RECORD_POLICIES}")
  need("data.worker_count", lambda v: isinstance(v, int) and v >= 0, "must be >= 0")
  need("train.loss_normalization", lambda v: v in LOSS_NORMALIZATIONS,
       f"use one of {LOSS_NORMALIZATIONS}")
  return problems


def check(config: ml_collections.ConfigDict, mode: str) -> None:
  """Raises ConfigError listing every problem of `config` for `mode`."""
  problems = []
  if not config.data.mixture:
    problems.append("config.data.mixture is empty: name at least one (task, weight)")
  problems += _number_problems(config)
  problems += _task_problems(config, mode)
  if problems:
    raise ConfigError("the config cannot run:\n  " + "\n  ".join(problems))


def check_resume(config: ml_collections.ConfigDict, mode: str, latest_step: int | None,
                 directory: str) -> None:
  """Training must go somewhere from the latest checkpoint."""
  if mode == "evaluate" or latest_step is None:
    return
  if config.train.num_steps < latest_step:
    raise ConfigError(f"config.train.num_steps={config.train.num_steps} is below the latest "
                      f"checkpoint, step {latest_step} in {directory}: raise num_steps to "
                      "continue, or use a new --workdir")
