"""No input of the sample mixture asks two things: two tasks never give the same image with the
same prompt (the plane and the caption tasks share their images, and once shared BiomedGPT's
"what does the image describe?", so one input had two targets and could not be fitted)."""

import itertools
import os

from biomed_jax.data import pipeline
from biomed_jax.data.tasks import SAMPLE_TASKS, get_task


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
