"""Two JAX processes x 4 CPU devices (and four x 2) train exactly as one process x 8 devices,
each process reading its own disjoint share of the data."""

import jax
import numpy as np
import pytest

from biomed_jax import checkpointing, train
from biomed_jax.data import pipeline
from biomed_jax.data import tokenizer as tokenizer_lib
from configs import demo
import local_processes

# One step of the tiny model on the sample mixture, mesh data 2 x fsdp 2 x tensor 2. Dropout
# off: the global batch holds the same examples in both runs but in another row order (process
# 0's rows first), and dropout masks follow the rows.
OVERRIDES = {"model.image_size": 64, "model.dropout_rate": 0.0, "data.batch_size": 8,
             "data.max_source_len": 64, "data.max_target_len": 16, "train.num_steps": 1,
             "train.checkpoint_every": 1, "train.log_every": 1, "optimizer.warmup_steps": 0,
             "train.record_batch_fingerprints": True, "mesh.data": 2, "mesh.fsdp": 2,
             "mesh.tensor": 2}


def _config():
  config = demo.get_config()
  for key, value in OVERRIDES.items():
    section, name = key.split(".")
    config[section][name] = value
  return config


def _args(workdir):
  return ["--config=configs/demo.py", f"--workdir={workdir}", "--mode=train",
          *[f"--config.{k}={v}" for k, v in OVERRIDES.items()]]


def _state(workdir, step):
  ckpt = checkpointing.Checkpointer(str(workdir), every_steps=1, keep=10)
  state = ckpt.restore_state(step, None)  # onto this process: 2 processes wrote `two`
  ckpt.close()
  return state


def _rel_error(a, b):
  """||a - b|| / ||b|| over a whole tree, in float64 (as tests/training/test_sharded_step)."""
  pairs = list(zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
  diff = sum(np.sum((np.float64(x) - np.float64(y)) ** 2) for x, y in pairs)
  return float(np.sqrt(diff / sum(np.sum(np.float64(y) ** 2) for _, y in pairs)))


def _fingerprints(path):
  return dict(line.split() for line in open(path))


def _first_batch(config, shard_index, shard_count):
  """The first batch the trainer's pipeline gives process shard_index of shard_count."""
  iterator = pipeline.make_train_iterator(
      [tuple(m) for m in config.data.mixture], tokenizer=tokenizer_lib.load_tokenizer(config.data.tokenizer),
      batch_size=config.data.batch_size // shard_count, image_size=config.model.image_size,
      max_source_len=config.data.max_source_len, max_target_len=config.data.max_target_len,
      seed=config.seed, shard_index=shard_index, shard_count=shard_count,
      worker_count=config.data.worker_count, bad_records=config.data.bad_records_train,
      decoder_prompt=config.data.decoder_prompt,
      image_normalization=config.data.image_normalization)
  return next(iterator)


def _examples(batch):
  return {(int(t), int(i)) for t, i, m in
          zip(batch["task_id"], batch["example_index"], batch["example_mask"]) if m}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
  one = tmp_path_factory.mktemp("one")
  train.run(_config(), str(one), "train")  # this process: 8 devices
  return _state(one, 1)


# Four processes run with -m slow (4 minutes here); two run in the default suite.
@pytest.mark.parametrize("count,devices", [(2, 4), pytest.param(4, 2, marks=pytest.mark.slow)])
def test_processes_step_equals_one_process(tmp_path, one_process, count, devices):
  many = tmp_path / "many"
  local_processes.run(_args(many), count=count, devices=devices, log_dir=str(tmp_path / "logs"))

  single, multi = one_process, _state(many, 1)
  assert int(single["step"]) == int(multi["step"]) == 1
  # Whole trees: element-wise, Adam's first step (~lr * sign(grad)) turns float32 reduction-
  # order noise in near-zero gradients into lr-sized differences (see test_sharded_step).
  for part in ("params", "opt_state", "batch_stats"):
    assert _rel_error(multi[part], single[part]) <= 1e-5, part
  moments = [x for x in jax.tree.leaves(single["opt_state"])
             if np.issubdtype(np.asarray(x).dtype, np.floating)]
  assert max(float(np.abs(x).max()) for x in moments) > 0  # the step did update

  # Each process read its own shard of the batch, and the shards together are the batch.
  config = _config()
  shards = [_first_batch(config, index, count) for index in range(count)]
  for index, shard in enumerate(shards):
    recorded = _fingerprints(many / train.fingerprints_file(index, count))
    assert recorded["1"] == train._fingerprint(shard)  # pylint: disable=protected-access
  seen = [_examples(shard) for shard in shards]
  assert sum(len(s) for s in seen) == len(set().union(*seen))  # disjoint
  whole = _first_batch(config, 0, 1)
  assert set().union(*seen) == _examples(whole)
  assert len(_examples(whole)) == config.data.batch_size
