"""Two JAX processes x 4 CPU devices train exactly as one process x 8 devices, each process
reading its own disjoint share of the data."""

import jax
import numpy as np

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
      [tuple(m) for m in config.data.mixture], tokenizer=tokenizer_lib.load_tokenizer(""),
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


def test_two_processes_step_equals_one_process(tmp_path):
  two = tmp_path / "two"
  local_processes.run(_args(two), count=2, devices=4, log_dir=str(tmp_path / "logs"))
  one = tmp_path / "one"
  train.run(_config(), str(one), "train")  # this process: 8 devices

  single, double = _state(one, 1), _state(two, 1)
  assert int(single["step"]) == int(double["step"]) == 1
  # Whole trees: element-wise, Adam's first step (~lr * sign(grad)) turns float32 reduction-
  # order noise in near-zero gradients into lr-sized differences (see test_sharded_step).
  for part in ("params", "opt_state", "batch_stats"):
    assert _rel_error(double[part], single[part]) <= 1e-5, part
  moments = [x for x in jax.tree.leaves(single["opt_state"])
             if np.issubdtype(np.asarray(x).dtype, np.floating)]
  assert max(float(np.abs(x).max()) for x in moments) > 0  # the step did update

  # Each process read its own shard of the batch, and the shards together are the batch.
  config = _config()
  shards = [_first_batch(config, index, 2) for index in range(2)]
  for index, shard in enumerate(shards):
    recorded = _fingerprints(two / train.fingerprints_file(index, 2))
    assert recorded["1"] == train._fingerprint(shard)  # pylint: disable=protected-access
  assert not _examples(shards[0]) & _examples(shards[1])
  whole = _first_batch(config, 0, 1)
  assert _examples(shards[0]) | _examples(shards[1]) == _examples(whole)
  assert len(_examples(whole)) == config.data.batch_size

