"""Metrics by name, and `compute`, the one call an evaluator makes.

A task declares metric names (biomed_jax/data/tasks.py, e.g. ("rouge", "cider", "bleu4")); the
evaluator decodes predictions, collects references (and, for VQA, answer types) and calls
`compute(task.metrics, predictions, references, answer_types)`, which returns every named
metric's scores in one flat dict of percentages.
"""

from collections.abc import Callable, Mapping, Sequence

from biomed_jax.metrics import captioning
from biomed_jax.metrics import classification
from biomed_jax.metrics import inputs
from biomed_jax.metrics import text_overlap

MetricFn = Callable[..., dict[str, float]]

# name -> fn(predictions, references, answer_types=None) -> {score name: percentage}
METRICS: Mapping[str, MetricFn] = {
    "accuracy": classification.accuracy,  # {accuracy}
    "vqa_accuracy": classification.vqa_accuracy,  # {vqa_accuracy, _closed, _open}
    "f1_macro": classification.f1_macro,  # {f1_macro, f1/<class>...}
    "rouge": text_overlap.rouge,  # {rouge1, rouge2, rougeL}
    "sacrebleu": text_overlap.sacrebleu,  # {sacrebleu}
    "bleu": captioning.bleu,  # {bleu1, bleu2, bleu3, bleu4}
    "bleu4": captioning.bleu4,  # {bleu4}
    "cider": captioning.cider,  # {cider}
    "meteor": captioning.meteor,  # {meteor}; needs Java
    "rouge_l_coco": captioning.rouge_l_coco,  # {rouge_l_coco}
}
# Other names tasks may use for the same metric.
ALIASES: Mapping[str, str] = {"vqa_accuracy_closed_open": "vqa_accuracy"}
NEEDS_ANSWER_TYPES = frozenset({"vqa_accuracy"})


def resolve(name: str) -> str:
  """The registered name for `name` (aliases followed); ValueError for an unknown one."""
  name = ALIASES.get(name, name)
  if name not in METRICS:
    known = ", ".join(sorted([*METRICS, *ALIASES]))
    raise ValueError(f"unknown metric {name!r}; known metrics: {known}")
  return name


def compute(metric_names: Sequence[str], predictions: Sequence[str],
            references: Sequence[str | Sequence[str]],
            answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """All scores of the named metrics, merged into one dict (percentages, 0-100).

  references: per example a string or a list of acceptable strings (several captions).
  answer_types: per example "CLOSED" or "OPEN"; needed by `vqa_accuracy` only.
  """
  if isinstance(metric_names, str):
    metric_names = (metric_names,)
  names = list(dict.fromkeys(resolve(n) for n in metric_names))
  # Fail on bad input before any (possibly slow) metric runs.
  inputs.reference_lists(",".join(names) or "compute", predictions, references)
  results: dict[str, float] = {}
  for name in names:
    results.update(METRICS[name](predictions, references, answer_types))
  return results
