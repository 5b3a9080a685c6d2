"""Grain worker processes end when their parent does, also after a SIGKILL.

A killed parent cannot stop its workers, and a spawned worker would otherwise live on as an
orphan (holding memory, file handles and the workdir lock it inherited). Each worker runs a
daemon thread that polls its parent pid; once the parent is gone (the worker was re-parented)
it exits at once. Polling is portable and does not depend on which thread spawned the worker
(Linux's PR_SET_PDEATHSIG fires when that thread ends, not the process).
"""

import os
import threading
import time

POLL_SECONDS = 0.5


def _watch(parent_pid: int) -> None:
  while os.getppid() == parent_pid:
    time.sleep(POLL_SECONDS)
  os._exit(1)  # pylint: disable=protected-access  # no cleanup: the parent is gone


def start(parent_pid: int) -> None:
  """Called in the worker: exits the process when `parent_pid` is no longer its parent."""
  threading.Thread(target=_watch, args=(parent_pid,), daemon=True,
                   name="parent-watchdog").start()
