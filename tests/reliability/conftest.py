"""Fixtures of the reliability tests: one real run (trained by the trainer on a sample
mixture with broken records, checkpoint at step 2) that tests copy before they touch it."""

import logging
import shutil

from absl import logging as absl_logging
import pytest

from biomed_jax import train
from reliability_helpers import broken_sample_root, make_config


class _Capture(logging.Handler):

  def __init__(self):
    super().__init__()
    self.lines = []

  def emit(self, record):
    self.lines.append(record.getMessage())


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
  """{"workdir", "sample_root", "log"}: 2 steps trained on the broken sample mixture."""
  root = tmp_path_factory.mktemp("trained")
  sample_root = broken_sample_root(str(root / "sample"))
  capture, verbosity = _Capture(), absl_logging.get_verbosity()
  logging.getLogger("absl").addHandler(capture)
  absl_logging.set_verbosity(absl_logging.INFO)
  try:
    train.run(make_config(**{"data.sample_root": sample_root}), str(root / "run"), "train")
  finally:
    logging.getLogger("absl").removeHandler(capture)
    absl_logging.set_verbosity(verbosity)
  return {"workdir": str(root / "run"), "sample_root": sample_root, "log": capture.lines}


@pytest.fixture
def run_copy(trained_run, tmp_path):
  """A private copy of the trained run's workdir."""
  workdir = str(tmp_path / "run")
  shutil.copytree(trained_run["workdir"], workdir, symlinks=True)
  return workdir
