"""compute(): names to scores, aliases used by the task table, and loud failures."""

import pytest

from biomed_jax import metrics
from biomed_jax.data import tasks
from biomed_jax.metrics import MetricInputError


def test_compute_merges_the_named_metrics():
  preds = ["yes", "left lung", "no"]
  refs = ["Yes", "right lung", "no"]
  types = ["CLOSED", "OPEN", "CLOSED"]
  out = metrics.compute(["accuracy", "vqa_accuracy", "f1_macro"], preds, refs, types)
  assert out["accuracy"] == pytest.approx(200 / 3)
  assert out["vqa_accuracy_closed"] == pytest.approx(100.0)
  assert out["vqa_accuracy_open"] == pytest.approx(0.0)
  assert {"f1_macro", "f1/yes", "f1/no", "f1/right lung"} <= set(out)
  assert all(isinstance(v, float) for v in out.values())


def test_generation_metrics_return_their_keys():
  out = metrics.compute(["rouge", "bleu4", "cider"], ["no acute disease", "heart is normal"],
                        ["no acute disease", "the heart is normal"])
  assert set(out) == {"rouge1", "rouge2", "rougeL", "bleu4", "cider"}
  assert all(0.0 <= v <= 100.0 for k, v in out.items() if k != "cider")


def test_every_metric_name_in_the_task_table_is_known():
  names = {n for task in tasks.TASKS.values() for n in task.metrics}
  assert names  # The table declares metrics at all.
  for name in names:
    assert metrics.resolve(name) in metrics.METRICS


def test_alias_used_by_vqa_tasks():
  out = metrics.compute(["vqa_accuracy_closed_open"], ["yes"], ["yes"], ["CLOSED"])
  assert out["vqa_accuracy"] == pytest.approx(100.0)


def test_unknown_metric_lists_the_known_ones():
  with pytest.raises(ValueError, match=r"unknown metric 'bleu5'.*bleu4.*cider"):
    metrics.compute(["bleu5"], ["a"], ["a"])


@pytest.mark.parametrize("names", [["cider"], ["rouge", "bleu4"], ["accuracy"]])
def test_mismatched_lengths_fail_before_scoring(names):
  with pytest.raises(MetricInputError, match="3 predictions but 2 references"):
    metrics.compute(names, ["a", "b", "c"], ["a", "b"])


@pytest.mark.parametrize("names", [["cider"], ["bleu4"], ["rouge"], ["accuracy"]])
def test_empty_reference_list_fails(names):
  with pytest.raises(MetricInputError, match=r"\(example 1\): empty reference list"):
    metrics.compute(names, ["a", "b"], [["a"], []])


def test_vqa_without_answer_types_fails():
  with pytest.raises(MetricInputError, match="needs answer_types"):
    metrics.compute(["vqa_accuracy"], ["yes"], ["yes"])
