"""The one weights loader: a pretrained folder or a training workdir -> config and variables.

  weights = load("runs/vqa")             # latest checkpoint; its EMA parameters when kept
  weights = load("runs/vqa", step=3000)
  weights = load("pretrained/biomedgpt_base")
  weights.model_config, weights.variables  # {"params", "batch_stats"}, on one device

Used by predict, --config.init_from, --mode=evaluate and the exporters. Only parameters and
BatchNorm statistics are read: a run's optimizer state (twice the parameters with Adam) and,
when there is an EMA, its raw parameters stay on disk.
"""

import dataclasses
import os
from typing import Any

from etils import epath
import jax
import orbax.checkpoint as ocp

from biomed_jax import checkpointing, integrity
from biomed_jax.model import ModelConfig, pretrained

STATE_ITEM = "state"  # the TrainState item of a checkpoint (biomed_jax.checkpointing)


class WeightsError(ValueError):
  """The folder holds no usable weights; the message names it and what is wrong."""


@dataclasses.dataclass(frozen=True)
class Weights:
  kind: str  # "run" (a training workdir) or "pretrained"
  directory: str
  step: int | None  # runs only
  model_config: ModelConfig
  meta: dict  # a run's checkpoint metadata (config, tokenizer, ...); {} for a folder
  variables: dict[str, Any] | None = None  # None until restored (see locate)
  ema: bool = False

  def restore(self, sharding=None) -> "Weights":
    """The same with variables read, onto `sharding` (default: the first local device). A
    run's arrays are checked against the checksums saved with them (biomed_jax.integrity):
    damaged or unreadable files raise CheckpointCorrupt / WeightsError naming the step."""
    device = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    if self.kind == "pretrained":
      path = epath.Path(self.directory) / pretrained.VARIABLES_DIR
      try:
        saved = ocp.StandardCheckpointer().metadata(path).item_metadata
        variables = pretrained.load_variables(self.directory,
                                              _target(saved, saved.keys(), device))
      except Exception as e:  # damaged files: tensorstore / OCDBT read errors
        raise WeightsError(f"{self.directory}: cannot read the pretrained folder "
                           f"({_first_line(e)})") from e
      return dataclasses.replace(self, variables={"batch_stats": {}, **variables})
    path = epath.Path(self.directory) / "checkpoints" / str(self.step) / STATE_ITEM
    try:
      saved = ocp.StandardCheckpointer().metadata(path).item_metadata
      ema = saved.get("ema_params") is not None
      weights = "ema_params" if ema else "params"
      target = _target(saved, (weights, "batch_stats"), device)
      restored = ocp.PyTreeCheckpointer().restore(path, args=ocp.args.PyTreeRestore(
          item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
          partial_restore=True))
    except Exception as e:  # damaged files: tensorstore / OCDBT read errors
      raise WeightsError(f"checkpoint {path.parent} cannot be read: {_first_line(e)}") from e
    expected = self.meta.get(checkpointing.CHECKSUMS_KEY) or {}
    for name in target:
      integrity.verify(restored[name], expected, str(path.parent), prefix=name + "/")
    variables = {"params": restored[weights], "batch_stats": restored.get("batch_stats", {})}
    return dataclasses.replace(self, variables=variables, ema=ema)

  def file(self, name: str) -> str | None:
    """A file saved beside the weights (tokenizer files), or None."""
    path = os.path.join(self.directory, name)
    return path if os.path.exists(path) else None


def _first_line(e: Exception) -> str:
  return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def _target(saved, names, device) -> dict[str, Any]:
  """Restore targets for the named subtrees of a checkpoint's metadata; empty subtrees (a
  text-only model's batch_stats) are left out, Orbax has nothing to read."""
  target = {}
  for name in names:
    leaves = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                          saved[name])
    if jax.tree.leaves(leaves):
      target[name] = leaves
  return target


def locate(directory: str, step: int | None = None) -> Weights:
  """What a folder holds, read without touching the weights."""
  if "://" not in directory:
    directory = os.path.abspath(directory)
  root = epath.Path(directory)
  if not root.exists():
    raise WeightsError(f"{directory} does not exist")
  if not (root / "checkpoints").is_dir():
    if not (root / pretrained.CONFIG_FILE).exists():
      raise WeightsError(
          f"{directory} is neither a pretrained folder (no {pretrained.CONFIG_FILE}) nor a "
          "training workdir (no checkpoints/)")
    if step is not None:
      raise WeightsError(f"{directory} is a pretrained folder (one set of weights): a step "
                         "applies to training workdirs only")
    try:
      return Weights("pretrained", directory, None, pretrained.load_config(directory), {})
    except Exception as e:  # garbled JSON, unknown keys, missing variables/
      raise WeightsError(f"{directory}: cannot read the pretrained folder "
                         f"({_first_line(e)})") from e
  ckpt = checkpointing.Checkpointer(directory, every_steps=1, keep=1)
  try:
    steps = sorted(ckpt.manager.all_steps())
    if not steps:
      raise WeightsError(f"{directory}: no complete checkpoint yet")
    if step is not None and step not in steps:
      raise WeightsError(f"{directory}: no checkpoint for step {step}; saved steps: {steps}")
    step = steps[-1] if step is None else step
    meta = ckpt.read_meta(step)
  finally:
    ckpt.close()
  try:
    model_config = ModelConfig.from_dict(meta["model_config"])
  except (KeyError, ValueError) as e:  # a checkpoint of another version of the code
    raise WeightsError(f"{directory} step {step}: unusable model config: {e}") from e
  return Weights("run", directory, step, model_config, meta)


def load(directory: str, step: int | None = None, sharding=None) -> Weights:
  return locate(directory, step).restore(sharding)
