"""Accuracy, VQA closed/open accuracy and F1 on small cases computed by hand."""

import pytest

from biomed_jax import metrics
from biomed_jax.metrics import MetricInputError


@pytest.mark.parametrize("a,b", [
    ("Yes.", "yes"),
    (" Left  lung", "left lung"),
    ("left\tlung\n", "Left lung"),
    ("No!", "no"),
    ("chest x-ray?", "Chest X-ray"),
])
def test_normalisation_equates(a, b):
  assert metrics.normalize_answer(a) == metrics.normalize_answer(b)


@pytest.mark.parametrize("a,b", [
    ("left lung", "right lung"),
    ("the liver", "liver"),  # Articles are part of the answer.
    ("two", "2"),  # Number words are not mapped.
    ("5.0", "5"),  # Only trailing punctuation goes.
])
def test_normalisation_keeps_distinct_answers_apart(a, b):
  assert metrics.normalize_answer(a) != metrics.normalize_answer(b)


def test_accuracy_hand_computed():
  preds = ["Yes.", " Left  lung", "no", "right"]
  refs = ["yes", "left lung", "yes", "Right!"]
  assert metrics.accuracy(preds, refs) == {"accuracy": pytest.approx(75.0)}


def test_accuracy_any_of_several_references():
  out = metrics.accuracy(["CT", "mri"], [["ct", "computed tomography"], ["x-ray"]])
  assert out["accuracy"] == pytest.approx(50.0)


def test_vqa_accuracy_split_by_answer_type():
  preds = ["yes", "no", "Left lung", "liver", "brain", "yes", "kidney"]
  refs = ["Yes", "yes", "left lung", "spleen", "Brain.", "yes", "kidneys"]
  types = ["CLOSED", "CLOSED", "OPEN", "OPEN", "OPEN", "closed ", "OPEN"]
  out = metrics.vqa_accuracy(preds, refs, types)
  assert out["vqa_accuracy_closed"] == pytest.approx(100 * 2 / 3)  # examples 0, 1, 5
  assert out["vqa_accuracy_open"] == pytest.approx(100 * 2 / 4)  # examples 2, 3, 4, 6
  assert out["vqa_accuracy"] == pytest.approx(100 * 4 / 7)


def test_vqa_accuracy_leaves_out_an_empty_split():
  out = metrics.vqa_accuracy(["yes", "no"], ["yes", "yes"], ["CLOSED", "CLOSED"])
  assert out == {"vqa_accuracy": pytest.approx(50.0), "vqa_accuracy_closed": pytest.approx(50.0)}


def test_f1_hand_computed():
  refs = ["a", "a", "a", "b", "b", "c"]
  preds = ["A.", "a", "b", "b", "c", "zzz"]
  out = metrics.f1_scores(preds, refs)
  # a: tp 2 fp 0 fn 1 -> 4/5; b: tp 1 fp 1 fn 1 -> 2/4; c: tp 0 fp 1 fn 1 -> 0.
  assert out["f1/a"] == pytest.approx(80.0)
  assert out["f1/b"] == pytest.approx(50.0)
  assert out["f1/c"] == pytest.approx(0.0)
  assert "f1/zzz" not in out  # An invalid generation is a miss, not a class.
  assert out["f1_macro"] == pytest.approx((80.0 + 50.0 + 0.0) / 3)
  with_unseen = metrics.f1_scores(preds, refs, labels=["a", "b", "c", "d"])
  assert with_unseen["f1/d"] == 0.0
  assert with_unseen["f1_macro"] == pytest.approx(130.0 / 4)


def test_f1_perfect_and_binary():
  assert metrics.f1_macro(["yes", "no"], ["yes", "no"])["f1_macro"] == pytest.approx(100.0)
  # yes: tp 1 fp 1 fn 0 -> 2/3; no: tp 0 fp 0 fn 1 -> 0.
  out = metrics.f1_macro(["yes", "yes"], ["yes", "no"])
  assert out["f1_macro"] == pytest.approx(100 * (2 / 3) / 2)


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.f1_macro])
@pytest.mark.parametrize("preds,refs,problem", [
    (["a", "b"], ["a"], "2 predictions but 1 references"),
    ([], [], "no examples"),
    ("ab", ["a", "b"], "predictions must be a list"),
    (["a", 3], ["a", "b"], "prediction is int"),
    (["a"], [None], "reference is NoneType"),
])
def test_bad_input(fn, preds, refs, problem):
  with pytest.raises(MetricInputError, match=problem):
    fn(preds, refs)


def test_empty_reference_list_names_the_example():
  with pytest.raises(MetricInputError, match=r"\(example 1\): empty reference list"):
    metrics.accuracy(["a", "b"], [["a"], []])


def test_f1_takes_one_label_per_example():
  with pytest.raises(MetricInputError, match="exactly one label"):
    metrics.f1_macro(["a"], [["a", "b"]])


@pytest.mark.parametrize("types,problem", [
    (None, "needs answer_types"),
    (["CLOSED"], "2 predictions but 1 answer_types"),
    (["CLOSED", "yes/no"], r"\(example 1\): answer_type 'yes/no'"),
    ("CLOSED", "must be a list"),
])
def test_vqa_bad_answer_types(types, problem):
  with pytest.raises(MetricInputError, match=problem):
    metrics.vqa_accuracy(["yes", "no"], ["yes", "no"], types)
