"""WiSE-FT in one command: two short sample-task runs, an alpha sweep, the table written."""

import json

import jax
import numpy as np
import pytest

from biomed_jax import train, weights
from biomed_jax.merging import cli
from configs import demo

# The demo run shrunk for a test: tiny model, 64 px images, two text-only sample tasks.
TASKS = (("sample_text_understanding", 1.0), ("sample_qa", 1.0))
EVAL_TASKS = ("sample_qa",)


def _config(**extra):
  config = demo.get_config()
  values = {"model.image_size": 64, "data.batch_size": 8, "data.max_source_len": 48,
            "data.max_target_len": 12, "eval.every_steps": 1000, "eval.max_examples": 8,
            "eval.batch_size": 8, "optimizer.warmup_steps": 1, "train.checkpoint_every": 2,
            "train.num_steps": 2, **extra}
  for key, value in values.items():
    section, name = key.split(".")
    config[section][name] = value
  config.data.mixture = TASKS
  config.eval.tasks = EVAL_TASKS
  return config


@pytest.fixture
def compile_cache(tmp_path):
  """The runs and the evaluation of every alpha compile the same programs: compile once."""
  saved = {k: getattr(jax.config, k) for k in ("jax_compilation_cache_dir",
                                           "jax_persistent_cache_min_compile_time_secs",
                                           "jax_persistent_cache_min_entry_size_bytes")}
  jax.config.update("jax_compilation_cache_dir", str(tmp_path / "compile_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  yield
  for key, value in saved.items():
    jax.config.update(key, value)


def _params(directory):
  return weights.load(directory).variables["params"]


def test_interpolation_sweep_writes_checkpoints_and_the_table(tmp_path, compile_cache):
  del compile_cache
  base, tuned = str(tmp_path / "base"), str(tmp_path / "tuned")
  train.run(_config(), base, "train")
  config = _config(**{"optimizer.learning_rate": 1e-2})
  config.init_from = base
  config.data.mixture = (("sample_qa", 1.0),)  # "domain fine-tuning" on one task
  train.run(config, tuned, "train")

  out = str(tmp_path / "sweep")
  written = cli.merge("interpolate", base, [tuned], out, alphas=[0.0, 0.5, 1.0],
                      log=lambda _: None)
  assert [a for a, _ in written] == [0.0, 0.5, 1.0]
  ends = {0.0: _params(base), 1.0: _params(tuned)}
  got = {a: _params(folder) for a, folder in written}
  leaves = lambda t: [np.asarray(x) for x in jax.tree.leaves(t)]
  for alpha, expected in ends.items():  # the end points are the two checkpoints exactly
    for x, y in zip(leaves(got[alpha]), leaves(expected)):
      np.testing.assert_array_equal(x, y)
  for m, x, y in zip(leaves(got[0.5]), leaves(ends[0.0]), leaves(ends[1.0])):
    np.testing.assert_allclose(m, 0.5 * x + 0.5 * y, rtol=1e-6, atol=1e-7)

  results = cli.evaluate_sweep(_config(), written, out, log=lambda _: None)
  table = (tmp_path / "sweep" / "interpolation.md").read_text().splitlines()
  assert len(table) == 2 + 3 and table[0].startswith("| alpha |")
  for task in EVAL_TASKS:
    assert all(f"{task}/loss" in results[a] for a in (0.0, 0.5, 1.0))
  saved = json.loads((tmp_path / "sweep" / "interpolation.json").read_text())
  assert set(saved) == {"0", "0.5", "1"}
  assert (tmp_path / "sweep" / "interpolation.png").read_bytes().startswith(b"\x89PNG")
  # Each alpha was evaluated with its own weights: the losses differ along the sweep.
  losses = [results[a]["sample_qa/loss"] for a in (0.0, 0.5, 1.0)]
  assert len(set(losses)) == 3, losses
