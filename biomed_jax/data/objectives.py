"""Pre-training objectives over a registered task's own text, as tasks derived by name.

  "text_infill:<task>"   OFA's (and BART's) text infilling over <task>'s training text: a
                         window of a record's longest free-text field, with 30% of its words
                         masked in spans of Poisson(3) words, each span replaced by one
                         <mask>; the target is the whole window. Prompt: OFA's
                         'what is the complete text of "{masked}"?'.

An objective task reads its base task's records (any source: the sample mixture, prepared
data, raw files) and goes in `config.data.mixture` like any task, e.g.
  (("text_infill:sample_summarization", 1.0), ("sample_summarization", 1.0), ...)
so a run can pre-train on the text alone, or mix the objective into fine-tuning. It is a
training objective only: evaluation covers supervised tasks (config_checks refuses an
objective in config.eval.tasks). Masking is whole-word, so it does not depend on the
tokenizer, and deterministic given the example's rng (pipeline.py's per-example seed).
"""

import dataclasses
import re

import numpy as np

from biomed_jax.data.records import DataError, Record

TEXT_INFILL = "text_infill"
OBJECTIVES = (TEXT_INFILL,)
INFILL_TEMPLATE = 'what is the complete text of "{masked}"?'
MASK = "<mask>"
MASK_RATIO = 0.3
MEAN_SPAN = 3.0
_FIELD = re.compile(r"{(\w+)}")


def split_name(name: str) -> tuple[str, str]:
  """("text_infill", "sample_qa") for "text_infill:sample_qa"; ("", name) for a plain task."""
  objective, sep, base = name.partition(":")
  if not sep:
    return "", name
  if objective not in OBJECTIVES:
    raise KeyError(f"task {name!r}: unknown objective {objective!r}; objectives: "
                   f"{', '.join(OBJECTIVES)}")
  return objective, base


def derive(objective: str, base, name: str):
  """The objective's Task over `base` (a tasks.Task): same dataset, the objective's prompt,
  text only. `text_fields`: the base's free-text fields (template fields and target)."""
  fields = []
  for template in base.templates:
    fields += [f for f in _FIELD.findall(template) if f != "options" and f not in fields]
  if base.target_field not in fields:
    fields.append(base.target_field)
  return dataclasses.replace(base, name=name, templates=(INFILL_TEMPLATE,), formatter="text",
                             candidates=None, image="none", objective=objective,
                             text_fields=tuple(fields))


def longest_text(task, record: Record) -> str:
  """The record's longest free-text field among the task's text_fields; DataError if none."""
  texts = [" ".join(v.split()) for v in (record.fields.get(f) for f in task.text_fields)
           if isinstance(v, str)]
  text = max(texts, key=len, default="")
  if not text:
    raise DataError(record.dataset, record.source, record.id,
                    f"no text in any of the fields {list(task.text_fields)}")
  return text


def mask_spans(words: list[str], rng: np.random.Generator, ratio: float = MASK_RATIO,
               mean_span: float = MEAN_SPAN) -> list[str]:
  """Whole-word span masking: spans of max(1, Poisson(mean_span)) words at random starts
  until round(ratio * len(words)) words are masked (at least one); each span -> one MASK."""
  n = len(words)
  target = max(1, round(ratio * n))
  masked = np.zeros(n, bool)
  while masked.sum() < target:
    length = min(max(1, int(rng.poisson(mean_span))), target - int(masked.sum()))
    start = int(rng.integers(n))
    masked[start:start + length] = True
  out = []
  for i, word in enumerate(words):
    if not masked[i]:
      out.append(word)
    elif i == 0 or not masked[i - 1]:
      out.append(MASK)
  return out


def infill_pair(task, record: Record, rng: np.random.Generator, tokenizer,
                target_len: int) -> tuple[str, str]:
  """(masked instruction, window text) of one record: the window starts at a random word
  and holds as many words as fit `target_len` tokens with EOS."""
  words = longest_text(task, record).split()
  room = target_len - 1
  start = int(rng.integers(max(1, len(words) - room + 1)))  # room words after it, if it can
  fits = lambda n: len(tokenizer.encode(" ".join(words[start:start + n]))) <= room
  low, high = 1, min(len(words) - start, room)  # a word is at least one token
  while low < high:  # the most words that fit, by bisection; at least one word
    middle = (low + high + 1) // 2
    low, high = (middle, high) if fits(middle) else (low, middle - 1)
  window = words[start:start + low]
  masked = " ".join(mask_spans(window, rng))
  return INFILL_TEMPLATE.format(masked=masked), " ".join(window)
