"""Simple learned baselines, fitted on a task's training split only.

A neural model earns its cost when it beats these, not only the trivial baselines (majority
answer, copy the input). The baseline is chosen from what the task looks like:

  closed set, image, no question   nearest class centroid on 32x32 grey pixels
  closed set, image and question   per-question majority answer (the whole question text)
  closed set or options, text      multinomial naive Bayes on lower-cased words (options:
                                   the best-scoring option of the example)
  open, text input                 lead-N: the first N words of the input, N fitted on train
  open, image only                 the caption of the nearest training image (32x32 pixels)

Everything is numpy; the naive Bayes and the centroids are tested against scikit-learn.
"""

import collections
import dataclasses
import re
from typing import Callable, Sequence

import numpy as np

from biomed_jax.data.families import CANDIDATES_FROM_OPTIONS
from biomed_jax.data.images import load_image
from biomed_jax.data.records import DataError, Record

PIXELS = 32  # side of the grey thumbnails the image baselines compare
LEAD_LENGTHS = (5, 8, 10, 12, 15, 20, 25, 30, 40, 60)  # lead-N candidates (words)
LEAD_FIT_EXAMPLES = 300  # enough to pick N; ROUGE over every training pair is slow
_WORD = re.compile(r"\w+")


@dataclasses.dataclass(frozen=True)
class Baseline:
  name: str  # e.g. "naive Bayes on words"
  predictions: list[str]


def words(text: str) -> list[str]:
  return _WORD.findall(text.lower())


# -- naive Bayes ------------------------------------------------------------------------------
class NaiveBayes:
  """Multinomial naive Bayes on word counts with additive (Laplace) smoothing: the model of
  sklearn.naive_bayes.MultinomialNB(alpha) over a CountVectorizer's counts."""

  def __init__(self, texts: Sequence[str], labels: Sequence[str], alpha: float = 1.0):
    self.classes = sorted(set(labels))
    self.vocabulary = {w: i for i, w in enumerate(sorted({w for t in texts for w in words(t)}))}
    index = {c: i for i, c in enumerate(self.classes)}
    counts = np.zeros((len(self.classes), len(self.vocabulary)))
    for text, label in zip(texts, labels):
      row = counts[index[label]]
      for word in words(text):
        row[self.vocabulary[word]] += 1
    smoothed = counts + alpha
    self.log_likelihood = np.log(smoothed) - np.log(smoothed.sum(1, keepdims=True))
    class_counts = np.array([sum(l == c for l in labels) for c in self.classes], np.float64)
    self.log_prior = np.log(class_counts) - np.log(class_counts.sum())

  def counts(self, text: str) -> np.ndarray:
    vector = np.zeros(len(self.vocabulary))
    for word in words(text):  # words never seen in training carry no evidence
      if word in self.vocabulary:
        vector[self.vocabulary[word]] += 1
    return vector

  def log_joint(self, text: str) -> dict[str, float]:
    """log P(class) + sum log P(word | class), per class."""
    scores = self.log_prior + self.log_likelihood @ self.counts(text)
    return dict(zip(self.classes, scores.tolist()))

  def predict(self, text: str, options: Sequence[str] | None = None) -> str:
    scores = self.log_joint(text)
    if options:  # an option never seen as an answer ranks below every seen one
      return max(options, key=lambda o: scores.get(o, -np.inf))
    return max(scores, key=scores.get)


# -- images -----------------------------------------------------------------------------------
def thumbnail(record: Record) -> np.ndarray:
  """The record's image as PIXELS x PIXELS grey values in [0, 1], flattened, decoded and
  resized as the model's input is; a missing or unreadable image is a DataError."""
  if not record.images:
    raise DataError(record.dataset, record.source, record.id, "no image")
  pixels = load_image(record.images[0], PIXELS, dataset=record.dataset, record_id=record.id,
                      record_source=record.source, as_uint8=True)
  return pixels.astype(np.float64).mean(-1).reshape(-1) / 255.0


def nearest_centroid(train_x: np.ndarray, train_y: Sequence[str], x: np.ndarray) -> list[str]:
  """The class whose mean training vector is nearest (Euclidean): sklearn's NearestCentroid."""
  classes = sorted(set(train_y))
  labels = np.asarray(train_y)
  centroids = np.stack([train_x[labels == c].mean(0) for c in classes])
  distances = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)
  return [classes[i] for i in distances.argmin(1)]


def nearest_neighbour(train_x: np.ndarray, train_y: Sequence[str], x: np.ndarray) -> list[str]:
  distances = ((x[:, None, :] - train_x[None]) ** 2).sum(-1)
  return [train_y[i] for i in distances.argmin(1)]


# -- text generation --------------------------------------------------------------------------
def lead(text: str, n: int) -> str:
  return " ".join(text.split()[:n])


def fit_lead_length(inputs: Sequence[str], targets: Sequence[str],
                    score: Callable[[list[str], list[str]], float]) -> int:
  """The N of LEAD_LENGTHS whose lead-N scores best on (the first LEAD_FIT_EXAMPLES of) the
  training pairs."""
  inputs, targets = list(inputs[:LEAD_FIT_EXAMPLES]), list(targets[:LEAD_FIT_EXAMPLES])
  return max(LEAD_LENGTHS, key=lambda n: score([lead(t, n) for t in inputs], targets))


