"""One merge method over whole checkpoints: every parameter alike, BatchNorm statistics apart.

Variables are {"params": ..., "batch_stats": ...} trees of numpy arrays. Parameters go through
the method (biomed_jax.merging.methods); the vision encoder's running means and variances are
averaged linearly with convex weights (`stats_weights`): a running variance SLERPed,
sign-elected or sparsified would no longer be the variance of anything, and may go negative.
"""

from collections.abc import Callable, Sequence

from flax import traverse_util
import numpy as np


def flatten(tree, prefix: str = "") -> dict[str, np.ndarray]:
  out = {}
  for key, value in tree.items():
    path = f"{prefix}/{key}" if prefix else str(key)
    if hasattr(value, "items"):
      out.update(flatten(value, path))
    else:
      out[path] = np.asarray(value)
  return out


def unflatten(flat: dict[str, np.ndarray]) -> dict:
  return traverse_util.unflatten_dict(flat, sep="/")


def check_compatible(flats: Sequence[dict[str, np.ndarray]], names: Sequence[str]) -> None:
  """Same keys and shapes everywhere, or an error naming the key and both checkpoints."""
  first, first_name = flats[0], names[0]
  for flat, name in zip(flats[1:], names[1:]):
    missing = sorted(set(first) - set(flat))
    extra = sorted(set(flat) - set(first))
    if missing or extra:
      key = (missing or extra)[0]
      holder, other = (first_name, name) if missing else (name, first_name)
      raise ValueError(f"cannot merge: {key} is in {holder} but not in {other} "
                       f"({len(missing) + len(extra)} keys differ): not one architecture")
    for key, value in first.items():
      if value.shape != flat[key].shape:
        raise ValueError(f"cannot merge: {key} has shape {value.shape} in {first_name} but "
                         f"{flat[key].shape} in {name}")


def merge_variables(variables: Sequence[dict], names: Sequence[str],
                    merge_tensor: Callable[[list[np.ndarray]], np.ndarray],
                    stats_weights: Sequence[float]) -> dict:
  """merge_tensor(list of one parameter from every input) -> merged parameter."""
  params = [flatten(v["params"]) for v in variables]
  stats = [flatten(v.get("batch_stats", {})) for v in variables]
  check_compatible(params, names)
  check_compatible(stats, names)
  merged = {key: merge_tensor([p[key] for p in params]) for key in params[0]}
  w = np.asarray(stats_weights, np.float64)
  if np.any(w < 0) or w.sum() <= 0:
    raise ValueError(f"BatchNorm statistics need convex weights, got {list(stats_weights)}")
  w = w / w.sum()
  merged_stats = {key: np.asarray(sum(wi * s[key].astype(np.float64) for wi, s in zip(w, stats)),
                                  stats[0][key].dtype) for key in stats[0]}
  return {"params": unflatten(merged), "batch_stats": unflatten(merged_stats)}
