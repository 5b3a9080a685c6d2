"""A checkpoint item each process writes for itself: its input iterator's position.

Each process of a multi-process run reads its own shard of the data stream, so its Grain
state (worker states included) and its counts of skipped / truncated records are its own.
The item holds one file per process, `process_<i>-of-<n>.json` (MaxText and Grain's own
Orbax handler name them the same way), written by that process; Orbax's JSON handler would
write only process 0's.

Restoring needs the same process count: a process's position belongs to its shard
(examples i::n of the mixed stream), and since the skip policy drops bad examples, where one
shard stands says nothing exact about where another would. A different count is refused,
naming both; the weights of such a checkpoint still load anywhere (`--config.init_from`,
evaluation, predict).
"""

import dataclasses
import json
import re
from typing import Any

from etils import epath
import jax
import orbax.checkpoint as ocp

_FILE = re.compile(r"process_(\d+)-of-(\d+)\.json")


class ProcessCountMismatch(ValueError):
  """The checkpoint's per-process states were written by another number of processes."""


def file_name(process_index: int, process_count: int) -> str:
  return f"process_{process_index}-of-{process_count}.json"


def saved_process_counts(directory: epath.Path) -> list[int]:
  return sorted({int(m.group(2)) for p in directory.iterdir()
                 if (m := _FILE.fullmatch(p.name))}) if directory.exists() else []


class PerProcessJsonHandler(ocp.CheckpointHandler):
  """Saves a JSON-serialisable value per process, restores this process's own."""

  def save(self, directory: epath.Path, args: "PerProcessJsonSave"):
    path = directory / file_name(jax.process_index(), jax.process_count())
    path.write_text(json.dumps(args.item))

  def restore(self, directory: epath.Path, args: "PerProcessJsonRestore | None" = None):
    del args
    index, count = jax.process_index(), jax.process_count()
    path = directory / file_name(index, count)
    if path.exists():
      return json.loads(path.read_text())
    counts = saved_process_counts(directory)
    if counts and count not in counts:
      raise ProcessCountMismatch(
          f"{directory.parent} was written by {counts[0]} process(es) and this run has "
          f"{count}: each process's data position (Grain state, skip counts) belongs to its "
          f"shard of the stream and cannot be re-split exactly. Resume with {counts[0]} "
          "process(es), or start a new --workdir with --config.init_from pointing at this "
          "one to continue from its weights on a fresh data stream")
    raise FileNotFoundError(f"{path} is missing: the checkpoint in {directory.parent} is "
                            "incomplete")

  def metadata(self, directory: epath.Path) -> Any:
    return {"process_counts": saved_process_counts(directory)}


@ocp.args.register_with_handler(PerProcessJsonHandler, for_save=True)
@dataclasses.dataclass
class PerProcessJsonSave(ocp.args.CheckpointArgs):
  item: Any


@ocp.args.register_with_handler(PerProcessJsonHandler, for_restore=True)
@dataclasses.dataclass
class PerProcessJsonRestore(ocp.args.CheckpointArgs):
  pass