# -- dispatch ---------------------------------------------------------------------------------
def _usable(task, records: Sequence[Record], image: bool = False) -> list[tuple]:
  """(record, target[, thumbnail]) of the training records a baseline can use."""
  pairs = []
  for i in range(len(records)):
    try:
      pair = (records[i], task.target(records[i]))
      pairs.append(pair + (thumbnail(records[i]),) if image else pair)
    except DataError:  # the pipeline counts bad records; a baseline just leaves them out
      continue
  return pairs


def _input_text(task, record: Record) -> str:
  """The record's own text fields that the evaluation prompt (template 0) uses, joined: the
  instruction wording itself is the same for every example and carries no evidence."""
  names = re.findall(r"{(\w+)}", task.templates[0])
  parts = []
  for name in names:
    value = record.fields.get(name)
    if isinstance(value, (list, tuple)):
      value = " ".join(str(v) for v in value)
    elif isinstance(value, dict):
      value = " ".join(str(v) for v in value.values())
    if value:
      parts.append(str(value))
  return " ".join(parts)


def _document(task, record: Record) -> str:
  """The text a lead-N summary is cut from: the longest text field of the prompt."""
  names = re.findall(r"{(\w+)}", task.templates[0])
  texts = [str(record.fields[n]) for n in names if isinstance(record.fields.get(n), str)]
  return max(texts, key=len, default="")


def fit_and_predict(task, train: Sequence[Record], evaluated: Sequence[Record],
                    score: Callable[[list[str], list[str]], float],
                    closed_answers: Sequence[str] | None) -> Baseline | None:
  """The task's learned baseline fitted on `train`, predicting `evaluated` (in order).

  score(predictions, references) ranks lead-N lengths (the task's headline score);
  closed_answers: the task's candidate set (None for open and multiple-choice tasks).
  Returns None for a task none of the baselines fits (e.g. open questions with no text).
  """
  multiple_choice = task.candidates == CANDIDATES_FROM_OPTIONS
  has_question = "question" in task.templates[0]
  by_image = task.uses_image and not has_question  # image classification, captioning
  pairs = _usable(task, train, image=by_image)
  if not pairs:
    raise ValueError(f"task {task.name}: no usable training record to fit a baseline on")
  targets = [p[1] for p in pairs]
  if by_image:
    x = np.stack([p[2] for p in pairs])
    queries = np.stack([thumbnail(r) for r in evaluated])
  if closed_answers or multiple_choice:
    if by_image:
      y = nearest_centroid(x, targets, queries)
      return Baseline(f"nearest class centroid, {PIXELS}x{PIXELS} pixels", y)
    if task.uses_image:
      by_question = collections.defaultdict(collections.Counter)
      for record, target in pairs:
        by_question[record.fields.get("question", "")][target] += 1
      overall = collections.Counter(targets).most_common(1)[0][0]
      return Baseline("per-question majority answer", [
          (by_question[r.fields.get("question", "")].most_common(1) or [(overall,)])[0][0]
          for r in evaluated])
    model = NaiveBayes([_input_text(task, p[0]) for p in pairs], targets)
    return Baseline("naive Bayes on words", [
        model.predict(_input_text(task, r), task.example_candidates(r)) for r in evaluated])
  if any(_document(task, p[0]) for p in pairs[:50]):
    n = fit_lead_length([_document(task, p[0]) for p in pairs], targets, score)
    return Baseline(f"lead-{n} words of the input",
                    [lead(_document(task, r), n) for r in evaluated])
  if by_image:
    y = nearest_neighbour(x, targets, queries)
    return Baseline(f"caption of the nearest training image, {PIXELS}x{PIXELS} pixels", y)
  return None


# The score a family is judged by (the first one its first metric returns otherwise).
HEADLINE = {"captioning": "rougeL", "summarization": "rouge1"}


def headline(task, results: dict) -> str:
  """The key of `results` (a metrics.compute dict) that ranks `task`'s predictions."""
  key = HEADLINE.get(task.family)
  if key in results:
    return key
  return next(iter(results))


def for_rows(task, rows: Sequence[dict], records: Sequence[Record],
             closed_answers: Sequence[str] | None, record_kwargs: dict) -> Baseline | None:
  """The learned baseline's predictions for the evaluated `rows` (dicts with the record
  "id"), fitted on the task's training split."""
  from biomed_jax import metrics  # pylint: disable=g-import-not-at-top
  from biomed_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  train, _ = pipeline.load_records(task, "train", bad_records="skip", **record_kwargs)
  by_id = {records[i].id: records[i] for i in range(len(records))}
  evaluated = [by_id[row["id"]] for row in rows]

  def score(predictions, references):
    results = metrics.compute(task.metrics, predictions, references)
    return results[headline(task, results)]

  return fit_and_predict(task, train, evaluated, score, closed_answers)
