"""Whole-checkpoint merging: BatchNorm statistics averaged linearly, mismatches named."""

import numpy as np
import pytest

from biomed_jax.merging import methods, trees


def _variables(seed, shape=(4, 3)):
  rng = np.random.default_rng(seed)
  return {"params": {"encoder": {"wo": {"kernel": rng.normal(size=shape)}}},
          "batch_stats": {"vision": {"bn": {"mean": rng.normal(size=3),
                                            "var": rng.uniform(0.5, 2.0, size=3)}}}}


def test_parameters_go_through_the_method_and_statistics_are_averaged_linearly():
  base, a, b = _variables(0), _variables(1), _variables(2)
  merged = trees.merge_variables(
      [base, a, b], ["base", "a", "b"],
      lambda xs: methods.ties(xs[0], xs[1:], [1.0, 3.0], density=0.5), [0.0, 1.0, 3.0])
  kernel = lambda v: v["params"]["encoder"]["wo"]["kernel"]
  np.testing.assert_array_equal(kernel(merged), methods.ties(
      kernel(base), [kernel(a), kernel(b)], [1.0, 3.0], density=0.5))
  stats = lambda v, k: v["batch_stats"]["vision"]["bn"][k]
  for key in ("mean", "var"):  # the experts' statistics, weighted 1:3, not sign-elected
    np.testing.assert_allclose(stats(merged, key), 0.25 * stats(a, key) + 0.75 * stats(b, key))
  assert np.all(stats(merged, "var") > 0)


def test_a_different_shape_is_refused_naming_the_key_and_checkpoints():
  with pytest.raises(ValueError, match=r"encoder/wo/kernel has shape \(4, 3\) in A but "
                                       r"\(5, 3\) in B"):
    trees.merge_variables([_variables(0), _variables(1, (5, 3))], ["A", "B"],
                          lambda xs: methods.linear(xs, [1, 1]), [1, 1])


def test_a_missing_key_is_refused_naming_it():
  other = _variables(1)
  other["params"]["encoder"]["wi"] = {"kernel": np.zeros((3, 4))}
  with pytest.raises(ValueError, match="encoder/wi/kernel is in B but not in A"):
    trees.merge_variables([_variables(0), other], ["A", "B"],
                          lambda xs: methods.linear(xs, [1, 1]), [1, 1])


def test_statistics_need_convex_weights():
  with pytest.raises(ValueError, match="convex"):
    trees.merge_variables([_variables(0), _variables(1)], ["A", "B"],
                          lambda xs: methods.linear(xs, [1, -1], False), [1, -1])
