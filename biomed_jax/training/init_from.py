"""--config.init_from: start training from a pretrained folder (biomed_jax.model.pretrained)
or from another run's workdir (its latest checkpoint; the EMA weights when it kept them), e.g.
fine-tuning an instruction-tuned run.

Parameters present in the folder replace the fresh ones (same path, same shape); parameters
the folder lacks (e.g. the vision encoder of a text-only T5 import) keep their fresh values.
Both lists are logged. A shape mismatch or a different layer layout is an error.
"""

import os

from absl import logging
import jax
import numpy as np

from biomed_jax import checkpointing
from biomed_jax.model import ModelConfig, pretrained


def _flatten(tree) -> dict[str, np.ndarray]:
  return {"/".join(str(k.key) for k in path): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _read(directory: str) -> tuple[ModelConfig, dict]:
  """(model config, {"params", "batch_stats"}) of a pretrained folder or a training workdir."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"init_from={directory}: no such folder")
  if not os.path.isdir(os.path.join(directory, "checkpoints")):
    if not os.path.exists(os.path.join(directory, pretrained.CONFIG_FILE)):
      raise ValueError(f"init_from={directory} is neither a pretrained folder (no "
                       f"{pretrained.CONFIG_FILE}) nor a training workdir (no checkpoints/)")
    try:
      return pretrained.load_config(directory), pretrained.load_variables(directory)
    except Exception as e:  # garbled JSON or weights: name the folder
      raise ValueError(f"init_from={directory}: cannot read the pretrained folder "
                       f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                       ) from e
  ckpt = checkpointing.Checkpointer(directory, every_steps=1, keep=1)
  try:
    step = ckpt.latest_step()
    if step is None:
      raise FileNotFoundError(f"init_from={directory}: its checkpoints/ folder holds no "
                              "complete checkpoint")
    config = ModelConfig.from_dict(ckpt.read_meta(step)["model_config"])
    state = ckpt.restore_state(step, None)
  finally:
    ckpt.close()
  params = state.get("ema_params") or state["params"]
  logging.info("init_from %s: step %d, %s weights", directory, step,
               "EMA" if state.get("ema_params") else "raw")
  return config, {"params": params, "batch_stats": state.get("batch_stats")}


def load_into(params, batch_stats, directory: str, model_config: ModelConfig):
  """Returns (params, batch_stats) with the folder's values placed on the existing shardings."""
  saved_config, saved = _read(directory)
  if saved_config.scan_layers != model_config.scan_layers:
    raise ValueError(f"init_from={directory} stores layers with scan_layers="
                     f"{saved_config.scan_layers}, but config.model.scan_layers="
                     f"{model_config.scan_layers}; convert it again with the same setting")
  merged, report = [], {"loaded": 0, "fresh": []}

  def merge(tree, saved_tree, name):
    saved_flat = _flatten(saved_tree or {})
    paths, leaves = zip(*jax.tree_util.tree_flatten_with_path(tree)[0]) if jax.tree.leaves(
        tree) else ((), ())
    new_leaves = []
    for path, leaf in zip(paths, leaves):
      key = "/".join(str(k.key) for k in path)
      if key not in saved_flat:
        report["fresh"].append(f"{name}/{key}")
        new_leaves.append(leaf)
        continue
      value = np.asarray(saved_flat.pop(key))
      if value.shape != leaf.shape:
        raise ValueError(f"init_from={directory}: {name}/{key} has shape {value.shape}, the "
                         f"model expects {leaf.shape}")
      new_leaves.append(jax.device_put(value.astype(leaf.dtype), leaf.sharding))
      report["loaded"] += 1
    if saved_flat:
      raise ValueError(f"init_from={directory} has {name} the model does not: "
                       f"{sorted(saved_flat)[:8]}")
    merged.append(jax.tree.unflatten(jax.tree.structure(tree), new_leaves))

  merge(params, saved.get("params"), "params")
  merge(batch_stats, saved.get("batch_stats"), "batch_stats")
  logging.info("init_from %s: %d arrays loaded, %d initialised fresh%s", directory,
               report["loaded"], len(report["fresh"]),
               f" (e.g. {report['fresh'][:4]})" if report["fresh"] else "")
  return merged[0], merged[1]
