"""No input of the sample mixture asks two things: two tasks never give the same image with the
same prompt (the plane and the caption tasks share their images, and once shared BiomedGPT's
"what does the image describe?", so one input had two targets and could not be fitted), and no
instruction loses its words to truncation at the demo's source length."""

import itertools
import os
import re

import pytest

from biomed_jax.data import pipeline
from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.data.tasks import SAMPLE_TASKS, get_task
from biomed_jax.data.transforms import ExampleBuilder


def _inputs(name):
  task = get_task(name)
  records, _ = pipeline.load_records(task, "train")
  return {(os.path.basename(str(r.images[0])) if r.images else None, task.source(r, t))
          for r in records for t in range(len(task.templates))}


def test_no_two_sample_tasks_share_an_input():
  inputs = {name: _inputs(name) for name in SAMPLE_TASKS}
  shared = {(a, b): len(inputs[a] & inputs[b])
            for a, b in itertools.combinations(SAMPLE_TASKS, 2) if inputs[a] & inputs[b]}
  assert not shared


@pytest.mark.parametrize("name", ["sample_summarization", "sample_text_understanding"])
def test_instruction_words_after_a_long_field_survive_truncation(name):
  """"{document} Summarize the text above." at 128 tokens: a cut at the end of the text kept
  only the abstract, an input the text-understanding task also gives (another target)."""
  task, tok, length = get_task(name), tokenizer_lib.load_tokenizer(""), 128
  records, _ = pipeline.load_records(task, "train")
  field = {"sample_summarization": "document", "sample_text_understanding": "text"}[name]
  long_ones = [(i, r) for i, r in enumerate(records) if len(tok.encode(r.fields[field])) > 300]
  assert len(long_ones) >= 5
  for t, template in enumerate(task.templates):
    tail = re.sub(r"{\w+}", "", template.split("{%s}" % field)[-1]).strip()
    builder = ExampleBuilder(get_task(f"{name}@{t}"), 0, tok, image_size=32,
                             max_source_len=length, max_target_len=32, seed=0, train=False)
    for index, record in long_ones[:5]:
      example = builder(0, (index, record))
      tokens = example["encoder_tokens"]
      real = tokens[tokens != tok.pad_id].tolist()
      assert real[-1] == tok.eos_id and len(real) <= length
      text = tok.decode(real[:-1])
      assert text.endswith(tail), (template, text[-80:])  # "" for a field-last template
      first_words = " ".join(record.fields[field].split()[:5])
      assert first_words in text  # the field is cut at its end, not dropped
      assert any(e[1] == "source_truncated" for e in example["_events"])
      if tail:
        assert len(real) > length - 12  # the field fills what the template leaves
