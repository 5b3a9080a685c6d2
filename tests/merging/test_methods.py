"""Merge methods equal mergekit 0.1.5's on the same tensors, over several settings."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mergekit_reference  # noqa: E402
from biomed_jax.merging import methods  # noqa: E402

mergekit = mergekit_reference.load()
SHAPES = ((6, 5), (3, 4, 2), (40,))


def _tensors(n, shape, dtype, seed):
  rng = np.random.default_rng(seed)
  base = rng.normal(size=shape)
  # Fine-tuned = base + a task vector, so deltas are small against the weights.
  return [base.astype(dtype)] + [(base + 0.1 * rng.normal(size=shape)).astype(dtype)
                                 for _ in range(n)]


def _oracle(tensors, method, base_index=0, **parameters):
  out = mergekit.merge_tensors([torch.tensor(t) for t in tensors], method,
                               parameters=parameters, base_index=base_index)
  return out.numpy()


def _close(ours, theirs, dtype):
  assert ours.dtype == theirs.dtype == dtype
  np.testing.assert_allclose(ours, theirs, rtol=1e-12 if dtype == np.float64 else 2e-6,
                             atol=1e-12 if dtype == np.float64 else 2e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weights,normalize", [((0.3, 0.7), True), ((1.0, 2.0, 0.5), True),
                                               ((0.5, 0.8), False)])
def test_linear(dtype, shape, weights, normalize):
  xs = _tensors(len(weights) - 1, shape, dtype, 0)
  theirs = mergekit.merge_tensors([torch.tensor(t) for t in xs], "linear",
                                  parameters={"weight": list(weights), "normalize": normalize})
  _close(methods.linear(xs, weights, normalize), theirs.numpy(), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_slerp(dtype, shape, t):
  base, other = _tensors(1, shape, dtype, 1)
  rng = np.random.default_rng(2)
  other = rng.normal(size=shape).astype(dtype)  # far apart: the spherical branch
  _close(methods.slerp(t, base, other), _oracle([base, other], "slerp", t=t), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_slerp_falls_back_to_lerp_for_parallel_tensors(dtype):
  base = np.random.default_rng(3).normal(size=(5, 4)).astype(dtype)
  for other in (base * 2.5, -base * 0.5, base + 1e-4):
    other = other.astype(dtype)
    ours = methods.slerp(0.3, base, other)
    _close(ours, _oracle([base, other], "slerp", t=0.3), dtype)
    np.testing.assert_allclose(ours, 0.7 * base + 0.3 * other, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weights,scale,normalize", [((1.0, 1.0), 1.0, False),
                                                     ((0.5, 1.5, 0.7), 0.8, False),
                                                     ((0.6, 0.9), 1.0, True)])
def test_task_arithmetic(dtype, shape, weights, scale, normalize):
  xs = _tensors(len(weights), shape, dtype, 4)
  ours = methods.task_arithmetic(xs[0], xs[1:], weights, normalize=normalize, scale=scale)
  theirs = _oracle(xs, "task_arithmetic", weight=list(weights), normalize=normalize,
                   **{"lambda": scale})
  _close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weights,density,normalize,scale", [
    ((1.0, 1.0), 0.5, True, 1.0), ((0.7, 1.3, 1.0), (0.2, 0.6, 0.9), True, 1.0),
    ((1.0, 0.5), 0.3, False, 0.7), ((1.0, 1.0, 1.0), 1.0, True, 1.0)])
def test_ties(dtype, shape, weights, density, normalize, scale):
  xs = _tensors(len(weights), shape, dtype, 5)
  ours = methods.ties(xs[0], xs[1:], weights, density, normalize=normalize, scale=scale)
  theirs = _oracle(xs, "ties", weight=list(weights), normalize=normalize,
                   density=list(density) if isinstance(density, tuple) else density,
                   **{"lambda": scale})
  _close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weights,density,gamma", [
    ((1.0, 1.0), 0.9, 0.01), ((0.5, 1.0, 0.8), 0.6, 0.1), ((1.0, 1.0), (0.7, 0.4), (0.2, 0.05)),
    ((1.0,), 0.95, 0.3)])  # density + gamma > 1: fewer outliers dropped
def test_breadcrumbs(dtype, shape, weights, density, gamma):
  xs = _tensors(len(weights), shape, dtype, 6)
  ours = methods.breadcrumbs(xs[0], xs[1:], weights, density, gamma)
  listed = lambda v: list(v) if isinstance(v, tuple) else v
  theirs = _oracle(xs, "breadcrumbs", weight=list(weights), density=listed(density),
                   gamma=listed(gamma))
  _close(ours, theirs, dtype)
  kept = np.count_nonzero(ours - xs[0] if len(weights) == 1 else np.ones(1))
  if len(weights) == 1:
    assert kept == int((density if np.isscalar(density) else density[0]) * xs[0].size)
