"""Item 12: Grain worker processes end when the training process is SIGKILLed."""

import os
import signal
import subprocess
import sys
import time

from reliability_helpers import REPO

PIPELINE = """
from biomed_jax.data import pipeline
from biomed_jax.data.tokenizer import Tokenizer
it = pipeline.make_train_iterator([("sample_vqa", 1.0)], tokenizer=Tokenizer(None),
    batch_size=4, image_size=64, max_source_len=64, max_target_len=16, seed=0, worker_count=1)
next(it)
print("ready", flush=True)
import time; time.sleep(600)
"""


def _children(pid: int) -> list[int]:
  found = []
  for entry in os.listdir("/proc"):
    if entry.isdigit():
      try:
        stat = open(f"/proc/{entry}/stat").read()
      except OSError:
        continue
      if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
        found.append(int(entry))
  return found


def _alive(pid: int) -> bool:
  try:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False


def test_workers_die_with_their_parent_after_sigkill():
  parent = subprocess.Popen([sys.executable, "-c", PIPELINE], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
  workers = []
  try:
    assert parent.stdout.readline().strip() == "ready"
    workers = _children(parent.pid)
    assert workers, "no worker process was started"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(map(_alive, workers)):
      time.sleep(0.2)
    assert not [w for w in workers if _alive(w)], "orphaned worker processes"
  finally:
    parent.kill()
    for worker in workers:  # only the ones this test started
      if _alive(worker):
        os.kill(worker, signal.SIGKILL)
