"""Item 4: a second run in a workdir that a live run holds is refused, naming the holder;
the lock of a process that died (SIGKILL) is taken over."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from biomed_jax import train, workdir_lock
from reliability_helpers import REPO, make_config

HOLD = ("import sys, time; from biomed_jax import workdir_lock\n"
        "with workdir_lock.hold(sys.argv[1]):\n"
        "  print('held', flush=True); time.sleep(600)\n")


def _holder(workdir):
  process = subprocess.Popen([sys.executable, "-c", HOLD, str(workdir)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
  assert process.stdout.readline().strip() == "held"
  return process


def test_a_second_run_is_refused_naming_the_holder(tmp_path):
  holder = _holder(tmp_path)
  try:
    with pytest.raises(workdir_lock.WorkdirLocked,
                       match=rf"in use by pid {holder.pid} on host {socket.gethostname()}"):
      train.run(make_config(), str(tmp_path), "train")
    assert not (tmp_path / "checkpoints").exists()
  finally:
    holder.kill()
    holder.wait()


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
  holder = _holder(tmp_path)
  holder.send_signal(signal.SIGKILL)
  holder.wait()
  assert json.loads((tmp_path / workdir_lock.LOCK_FILE).read_text())["pid"] == holder.pid
  with workdir_lock.hold(str(tmp_path)):
    assert json.loads((tmp_path / workdir_lock.LOCK_FILE).read_text())["pid"] == os.getpid()
