"""Checking metric inputs, and the errors metrics raise.

Every metric takes `predictions` (one string per example) and `references` (per example a
string, or a non-empty list of acceptable strings). Bad input fails loudly with the metric's
name and the offending example's index rather than producing a silently wrong score.
"""

from collections.abc import Sequence
from typing import Any


class MetricInputError(ValueError):
  """Predictions/references/answer types that a metric cannot score."""

  def __init__(self, metric: str, problem: str, index: int | None = None):
    self.metric, self.problem, self.index = metric, problem, index
    where = f" (example {index})" if index is not None else ""
    super().__init__(f"[{metric}]{where}: {problem}")


class MetricUnavailableError(RuntimeError):
  """A metric whose runtime requirement (e.g. Java for METEOR) is missing on this machine."""


def _is_sequence(value: Any) -> bool:
  return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def check_predictions(metric: str, predictions: Any, references: Any) -> list[str]:
  if not _is_sequence(predictions):
    raise MetricInputError(metric, f"predictions must be a list of strings, got "
                           f"{type(predictions).__name__}")
  if not _is_sequence(references):
    raise MetricInputError(metric, f"references must be a list, got {type(references).__name__}")
  if len(predictions) != len(references):
    raise MetricInputError(metric, f"{len(predictions)} predictions but {len(references)} "
                           "references; they must pair up one to one")
  if not predictions:
    raise MetricInputError(metric, "no examples to score")
  for i, p in enumerate(predictions):
    if not isinstance(p, str):
      raise MetricInputError(metric, f"prediction is {type(p).__name__}, not str", i)
  return list(predictions)


def reference_lists(metric: str, predictions: Any, references: Any,
                    *, require_text: bool = False) -> tuple[list[str], list[list[str]]]:
  """(predictions, references as one list of strings per example).

  `require_text`: every example must have at least one reference that is not blank (what
  n-gram metrics need to mean anything).
  """
  preds = check_predictions(metric, predictions, references)
  refs = []
  for i, r in enumerate(references):
    group = [r] if isinstance(r, str) else list(r) if _is_sequence(r) else None
    if group is None:
      raise MetricInputError(metric, f"reference is {type(r).__name__}; expected a string or "
                             "a list of strings", i)
    if not group:
      raise MetricInputError(metric, "empty reference list", i)
    for r_ in group:
      if not isinstance(r_, str):
        raise MetricInputError(metric, f"reference is {type(r_).__name__}, not str", i)
    if require_text and not any(r_.strip() for r_ in group):
      raise MetricInputError(metric, "every reference is blank", i)
    refs.append(group)
  return preds, refs


def single_references(metric: str, predictions: Any,
                      references: Any) -> tuple[list[str], list[str]]:
  """(predictions, one reference string per example) for metrics over class labels."""
  preds, refs = reference_lists(metric, predictions, references)
  for i, group in enumerate(refs):
    if len(group) != 1:
      raise MetricInputError(metric, f"{len(group)} references; this metric takes exactly one "
                             "label per example", i)
  return preds, [g[0] for g in refs]
