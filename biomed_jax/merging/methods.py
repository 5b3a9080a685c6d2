"""Weight merging with mergekit's semantics (mergekit 0.1.5), as pure numpy functions.

Per tensor (every function takes and returns numpy arrays of one shape):
  linear            sum_i w_i x_i / sum_i w_i                      (normalize=True)
  task_arithmetic   base + lambda * sum_i w_i (x_i - base)
  ties              deltas sparsified to the top `density` by magnitude, signs elected by
                    the sign of the weighted sum, agreeing deltas averaged (normalize=True)
  breadcrumbs       deltas with the top `gamma` by magnitude (outliers) and the smallest
                    removed, `density` of them kept; summed (normalize=False)
  slerp             spherical interpolation of the whole tensor flattened, linear when the
                    two directions are (anti)parallel (|cos| > 0.9995)
Over trees, `merge_trees` applies one to every parameter and handles BatchNorm statistics
apart: running means and variances are always averaged linearly (convex weights, so a
variance stays positive), never SLERPed, sparsified or sign-elected.
"""

from collections.abc import Sequence

import numpy as np

METHODS = ("interpolate", "linear", "task_arithmetic", "ties", "breadcrumbs", "slerp")


def _work(x):
  return np.asarray(x, np.float64 if np.asarray(x).dtype == np.float64 else np.float32)


def linear(tensors: Sequence[np.ndarray], weights: Sequence[float],
           normalize: bool = True) -> np.ndarray:
  dtype = np.asarray(tensors[0]).dtype
  out = sum(np.float64(w) * _work(t) for w, t in zip(weights, tensors))
  if normalize:
    out = out / np.sum(np.asarray(weights, np.float64))
  return np.asarray(out, dtype)


def slerp(t: float, v0: np.ndarray, v1: np.ndarray, dot_threshold: float = 0.9995,
          eps: float = 1e-8) -> np.ndarray:
  dtype = np.asarray(v0).dtype
  a, b = _work(v0).reshape(-1), _work(v1).reshape(-1)
  if a.size == 0:
    return np.asarray(v0)
  norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
  norm_a = norm_a if norm_a > eps else 1.0
  norm_b = norm_b if norm_b > eps else 1.0
  dot = float(np.clip(np.sum((a / norm_a) * (b / norm_b)), -1.0, 1.0))
  if abs(dot) > dot_threshold:
    coef_a, coef_b = 1.0 - t, t
  else:
    theta = np.arccos(dot)
    coef_a = np.sin((1.0 - t) * theta) / np.sin(theta)
    coef_b = np.sin(t * theta) / np.sin(theta)
  return np.asarray(coef_a * a + coef_b * b, dtype).reshape(np.shape(v0))


def magnitude(delta: np.ndarray, density: float) -> np.ndarray:
  """TIES' trim: keep the max(1, int(density * n)) largest |delta|."""
  if density >= 1:
    return delta
  if density <= 0 or delta.size == 0:
    return np.zeros_like(delta)
  k = max(1, int(density * delta.size))
  order = np.argsort(-np.abs(delta).reshape(-1).astype(np.float32), kind="stable")
  mask = np.zeros(delta.size, delta.dtype)
  mask[order[:k]] = 1
  return delta * mask.reshape(delta.shape)


def magnitude_outliers(delta: np.ndarray, density: float, gamma: float) -> np.ndarray:
  """BreadCrumbs' mask: drop the top `gamma` share (outliers) and the smallest, keeping
  int(density * n); fewer outliers are dropped when that many cannot be kept otherwise."""
  if density >= 1:
    return delta
  n = delta.size
  target, top = int(density * n), int(gamma * n)
  bottom = max(0, n - target - top)
  order = np.argsort(np.abs(delta).reshape(-1).astype(np.float32), kind="stable")
  mask = np.zeros(n, delta.dtype)
  mask[order[bottom:bottom + target]] = 1
  return delta * mask.reshape(delta.shape)


def _elected(deltas: np.ndarray) -> np.ndarray:
  """TIES' sign election ("sum"): where each delta agrees with the sign of their sum."""
  majority = np.where(deltas.sum(axis=0) >= 0, 1.0, -1.0).astype(deltas.dtype)
  return np.sign(deltas) == majority


def task_vectors(base: np.ndarray, tensors: Sequence[np.ndarray], weights: Sequence[float],
                 sparsify: str | None = None, density: Sequence[float] | float = 1.0,
                 gamma: Sequence[float] | float = 0.01, consensus: bool = False,
                 normalize: bool = False, scale: float = 1.0) -> np.ndarray:
  """mergekit's generalized task arithmetic: base + scale * combine(sparsify(x_i - base))."""
  n = len(tensors)
  density = [density] * n if np.isscalar(density) else list(density)
  gamma = [gamma] * n if np.isscalar(gamma) else list(gamma)
  base_w = _work(base)
  deltas = []
  for i, tensor in enumerate(tensors):
    delta = _work(tensor) - base_w
    if sparsify == "magnitude":
      delta = magnitude(delta, density[i])
    elif sparsify == "magnitude_outliers":
      delta = magnitude_outliers(delta, density[i], gamma[i])
    elif sparsify is not None:
      raise ValueError(f"sparsify={sparsify!r}: use magnitude or magnitude_outliers")
    deltas.append(delta)
  deltas = np.stack(deltas)
  w = np.asarray(weights, deltas.dtype).reshape((n,) + (1,) * base_w.ndim)
  deltas = deltas * w
  if consensus:
    mask = _elected(deltas).astype(deltas.dtype)
    mixed = (deltas * mask).sum(axis=0)
    divisor = (w * mask).sum(axis=0)
    divisor[divisor == 0] = 1
  else:
    mixed = deltas.sum(axis=0)
    divisor = np.broadcast_to(w.sum(axis=0), mixed.shape).copy()
    divisor[np.abs(divisor) < 1e-8] = 1
  if normalize:
    mixed = mixed / divisor
  if scale != 1:
    mixed = mixed * scale
  return np.asarray(base_w + mixed, np.asarray(base).dtype)


def ties(base, tensors, weights, density=1.0, normalize=True, scale=1.0):
  return task_vectors(base, tensors, weights, "magnitude", density, consensus=True,
                      normalize=normalize, scale=scale)


def breadcrumbs(base, tensors, weights, density=1.0, gamma=0.01, normalize=False, scale=1.0):
  return task_vectors(base, tensors, weights, "magnitude_outliers", density, gamma,
                      normalize=normalize, scale=scale)


def task_arithmetic(base, tensors, weights, normalize=False, scale=1.0):
  return task_vectors(base, tensors, weights, normalize=normalize, scale=scale)
