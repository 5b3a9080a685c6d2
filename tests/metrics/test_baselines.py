"""The learned baselines against scikit-learn, and on the shipped sample mixture against the
figures its README reports (computed there independently of this module)."""

import dataclasses

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.neighbors import NearestCentroid

from biomed_jax import metrics
from biomed_jax.data import pipeline
from biomed_jax.data.tasks import get_task
from biomed_jax.metrics import baselines

TEXTS = ["Mice were given the drug twice", "rats and mice in the cage", "patients enrolled",
         "human patients and volunteers", "the rat liver was studied", "a cohort of patients",
         "adult volunteers, men and women", "mice knockout model of disease"]
LABELS = ["animals", "animals", "humans", "humans", "animals", "humans", "humans", "animals"]
QUERIES = ["knockout rats", "women in a cohort", "the patients and the mice", "unseen words"]


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_naive_bayes_equals_sklearn(alpha):
  ours = baselines.NaiveBayes(TEXTS, LABELS, alpha=alpha)
  vectorizer = CountVectorizer(token_pattern=r"(?u)\w+", lowercase=True)
  reference = MultinomialNB(alpha=alpha).fit(vectorizer.fit_transform(TEXTS), LABELS)
  expected = reference.predict_joint_log_proba(vectorizer.transform(QUERIES))
  got = np.array([[ours.log_joint(q)[c] for c in reference.classes_] for q in QUERIES])
  np.testing.assert_allclose(got, expected, rtol=1e-10)
  assert [ours.predict(q) for q in QUERIES] == list(reference.predict(
      vectorizer.transform(QUERIES)))


def test_naive_bayes_options_restrict_the_answer():
  model = baselines.NaiveBayes(TEXTS, LABELS)
  assert model.predict("mice and rats") == "animals"
  assert model.predict("mice and rats", options=["humans", "plants"]) == "humans"


def test_nearest_centroid_equals_sklearn():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(60, 12)) + np.repeat(rng.normal(size=(3, 12)) * 2, 20, axis=0)
  y = [["a", "b", "c"][i // 20] for i in range(60)]
  queries = rng.normal(size=(25, 12)) * 2
  reference = NearestCentroid().fit(x, y)
  assert baselines.nearest_centroid(x, y, queries) == list(reference.predict(queries))


def test_lead_length_is_fitted_on_training_pairs():
  documents = [" ".join(f"w{i}_{j}" for j in range(50)) for i in range(20)]
  targets = [" ".join(d.split()[:12]) for d in documents]  # the title = the first 12 words

  def rouge1(predictions, references):
    return metrics.compute(["rouge"], predictions, references)["rouge1"]

  assert baselines.fit_lead_length(documents, targets, rouge1) == 12


def _sample(name):
  task = get_task(name)
  train, _ = pipeline.load_records(task, "train")
  validation, _ = pipeline.load_records(task, "validation")
  rows = [{"id": validation[i].id} for i in range(len(validation))]
  baseline = baselines.for_rows(task, rows, validation, pipeline.candidate_answers(name), {})
  references = [task.target(validation[i]) for i in range(len(validation))]
  return baseline, metrics.compute(task.metrics, baseline.predictions, references)


@pytest.mark.parametrize("name,kind,score,expected", [
    ("sample_image_classification", "nearest class centroid", "accuracy", 78.0),
    ("sample_text_understanding", "naive Bayes", "accuracy", 92.0),
])
def test_sample_baselines_match_the_sample_readme(name, kind, score, expected):
  baseline, results = _sample(name)
  assert baseline.name.startswith(kind)
  assert results[score] == pytest.approx(expected, abs=1.0)


def test_a_training_record_with_a_broken_image_is_left_out(tmp_path):
  task = get_task("sample_image_classification")
  train, _ = pipeline.load_records(task, "train")
  validation, _ = pipeline.load_records(task, "validation")
  queries = [validation[i] for i in range(10)]
  broken = [dataclasses.replace(train[i], images=(str(tmp_path / "missing.png"),))
            for i in range(3)]
  rest = [train[i] for i in range(3, len(train))]
  with_broken = baselines.fit_and_predict(task, broken + rest, queries, None, ("axial",))
  without = baselines.fit_and_predict(task, rest, queries, None, ("axial",))
  assert with_broken.predictions == without.predictions
