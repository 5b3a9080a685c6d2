"""ROUGE against hand counts on rouge-score's README example; sacreBLEU against its README."""

import pytest

from biomed_jax import metrics
from biomed_jax.metrics import MetricInputError


def _f(p: float, r: float) -> float:
  return 100 * 2 * p * r / (p + r)


def test_rouge_score_readme_example_by_hand():
  # rouge-score's README: scorer.score('The quick brown fox jumps over the lazy dog',
  #                                     'The quick brown dog jumps on the log.')
  target = "The quick brown fox jumps over the lazy dog"
  prediction = "The quick brown dog jumps on the log."
  out = metrics.compute(["rouge"], [prediction], [target])
  # Stemmed tokens: target the quick brown fox jump over the lazi dog (9),
  # prediction the quick brown dog jump on the log (8).
  # Unigram overlap: the x2, quick, brown, dog, jump = 6.
  assert out["rouge1"] == pytest.approx(_f(6 / 8, 6 / 9))
  # Bigram overlap: "the quick", "quick brown" = 2 of 7 predicted and 8 reference bigrams.
  assert out["rouge2"] == pytest.approx(_f(2 / 7, 2 / 8))
  # Longest common subsequence: the quick brown jump the = 5.
  assert out["rougeL"] == pytest.approx(_f(5 / 8, 5 / 9))


def test_rouge_uses_porter_stemming():
  # nodules/nodule -> nodul, growing/grows -> grow; no overlap at all without stemming.
  out = metrics.compute(["rouge"], ["the nodules are growing"], ["nodule grows"])
  assert out["rouge1"] == pytest.approx(_f(2 / 4, 2 / 2))


def test_rouge_averages_examples_and_takes_best_reference():
  out = metrics.compute(["rouge"], ["no acute disease", "heart is enlarged"],
                        [["no acute disease", "unrelated words"], "lungs clear"])
  assert out["rouge1"] == pytest.approx(50.0)
  assert out["rougeL"] == pytest.approx(50.0)


def test_rouge_blank_prediction_scores_zero():
  assert metrics.compute(["rouge"], [""], ["lungs are clear"])["rouge1"] == 0.0


# sacreBLEU README ("Using SacreBLEU from Python"), references regrouped per example.
SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
REF_STREAMS = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
               ["The dog had bit the man.", "No one was surprised.",
                "The man had bitten the dog."]]


def test_sacrebleu_readme_example():
  refs = [list(group) for group in zip(*REF_STREAMS)]
  out = metrics.compute(["sacrebleu"], SYS, refs)
  assert out["sacrebleu"] == pytest.approx(48.53, abs=0.005)  # "BLEU = 48.53 82.4/50.0/..."


def test_sacrebleu_readme_example_with_a_missing_reference():
  # README: the first stream's first reference removed -> "BLEU = 29.44 ...".
  refs = [["The dog had bit the man."],
          ["It was not unexpected.", "No one was surprised."],
          ["The man bit him first.", "The man had bitten the dog."]]
  out = metrics.compute(["sacrebleu"], SYS, refs)
  assert out["sacrebleu"] == pytest.approx(29.44, abs=0.005)


@pytest.mark.parametrize("name", ["rouge", "sacrebleu"])
def test_blank_references_are_rejected(name):
  with pytest.raises(MetricInputError, match=r"\(example 0\): every reference is blank"):
    metrics.compute([name], ["a"], [["", "  "]])
