"""--config.init_from: start training from a pretrained folder (biomed_jax.model.pretrained)
or from another run's workdir (its latest checkpoint; the EMA weights when it kept them), e.g.
fine-tuning an instruction-tuned run.

Only parameters and BatchNorm statistics are taken (biomed_jax.weights), never the other
run's optimizer state or step. Parameters present in the folder replace the fresh ones (same
path, same shape); parameters the folder lacks (e.g. the vision encoder of a text-only T5
import) keep their fresh values. Both lists are logged. A shape mismatch or a different layer
layout is an error.
"""

from absl import logging
import jax
import numpy as np

from biomed_jax import weights
from biomed_jax.model import ModelConfig


def _flatten(tree) -> dict[str, np.ndarray]:
  return {"/".join(str(k.key) for k in path): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def load_into(params, batch_stats, directory: str, model_config: ModelConfig):
  """Returns (params, batch_stats) with the folder's values placed on the existing shardings."""
  try:
    loaded = weights.load(directory)
  except ValueError as e:  # WeightsError, CheckpointCorrupt: the message names the folder
    message = str(e)
    raise ValueError(f"init_from={message}" if message.startswith(directory) else
                     f"init_from={directory}: {message}") from e
  saved_config, saved = loaded.model_config, loaded.variables
  if loaded.kind == "run":
    logging.info("init_from %s: step %d, %s weights", directory, loaded.step,
                 "EMA" if loaded.ema else "raw")
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
