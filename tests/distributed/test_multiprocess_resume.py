"""Both processes of a 2-process run SIGKILLed after a checkpoint and restarted end bitwise
equal to an uninterrupted 2-process run; each process resumes from its own data position
(they differ: each process's shard meets other records); one process refuses to resume a
2-process checkpoint, naming both counts."""

import json
import os
import shutil
import signal
import sys
import time

import jax
import numpy as np
import pytest

from biomed_jax import checkpointing, process_state, train
import local_processes

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "reliability"))
# pylint: disable-next=g-import-not-at-top,wrong-import-position
from reliability_helpers import OVERRIDES, broken_sample_root, make_config

STEPS, EVERY = 6, 2
# A Grain worker process per JAX process; sample_vqa has records with missing images.
EXTRA = {"train.num_steps": STEPS, "train.checkpoint_every": EVERY, "data.worker_count": 1,
         "train.record_batch_fingerprints": True}


def _overrides(sample_root):
  return {**OVERRIDES, **EXTRA, "data.sample_root": sample_root}


def _args(workdir, sample_root):
  return ["--config=configs/demo.py", f"--workdir={workdir}", "--mode=train",
          *[f"--config.{k}={v}" for k, v in _overrides(sample_root).items()]]


def _complete_checkpoints(workdir):
  folder = os.path.join(workdir, "checkpoints")
  return [int(d) for d in os.listdir(folder) if d.isdigit()] if os.path.isdir(folder) else []


def _state(workdir, step):
  ckpt = checkpointing.Checkpointer(str(workdir), every_steps=1, keep=10)
  state = ckpt.restore_state(step, None)
  ckpt.close()
  return state


@pytest.mark.slow
def test_two_processes_killed_and_restarted_end_bitwise_equal(tmp_path):
  sample_root = broken_sample_root(str(tmp_path / "sample"))
  straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
  local_processes.run(_args(straight, sample_root), count=2, devices=4,
                      log_dir=str(tmp_path / "logs_straight"))

  processes = local_processes.start(_args(killed, sample_root), count=2, devices=4,
                                    log_dir=str(tmp_path / "logs_killed"))
  deadline = time.time() + 1500
  while (time.time() < deadline and all(p.poll() is None for p in processes) and
         not _complete_checkpoints(killed)):
    time.sleep(0.05)
  assert all(p.poll() is None for p in processes), "a process ended before it could be killed"
  for p in processes:
    p.send_signal(signal.SIGKILL)
  for p in processes:
    p.wait()
  resumed_from = max(_complete_checkpoints(killed))
  assert resumed_from < STEPS
  local_processes.run(_args(killed, sample_root), count=2, devices=4,
                      log_dir=str(tmp_path / "logs_resumed"))
  log = open(tmp_path / "logs_resumed" / "p0.log").read()
  assert f"resumed from {killed}/checkpoints/{resumed_from}" in log

  expected, state = _state(straight, STEPS), _state(killed, STEPS)
  jax.tree.map(np.testing.assert_array_equal, state["params"], expected["params"])
  jax.tree.map(np.testing.assert_array_equal, state["opt_state"], expected["opt_state"])

  # Each process saved its own data position, and they differ.
  data = os.path.join(straight, "checkpoints", str(STEPS), "data")
  positions = [json.load(open(os.path.join(data, process_state.file_name(i, 2))))
               for i in range(2)]
  assert positions[0] != positions[1]

  # One process cannot take over two processes' data positions: refused, naming both.
  one = str(tmp_path / "one")
  shutil.copytree(straight, one)
  config = make_config(**{**_overrides(sample_root), "train.num_steps": STEPS + EVERY})
  with pytest.raises(process_state.ProcessCountMismatch,
                     match="written by 2 process.*this run has 1"):
    train.run(config, one, "train")
