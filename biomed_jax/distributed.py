"""Starting one JAX process per host (or per GPU): `jax.distributed.initialize`.

Where the coordinator, process count and process id come from, first match wins:
  * the environment, set by a launcher or by hand: JAX_COORDINATOR_ADDRESS (host:port),
    JAX_NUM_PROCESSES, JAX_PROCESS_ID (and optionally JAX_LOCAL_DEVICE_IDS, read by JAX);
    these alone start a multi-process run, --multihost or not;
  * --multihost without them: JAX's cluster detection (Cloud TPU VMs and multislice through
    the TPU metadata, GKE TPU pods, SLURM's SLURM_* variables, Open MPI).
Every process then runs the same program; process 0 writes the files that exist once
(TensorBoard, evaluation outputs, the tokenizer copy), every process writes its own share of
the checkpoint.
"""

import json
import os

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np

COORDINATOR = "JAX_COORDINATOR_ADDRESS"
NUM_PROCESSES = "JAX_NUM_PROCESSES"
PROCESS_ID = "JAX_PROCESS_ID"


def explicit_settings(environ=None) -> dict | None:
  """{coordinator_address, num_processes, process_id} from the environment, or None when
  JAX_NUM_PROCESSES is unset. Incomplete or malformed settings are an error naming them."""
  environ = os.environ if environ is None else environ
  if NUM_PROCESSES not in environ:
    return None
  missing = [name for name in (COORDINATOR, PROCESS_ID) if not environ.get(name)]
  if missing:
    raise ValueError(f"{NUM_PROCESSES}={environ[NUM_PROCESSES]} is set but {missing} "
                     f"{'is' if len(missing) == 1 else 'are'} not: a multi-process run needs "
                     f"{COORDINATOR} (host:port of process 0), {NUM_PROCESSES} and {PROCESS_ID}")
  try:
    count, index = int(environ[NUM_PROCESSES]), int(environ[PROCESS_ID])
  except ValueError:
    raise ValueError(f"{NUM_PROCESSES}={environ[NUM_PROCESSES]!r} and "
                     f"{PROCESS_ID}={environ[PROCESS_ID]!r} must be integers") from None
  if count < 1 or not 0 <= index < count:
    raise ValueError(f"{PROCESS_ID}={index} must lie in [0, {NUM_PROCESSES}={count})")
  address = environ[COORDINATOR]
  if ":" not in address:
    raise ValueError(f"{COORDINATOR}={address!r} must be host:port")
  return {"coordinator_address": address, "num_processes": count, "process_id": index}


def initialize(multihost: bool) -> bool:
  """Starts the multi-process runtime when asked to (flag or environment); returns whether it
  did. Must run before anything touches a JAX device."""
  settings = explicit_settings()
  if settings is None and not multihost:
    return False
  if settings is None:
    jax.distributed.initialize()  # cluster detection; raises naming what it could not find
  else:
    jax.distributed.initialize(**settings)
  logging.info("process %d of %d: %d local devices, %d in all", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
  return True


def is_primary() -> bool:
  """Process 0: the one that writes files every process would otherwise write alike."""
  return jax.process_index() == 0


def wait_for_all(name: str) -> None:
  """A barrier: processes start collectives together. (On CPU, Gloo gives a process 30 s to
  join each new communicator; a process still compiling or restoring would miss it.)"""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def to_host(tree):
  """The whole value of global arrays, as numpy, on every process. A collective: every
  process must call it, with arrays of the same global shapes."""
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, tree)
  return multihost_utils.process_allgather(tree, tiled=True)


def any_process(flag: bool) -> bool:
  """Whether `flag` is set on any process (a collective, like to_host)."""
  if jax.process_count() == 1:
    return flag
  return bool(np.asarray(multihost_utils.process_allgather(np.array(flag))).any())


def process_share(count: int) -> slice:
  """This process's contiguous share of `count` items (process 0 first; the last may be short
  or empty), so that gathering the shares in process order restores the items' order."""
  per = -(-count // jax.process_count())
  start = min(count, jax.process_index() * per)
  return slice(start, min(count, start + per))


def gather_texts(texts: list[str]) -> list[str]:
  """Every process's `texts`, concatenated in process order, on every process (a collective)."""
  if jax.process_count() == 1:
    return list(texts)
  data = np.frombuffer(json.dumps(texts).encode(), np.uint8)
  sizes = np.asarray(multihost_utils.process_allgather(np.array(len(data))))
  padded = np.zeros(max(int(sizes.max()), 1), np.uint8)
  padded[:len(data)] = data
  rows = np.asarray(multihost_utils.process_allgather(padded))
  return [text for row, size in zip(rows, sizes) for text in json.loads(bytes(row[:size]))]
