"""One training run per workdir: an exclusive lock on WORKDIR/run.lock.

The lock is a POSIX `flock`, so the kernel drops it when the holding process dies in any way
(SIGKILL included): a lock file left by a dead run is stale by construction and the next run
takes it over. The file records the holder (pid, host, start time) for the refusal message.
Only process 0 of a multi-host run locks (its hosts share one workdir). Remote workdirs
(gs://) have no flock; they are not locked, and a warning says so.
"""

import contextlib
import datetime
import fcntl
import json
import os
import socket

from absl import logging
import jax

LOCK_FILE = "run.lock"


class WorkdirLocked(RuntimeError):
  """Another live process is training in this workdir."""


def _holder(path: str) -> str:
  try:
    with open(path) as f:
      info = json.load(f)
    return f"pid {info['pid']} on host {info['host']} (since {info['started']})"
  except (OSError, ValueError, KeyError):
    return "another process"


@contextlib.contextmanager
def hold(workdir: str):
  """Holds the workdir's lock for the duration of the block, or raises WorkdirLocked."""
  if "://" in workdir:
    logging.warning("workdir %s is remote: no lock is taken; make sure no other run uses it",
                    workdir)
    yield
    return
  if jax.process_index() != 0:
    yield
    return
  path = os.path.join(workdir, LOCK_FILE)
  fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise WorkdirLocked(f"workdir {workdir} is in use by {_holder(path)}: wait for that run "
                          f"to end, stop it, or use another --workdir") from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(),
        "started": datetime.datetime.now().isoformat(timespec="seconds")}).encode())
    os.fsync(fd)
    yield
  finally:
    os.close(fd)  # releases the flock
