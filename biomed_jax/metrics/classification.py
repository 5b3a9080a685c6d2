"""Exact-match metrics: accuracy, VQA accuracy split closed/open, macro-F1.

Answers are compared after `normalize_answer`. It follows BiomedGPT/OFA's evaluation on
VQA-RAD, SLAKE and PathVQA, where a prediction scores when its stripped text equals the
reference answer (taokz/BiomedGPT utils/eval_utils.py, eval_vqa_gen: `ref_dict.get(hyp, 0)`),
with answers lower-cased and stripped when the data is prepared
(scripts/preprocess/finetuning/vqa_rad.py: `str(answer).lower().strip()`), and closed/open
accuracy is that match averaged over the examples of each answer type. We lower-case both sides
for every dataset (SLAKE's script keeps the published case), collapse runs of whitespace and
drop trailing sentence punctuation, so "Yes." == "yes" and " Left  lung" == "left lung" (the
target formatter writes answers the same way). Unlike the VQA v2 / LLaVA-Med scripts we do
*not* drop articles or map number words ("two" stays "two"): medical answers such as "the left
lung" are exact labels in these datasets.

All scores are percentages (0-100).
"""

from collections.abc import Sequence

from biomed_jax.metrics import inputs

_TRAILING = " .,;:!?"
ANSWER_TYPES = ("CLOSED", "OPEN")


def normalize_answer(text: str) -> str:
  """Lower case, single spaces, no leading/trailing spaces or trailing .,;:!?"""
  return " ".join(text.split()).lower().rstrip(_TRAILING)


def _hits(predictions: list[str], references: list[list[str]]) -> list[bool]:
  return [normalize_answer(p) in {normalize_answer(r) for r in refs}
          for p, refs in zip(predictions, references)]


def _percent(hits: Sequence[bool]) -> float:
  return 100.0 * sum(hits) / len(hits)


def accuracy(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
             answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """Share of predictions equal (after normalisation) to one of the example's references."""
  del answer_types  # Same signature as every metric.
  preds, refs = inputs.reference_lists("accuracy", predictions, references)
  return {"accuracy": _percent(_hits(preds, refs))}


def check_answer_types(metric: str, answer_types: Sequence[str] | None, n: int) -> list[str]:
  if answer_types is None:
    raise inputs.MetricInputError(metric, "needs answer_types ('CLOSED'/'OPEN' per example)")
  if isinstance(answer_types, str) or not isinstance(answer_types, Sequence):
    raise inputs.MetricInputError(metric, "answer_types must be a list of 'CLOSED'/'OPEN'")
  if len(answer_types) != n:
    raise inputs.MetricInputError(metric, f"{n} predictions but {len(answer_types)} "
                                  "answer_types")
  kinds = []
  for i, kind in enumerate(answer_types):
    kind_ = kind.strip().upper() if isinstance(kind, str) else kind
    if kind_ not in ANSWER_TYPES:
      raise inputs.MetricInputError(metric, f"answer_type {kind!r} is not one of "
                                    f"{ANSWER_TYPES}", i)
    kinds.append(kind_)
  return kinds


def vqa_accuracy(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
                 answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """Exact-match accuracy overall and per answer type.

  Returns `vqa_accuracy` (all examples), `vqa_accuracy_closed` and `vqa_accuracy_open`; a
  split with no example is left out rather than reported as 0.
  """
  preds, refs = inputs.reference_lists("vqa_accuracy", predictions, references)
  kinds = check_answer_types("vqa_accuracy", answer_types, len(preds))
  hits = _hits(preds, refs)
  out = {"vqa_accuracy": _percent(hits)}
  for kind in ANSWER_TYPES:
    split = [h for h, k in zip(hits, kinds) if k == kind]
    if split:
      out[f"vqa_accuracy_{kind.lower()}"] = _percent(split)
  return out


def f1_scores(predictions: Sequence[str], references: Sequence[str],
              labels: Sequence[str] | None = None) -> dict[str, float]:
  """Macro-F1 over classes, and each class's F1 (keys `f1/<class>`).

  The classes are the (normalised) reference labels, plus `labels` when given. A prediction
  that is not one of them (free generation can produce anything) counts as a miss of the true
  class, not as a class of its own, so garbage outputs cannot dilute the macro average; this is
  scikit-learn's `f1_score(average="macro", labels=classes)`. A class that never occurs and is
  never predicted scores 0.
  """
  preds, refs = inputs.single_references("f1_macro", predictions, references)
  preds = [normalize_answer(p) for p in preds]
  refs = [normalize_answer(r) for r in refs]
  classes = sorted(set(refs) | {normalize_answer(l) for l in labels or ()})
  out = {}
  for c in classes:
    tp = sum(p == c and r == c for p, r in zip(preds, refs))
    fp = sum(p == c and r != c for p, r in zip(preds, refs))
    fn = sum(r == c and p != c for p, r in zip(preds, refs))
    out[f"f1/{c}"] = 100.0 * 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
  return {"f1_macro": sum(out.values()) / len(classes), **out}


def f1_macro(predictions: Sequence[str], references: Sequence[str],
             answer_types: Sequence[str] | None = None) -> dict[str, float]:
  del answer_types
  return f1_scores(predictions, references)
