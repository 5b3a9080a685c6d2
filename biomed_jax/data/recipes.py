"""Instruction-tuning mixtures built from any subset of the registered tasks.

    recipe = InstructRecipe(tasks=("slake", "path_vqa", "llava_med", "box", "bioinstruct"),
                            held_out=("vqa_rad",), templates={"slake": (0,)})
    mixture, eval_tasks = recipe.build(data_dir=PREPARED)
    config.data.mixture, config.eval.tasks = mixture, eval_tasks

The recipe, step by step:
  1. Tasks: any registry names (biomed_jax/data/tasks.py). A task in `held_out`, or whose
     family is in `held_out_families`, is not trained on; no trained task may read the
     dataset of a held-out one (that would leak the zero-shot test).
  2. Weights: `weights[task]` where given; otherwise by `weighting`: "equal" (1.0) or "sqrt"
     (default): sqrt(n / reference_size) clipped to [floor, cap], n = the task's prepared
     training records from its prepare_report.json under `data_dir` (1.0 when not prepared),
     so small benchmarks are not drowned by large ones and large ones do not take over.
  3. Templates: `templates[task]` = the indices of its instruction templates used in training
     (default: all, one drawn per example); the task then appears as "task@0,2" (tasks.py).
  4. Evaluation: the held-out tasks, zero-shot (plus `eval_tasks` given explicitly).

BIOMEDGPT_INSTRUCT is the recipe of configs/xlarge_instruct.py and large_instruct.py: all six
benchmark families plus the instruction sources, with hand weights near sqrt of each
dataset's published size, and the benchmarks BiomedGPT evaluates zero-shot held out.
"""

import dataclasses
import math
from collections.abc import Mapping

from biomed_jax.data import prepare_report
from biomed_jax.data import tasks as tasks_lib

WEIGHTINGS = ("sqrt", "equal")


@dataclasses.dataclass(frozen=True)
class InstructRecipe:
  tasks: tuple[str, ...]
  weights: Mapping[str, float] = dataclasses.field(default_factory=dict)
  weighting: str = "sqrt"
  reference_size: int = 10_000
  floor: float = 0.2
  cap: float = 3.0
  templates: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
  held_out: tuple[str, ...] = ()
  held_out_families: tuple[str, ...] = ()
  eval_tasks: tuple[str, ...] = ()

  def build(self, data_dir: str | None = None
            ) -> tuple[tuple[tuple[str, float], ...], tuple[str, ...]]:
    """((task, weight), ...) to train on and the tasks to evaluate zero-shot."""
    if self.weighting not in WEIGHTINGS:
      raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
    unknown = [n for n in {*self.weights, *self.templates} if n not in self.tasks]
    if unknown:
      raise ValueError(f"weights/templates name tasks outside the recipe: {sorted(unknown)}")
    every = [tasks_lib.get_task(name) for name in (*self.tasks, *self.held_out)]
    held = {t.name for t in every
            if t.name in self.held_out or t.family in self.held_out_families}
    trained = [t for t in every[:len(self.tasks)] if t.name not in held]
    held_datasets = {t.dataset for t in every if t.name in held}
    leaks = sorted(t.name for t in trained if t.dataset in held_datasets)
    if leaks:
      raise ValueError(f"tasks {leaks} read the dataset of a held-out task")
    if not trained:
      raise ValueError("the recipe holds out every task: nothing to train on")
    mixture = []
    for task in trained:
      name = task.name
      if name in self.templates:
        name = f"{name}@{','.join(str(i) for i in self.templates[name])}"
        tasks_lib.get_task(name)  # checks the indices now, not at the first batch
      mixture.append((name, round(self._weight(task, data_dir), 3)))
    held_in_order = [t.name for t in every if t.name in held]
    evaluate = tuple(dict.fromkeys([*held_in_order, *self.eval_tasks]))
    return tuple(mixture), evaluate

  def _weight(self, task: tasks_lib.Task, data_dir: str | None) -> float:
    if task.name in self.weights:
      weight = float(self.weights[task.name])
      if not weight > 0:
        raise ValueError(f"weight of {task.name} must be > 0, got {weight}")
      return weight
    if self.weighting == "equal":
      return 1.0
    size = train_size(task.dataset, data_dir) if data_dir else None
    if size is None:
      return 1.0
    return min(self.cap, max(self.floor, math.sqrt(size / self.reference_size)))


def train_size(dataset: str, data_dir: str) -> int | None:
  """Prepared training records of `dataset` (its prepare report), or None if not prepared."""
  # Imported here: TFDS takes seconds to import, and configs import this module.
  from biomed_jax.data import tfds_builders  # pylint: disable=g-import-not-at-top
  report = prepare_report.load(tfds_builders.prepared_dir(data_dir, dataset))
  if report is None or "train" not in report.get("splits", {}):
    return None
  return int(report["splits"]["train"]["records"])


BIOMEDGPT_INSTRUCT = InstructRecipe(
    tasks=(
        # image classification
        "pathmnist", "dermamnist", "octmnist", "pneumoniamnist", "bloodmnist", "breastmnist",
        "organamnist", "cbis_ddsm",
        # VQA
        "vqa_rad", "slake", "path_vqa", "pmc_vqa",
        # captioning / report generation
        "iu_xray", "peir_gross", "roco",
        # text understanding, summarization, question answering
        "mednli", "trec_ct_2022", "meqsum", "healthcaremagic", "pubmedqa", "medqa", "medmcqa",
        "bioasq",
        # instruction sources: LLaVA-Med conversations (every turn), BioInstruct, BoX
        "llava_med", "bioinstruct", "box",
    ),
    weights={
        "pathmnist": 1.0, "dermamnist": 0.5, "octmnist": 1.0, "pneumoniamnist": 0.3,
        "bloodmnist": 0.5, "breastmnist": 0.2, "organamnist": 0.5, "cbis_ddsm": 0.3,
        "vqa_rad": 0.5, "slake": 0.8, "path_vqa": 1.5, "pmc_vqa": 2.0,
        "iu_xray": 0.5, "peir_gross": 0.5, "roco": 1.5,
        "mednli": 0.8, "trec_ct_2022": 0.8, "meqsum": 0.3, "healthcaremagic": 1.0,
        "pubmedqa": 0.3, "medqa": 1.0, "medmcqa": 1.5, "bioasq": 0.3,
        "llava_med": 1.0, "bioinstruct": 1.0, "box": 1.5,
    },
    # No task of these datasets is trained on: BiomedGPT-style zero-shot evaluation. (The
    # MIMIC-CXR reports are held out together: findings->impression shares report text with
    # report generation.)
    held_out=("rsna_pneumonia", "shenzhen_cxr", "montgomery_cxr", "mimic_cxr", "mimic_cxr_sum",
              "mimic_iii", "icliniq", "retinamnist", "tissuemnist", "organcmnist",
              "organsmnist", "chestmnist"),
)
