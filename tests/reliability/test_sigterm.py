"""Item 5: SIGTERM arriving during a step that writes a checkpoint saves once and returns."""

import os
import signal

from biomed_jax import train
from biomed_jax.data import pipeline
from reliability_helpers import make_config


class _TermAt:
  """Wraps the train iterator: sends this process SIGTERM while fetching batch `step`."""

  def __init__(self, iterator, step):
    self.iterator, self.step, self.count = iterator, step, 0

  def __next__(self):
    self.count += 1
    if self.count == self.step:
      os.kill(os.getpid(), signal.SIGTERM)
    return next(self.iterator)

  def __getattr__(self, name):
    return getattr(self.iterator, name)


def test_sigterm_during_a_checkpoint_step_exits_cleanly(tmp_path, monkeypatch):
  make = pipeline.make_train_iterator
  monkeypatch.setattr(pipeline, "make_train_iterator",
                      lambda *a, **k: _TermAt(make(*a, **k), step=2))
  result = train.run(make_config(**{"train.num_steps": 6}), str(tmp_path), "train")
  assert result["step"] == 2  # stopped after the step in flight, which was a checkpoint step
  saved = [int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]
  assert max(saved) == 2
