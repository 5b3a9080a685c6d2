"""Orbax checkpoints of everything a run needs to resume exactly.

One checkpoint per saved step, under WORKDIR/checkpoints/<step>/, holding three items:
  state  the TrainState (params, optimizer, BatchNorm averages, EMA, rng, step), sharded
  meta   JSON (written by process 0): the fields that must match to resume, and the whole
         config as text
  data   one JSON file per process (biomed_jax.process_state): that process's input iterator
         position (Grain state and skip counts, taken when the save starts, so the
         asynchronous write cannot see a later position); resuming needs the same number of
         processes
Orbax writes each step into a temporary folder and renames it when complete, so a run killed
at any moment, also during a save, resumes from the last complete checkpoint. The meta item
also holds a checksum of every state array (biomed_jax.integrity), verified on restore: a
checkpoint whose bytes changed on disk is refused, not trained on.
"""

import errno
import json
import os
import shutil
from typing import Any

from etils import epath
import jax
import ml_collections
import orbax.checkpoint as ocp

from biomed_jax import integrity, process_state
from biomed_jax.integrity import CheckpointCorrupt

CHECKSUMS_KEY = "checksums"

# Config fields that must not change between a checkpoint and the run resuming from it: they
# fix parameter shapes / layout or the data stream. Everything else (learning rate, number of
# steps, remat, compute dtype, mesh shape, ...) may change on resume.
MODEL_FIELDS_THAT_MAY_CHANGE = ("dtype", "remat_policy", "dropout_rate", "attention_impl")
DATA_FIELDS_THAT_MUST_MATCH = ("mixture", "batch_size", "max_source_len", "max_target_len")


def resume_signature(config: ml_collections.ConfigDict, model_config) -> dict[str, Any]:
  model = {k: v for k, v in model_config.to_dict().items()
           if k not in MODEL_FIELDS_THAT_MAY_CHANGE}
  data = {k: json.loads(json.dumps(config.data[k])) for k in DATA_FIELDS_THAT_MUST_MATCH}
  if config.data.get("packing"):  # packed runs save another iterator state (absent: False)
    data["packing"] = True
  return {"model": json.loads(json.dumps(model)), "data": data,
          "grad_accum_steps": config.train.grad_accum_steps,
          "ema": config.train.ema_decay > 0}


def signature_mismatches(saved: dict, current: dict, prefix: str = "") -> list[str]:
  problems = []
  for key in sorted(set(saved) | set(current)):
    a, b = saved.get(key), current.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      problems += signature_mismatches(a, b, f"{prefix}{key}.")
    elif a != b:
      problems.append(f"{prefix}{key}: checkpoint has {a!r}, config has {b!r}")
  return problems


class Checkpointer:
  """Saves and restores (state, data iterator, meta) with an Orbax CheckpointManager."""

  def __init__(self, workdir: str, *, every_steps: int, keep: int, best_metric: str = "",
               best_mode: str = "max"):
    local = "://" not in workdir  # gs:// and other remote paths are already absolute
    self.directory = str(epath.Path(os.path.abspath(workdir) if local else workdir) /
                         "checkpoints")
    if keep < 1:
      raise ValueError(f"keep_checkpoints={keep}: must be >= 1 (Orbax would delete every "
                       "checkpoint)")
    self.best_metric = best_metric
    self._closed = False
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, save_interval_steps=every_steps, enable_async_checkpointing=True,
        best_fn=(lambda m: m[best_metric]) if best_metric else None, best_mode=best_mode,
        keep_checkpoints_without_metrics=not best_metric, create=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "meta", "data"))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def due(self, step: int) -> bool:
    return self.manager.should_save(step)

  def save(self, step: int, state, meta: dict, *, data: Any = None, force: bool = False,
           metrics: dict | None = None) -> bool:
    """Starts an asynchronous save (device arrays are copied before it returns). `data` is
    this process's iterator state (JSON), saved as its own file."""
    self._check_free_space(step, state)
    meta = {**meta, CHECKSUMS_KEY: integrity.checksums(state)}
    items = dict(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
    if data is not None:
      items["data"] = process_state.PerProcessJsonSave(data)
    args = ocp.args.Composite(**items)
    return self.manager.save(step, args=args, force=force, metrics=metrics)

  def _check_free_space(self, step: int, state) -> None:
    """A full disk is named now, not as an asynchronous write error at the next save."""
    if "://" in self.directory:
      return
    needed = sum(x.nbytes for x in jax.tree.leaves(state)) // jax.process_count()
    free = shutil.disk_usage(self.directory).free
    if free < needed * 1.1:
      raise OSError(errno.ENOSPC, f"not enough disk space for the checkpoint of step {step} "
                    f"in {self.directory}: {free / 2**20:.1f} MiB free, about "
                    f"{needed / 2**20:.1f} MiB needed")

  def step_directory(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def read_meta(self, step: int) -> dict:
    try:
      return self.manager.restore(step, args=ocp.args.Composite(
          meta=ocp.args.JsonRestore()))["meta"]
    except Exception as e:  # truncated or garbled JSON, missing files: name the checkpoint
      raise CheckpointCorrupt(f"checkpoint {self.step_directory(step)}: its meta item cannot "
                              f"be read ({_first_line(e)})") from e

  def read_data(self, step: int) -> Any:
    """This process's iterator state; ProcessCountMismatch if another number of processes
    wrote the checkpoint."""
    return self.manager.restore(step, args=ocp.args.Composite(
        data=process_state.PerProcessJsonRestore()))["data"]

  def restore_state(self, step: int, abstract_state, *, verify: bool = True):
    """Restores onto the shardings carried by `abstract_state` (any mesh shape); None
    restores the tree as saved onto this process's first device, whatever number of
    processes wrote it. Checks every array against the checksums saved with it."""
    expected = self.read_meta(step).get(CHECKSUMS_KEY) if verify else None
    if abstract_state is None:
      abstract_state = self._saved_shapes_on_one_device(step)
    try:
      state = self.manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state)))["state"]
    except Exception as e:  # tensorstore / OCDBT read errors of damaged files
      raise CheckpointCorrupt(f"checkpoint {self.step_directory(step)}: the state cannot be "
                              f"read ({_first_line(e)})") from e
    if expected:
      integrity.verify(state, expected, self.step_directory(step))
    return state

  def _saved_shapes_on_one_device(self, step: int):
    path = os.path.join(self.step_directory(step), "state")
    try:
      saved = ocp.StandardCheckpointer().metadata(path).item_metadata
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointCorrupt(f"checkpoint {self.step_directory(step)}: the state's metadata "
                              f"cannot be read ({_first_line(e)})") from e
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                        saved)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    """Waits for the last save; may be called more than once."""
    if self._closed:
      return
    self._closed = True
    self.manager.wait_until_finished()
    self.manager.close()


def _first_line(error: Exception) -> str:
  text = str(error).strip().splitlines()
  return (text[0] if text else type(error).__name__)[:300]


def abstract_with_shardings(abstract_tree, shardings):
  """ShapeDtypeStructs that carry their target shardings: restore places each shard directly."""
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      abstract_tree, shardings)
