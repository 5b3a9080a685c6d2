"""Grain input pipelines: weighted task mixtures for training, one-pass task evaluation.

Per task:  records (PreparedSource, or a reader's records held in memory)
           -> MapDataset.source -> endless epochs, each shuffled    (training only)
           -> map: image decode/resize/crop, template, tokens, fixed-length fields
Mixture:   BlockMix(tasks, weights): blocks of ~1,024 examples with each task's share,
           in random order (mixing.py) -> [shard_index::shard_count]
           -> to_iter_dataset -> batch (dropping bad examples) -> mp_prefetch(worker_count)
           -> CountingIterator (main process: raises or counts problems)

Batch (numpy dict, one per host step): the keys, dtypes and shapes of
biomed_jax/data/batch_contract.py (FIELDS); packed training batches (`packing=True`,
packing.py) hold several text-only examples per row and the contract's packing keys.
Ls/Lt are the global caps `max_source_len`/`max_target_len`; each task's own limits
(tasks.py) cut earlier, so every batch has the same shapes.

Determinism: the same arguments give the same batches. Shuffling is seeded per task from
(seed, task position); template choice and the random crop come from
np.random.default_rng([seed, task position, example position in the task's stream]).
The mixture's order within each block is seeded by (seed, block).
`get_state()/set_state()` (also through Orbax with grain.checkpoint.CheckpointSave /
CheckpointRestore) resume exactly, with or without worker processes; batches differ between
worker counts (each worker batches its own slice), so resume with the worker_count you saved
with. Worker processes are started with "spawn": scripts need an `if __name__ == "__main__"`
guard, and absl flags are marked parsed if nobody parsed them (Grain workers read them).

Bad records (`bad_records`): "fail" raises a DataError naming dataset, file and record;
"skip" drops the example and counts it. Problems found by a reader while loading records in
memory are raised/counted at construction; problems found per example (missing or
undecodable image, empty required field, a prepared record that cannot be read) travel with
the batch from the worker that met them and are raised/counted in the main process, so the
counts are exact with any number of workers and are saved in the iterator state.
`iterator.problem_counts` -> {task: {kind: n}}. Too-long inputs are never dropped: the
instruction or target is truncated to the limit (EOS kept) and counted as
"source_truncated"/"target_truncated" under both policies.
"""

import collections
from collections.abc import Mapping, Sequence
import math
import os

from absl import flags
import grain
import numpy as np

from biomed_jax.data import batching
from biomed_jax.data import images as images_lib
from biomed_jax.data import mixing
from biomed_jax.data import packing as packing_lib
from biomed_jax.data import transforms
from biomed_jax.data import worker_watchdog
from biomed_jax.data.records import DataError, Record
from biomed_jax.data.tasks import (CANDIDATES_CLOSED_FROM_TRAIN, CANDIDATES_FROM_TRAIN,
                                   SAMPLE_TASKS, Task, get_task)

BAD_RECORD_POLICIES = ("fail", "skip")


# ---------------------------------------------------------------------------------------------
# Sources.
# ---------------------------------------------------------------------------------------------
def _read_in_memory(dataset: str, root: str, split: str, bad_records: str,
                    counts: collections.Counter) -> list[Record]:
  from biomed_jax.data import readers  # pylint: disable=g-import-not-at-top
  on_error = "raise" if bad_records == "fail" else "skip"
  return list(readers.read(dataset, root, split, on_error=on_error, counter=counts))


def load_records(task: str | Task, split: str, *, data_dir: str | None = None,
                 sample_root: str | None = None, raw_dirs: Mapping[str, str] | None = None,
                 records: Mapping[str, Sequence[Record]] | None = None,
                 bad_records: str = "fail") -> tuple[Sequence[Record], dict[str, int]]:
  """A task split as a random-access sequence of Records, and the reader's problem counts.

  Where the records come from, first match wins:
    * `records[task name]`: Records already in memory (e.g. a user's own reader);
    * sample tasks: the shipped sample mixture (or `sample_root`), read into memory;
    * `raw_dirs[dataset]`: the publisher's files in that folder, read into memory;
    * `data_dir`: the prepared ArrayRecord data (`python -m biomed_jax.data.prepare`).
  """
  task = get_task(task) if isinstance(task, str) else task
  _check_policy(bad_records)
  counts = collections.Counter()
  if records is not None and task.name in records:
    records = records[task.name]
  elif task.dataset in SAMPLE_TASKS:  # also "sample_vqa@0" (tasks.get_task)
    if sample_root is None:
      from biomed_jax.data import readers  # pylint: disable=g-import-not-at-top
      sample_root = readers.sample_default_root()
    records = _read_in_memory(task.dataset, sample_root, split, bad_records, counts)
  elif raw_dirs and task.dataset in raw_dirs:
    records = _read_in_memory(task.dataset, raw_dirs[task.dataset], split, bad_records,
                              counts)
  elif data_dir is not None:
    from biomed_jax.data.prepared import PreparedSource  # pylint: disable=g-import-not-at-top
    records = PreparedSource(task.dataset, data_dir, split)
  else:
    raise ValueError(
        f"task {task.name!r}: no data. Pass data_dir= (prepared with `python -m "
        f"biomed_jax.data.prepare --dataset={task.dataset} --manual_dir=... --data_dir=...`) "
        f"or raw_dirs={{{task.dataset!r}: <folder with the published files>}}.")
  if not len(records):  # pylint: disable=g-explicit-length-test
    raise ValueError(f"task {task.name!r}: split {split!r} has no usable records")
  return records, dict(counts)


def _check_policy(bad_records: str) -> None:
  if bad_records not in BAD_RECORD_POLICIES:
    raise ValueError(f"bad_records must be one of {BAD_RECORD_POLICIES}, got {bad_records!r}")


def _seed_for(seed: int, *keys: int) -> int:
  return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def _mark_flags_parsed(*_) -> None:
  # Grain's worker processes read absl flags; outside absl.app.run nobody parsed them.
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


class _WorkerInit:
  """Runs in each Grain worker process (picklable: workers are spawned)."""

  def __init__(self, parent_pid: int):
    self.parent_pid = parent_pid

  def __call__(self, *_) -> None:
    _mark_flags_parsed()
    worker_watchdog.start(self.parent_pid)


def _finish(ds: grain.MapDataset, *, batch_size: int, image_size: int, max_source_len: int,
            max_target_len: int, worker_count: int, read_threads: int, fail: bool,
            initial_counts: dict[str, dict[str, int]], pad_id: int, image_normalization: str,
            pad_task_id: int = 0, packing: bool = False) -> batching.CountingIterator:
  """MapDataset of examples -> (packed,) batched, prefetched, counting iterator."""
  read_options = grain.ReadOptions(num_threads=read_threads,
                                   prefetch_buffer_size=max(2 * batch_size, 16))
  it_ds = ds.to_iter_dataset(read_options)
  if packing:
    it_ds = packing_lib.pack(it_ds, rows=batch_size, source_len=max_source_len,
                             target_len=max_target_len, pad_id=pad_id)
  collate = batching.Collate(batch_size, source_len=max_source_len, target_len=max_target_len,
                             image_size=image_size, pad_task_id=pad_task_id, pad_id=pad_id,
                             packed=packing)
  it_ds = batching.GoodBatchIterDataset(it_ds, collate)
  if worker_count > 0:
    _mark_flags_parsed()
    it_ds = it_ds.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=worker_count, per_worker_buffer_size=2),
        worker_init_fn=_WorkerInit(os.getpid()))
  return batching.CountingIterator(iter(it_ds), fail=fail, initial_counts=initial_counts,
                                   image_normalization=image_normalization)


def _check_shapes(batch_size, image_size, max_source_len, max_target_len, shard_index,
                  shard_count):
  for name, value in (("batch_size", batch_size), ("image_size", image_size),
                      ("max_source_len", max_source_len), ("max_target_len", max_target_len),
                      ("shard_count", shard_count)):
    if value < 1:
      raise ValueError(f"{name} must be >= 1, got {value}")
  if max_source_len < 2 or max_target_len < 2:
    raise ValueError("max_source_len and max_target_len must leave room for a token and EOS")
  if not 0 <= shard_index < shard_count:
    raise ValueError(f"shard_index {shard_index} outside [0, {shard_count})")


# ---------------------------------------------------------------------------------------------
# Public entry points.
# ---------------------------------------------------------------------------------------------
def make_train_iterator(mixture: Sequence[tuple[str, float]], *, tokenizer, batch_size: int,
                        image_size: int, max_source_len: int, max_target_len: int, seed: int,
                        data_dir: str | None = None, sample_root: str | None = None,
                        raw_dirs: Mapping[str, str] | None = None,
                        records: Mapping[str, Sequence[Record]] | None = None,
                        split: str = "train",
                        shard_index: int = 0, shard_count: int = 1, worker_count: int = 0,
                        read_threads: int = 4, bad_records: str = "skip",
                        decoder_prompt: str = "none",
                        image_normalization: str = images_lib.DEFAULT_NORMALIZATION,
                        packing: bool = False) -> batching.CountingIterator:
  """An endless iterator of training batches for this host.

  Args:
    mixture: (task name, weight) pairs; weights are relative. task_id = position here.
    tokenizer: a biomed_jax.data.tokenizer.BaseTokenizer (picklable); its ids fill the batch.
    batch_size: rows per batch on this host.
    image_size: side S of the square images.
    max_source_len, max_target_len: global caps Ls, Lt (the batch widths).
    seed: shuffling, template choice and augmentation seed.
    data_dir, sample_root, raw_dirs, records: where records come from (`load_records`).
    split: the split to train on.
    shard_index, shard_count: this host's share: examples shard_index::shard_count of the
      mixed stream.
    worker_count: Grain worker processes (0: everything in this process).
    read_threads: threads per process that read and transform examples.
    bad_records: "skip" (default: drop and count) or "fail" (raise DataError).
    decoder_prompt: "none", "src" or "prev_output" (biomed_jax.data.prompts).
    image_normalization: "unit" ([-1, 1]) or "imagenet" (biomed_jax.data.images).
    packing: pack several text-only examples per row (biomed_jax/data/packing.py); the
      batch then has the contract's packing keys.
  """
  _check_policy(bad_records)
  images_lib.check_normalization(image_normalization)
  _check_shapes(batch_size, image_size, max_source_len, max_target_len, shard_index,
                shard_count)
  if not mixture:
    raise ValueError("empty mixture")
  names = [name for name, _ in mixture]
  if len(set(names)) != len(names):
    raise ValueError(f"a task appears twice in the mixture: {names}")
  weights = [float(w) for _, w in mixture]
  if any(not math.isfinite(w) or w <= 0 for w in weights):
    raise ValueError(f"mixture weights must be positive, got {weights}")

  datasets, initial_counts = [], {}
  for task_id, name in enumerate(names):
    task = get_task(name)
    task_records, counts = load_records(task, split, data_dir=data_dir,
                                        sample_root=sample_root, raw_dirs=raw_dirs,
                                        records=records, bad_records=bad_records)
    if counts:
      initial_counts[task.name] = counts
    ds = mixing.shuffled_epochs(
        grain.MapDataset.source(transforms.IndexedSource(task_records)),
        _seed_for(seed, task_id))
    ds = ds.map_with_index(transforms.ExampleBuilder(
        task, task_id, tokenizer, image_size=image_size, max_source_len=max_source_len,
        max_target_len=max_target_len, seed=seed, train=True, decoder_prompt=decoder_prompt))
    datasets.append(ds)
  mixed = datasets[0] if len(datasets) == 1 else mixing.BlockMix(
      datasets, weights, seed=_seed_for(seed, len(datasets)))
  mixed = mixed[shard_index::shard_count]
  return _finish(mixed, batch_size=batch_size, image_size=image_size,
                 max_source_len=max_source_len, max_target_len=max_target_len,
                 worker_count=worker_count, read_threads=read_threads,
                 fail=bad_records == "fail", initial_counts=initial_counts,
                 pad_id=tokenizer.pad_id, image_normalization=image_normalization,
                 packing=packing)


def make_eval_iterator(task: str, *, tokenizer, batch_size: int, image_size: int,
                       max_source_len: int, max_target_len: int, split: str = "validation",
                       data_dir: str | None = None, sample_root: str | None = None,
                       raw_dirs: Mapping[str, str] | None = None,
                       records: Mapping[str, Sequence[Record]] | None = None,
                       shard_index: int = 0,
                       shard_count: int = 1, worker_count: int = 0, read_threads: int = 4,
                       task_id: int = 0, bad_records: str = "fail",
                       seed: int = 0, decoder_prompt: str = "none",
                       image_normalization: str = images_lib.DEFAULT_NORMALIZATION
                       ) -> batching.CountingIterator:
  """One pass over this host's share of a split: records shard_index::shard_count in order.

  No shuffling, no augmentation, template 0. Every example is kept: the last batch (with
  workers: the last batch of each worker) is filled with zero rows whose example_mask is
  False. `seed` is unused by the examples themselves (kept for a uniform signature).
  """
  del seed
  _check_policy(bad_records)
  images_lib.check_normalization(image_normalization)
  _check_shapes(batch_size, image_size, max_source_len, max_target_len, shard_index,
                shard_count)
  task_obj = get_task(task)
  task_records, counts = load_records(task_obj, split, data_dir=data_dir,
                                      sample_root=sample_root, raw_dirs=raw_dirs,
                                      records=records, bad_records=bad_records)
  ds = grain.MapDataset.source(transforms.IndexedSource(task_records))
  ds = ds[shard_index::shard_count]
  ds = ds.map_with_index(transforms.ExampleBuilder(
      task_obj, task_id, tokenizer, image_size=image_size, max_source_len=max_source_len,
      max_target_len=max_target_len, seed=0, train=False, decoder_prompt=decoder_prompt))
  return _finish(ds, batch_size=batch_size, image_size=image_size,
                 max_source_len=max_source_len, max_target_len=max_target_len,
                 worker_count=worker_count, read_threads=read_threads,
                 fail=bad_records == "fail", pad_task_id=task_id,
                 initial_counts={task_obj.name: counts} if counts else {},
                 pad_id=tokenizer.pad_id, image_normalization=image_normalization)


def candidate_answers(task: str, *, data_dir: str | None = None, sample_root: str | None = None,
                      raw_dirs: Mapping[str, str] | None = None,
                      records: Mapping[str, Sequence[Record]] | None = None
                      ) -> tuple[str, ...] | None:
  """The task's closed answer set (static, or from its training split); None otherwise.

  Multiple-choice tasks have per-example candidates instead: `Task.example_candidates`.
  """
  task_obj = get_task(task)
  if task_obj.candidates not in (CANDIDATES_FROM_TRAIN, CANDIDATES_CLOSED_FROM_TRAIN):
    return task_obj.candidate_answers()
  train, _ = load_records(task_obj, "train", data_dir=data_dir, sample_root=sample_root,
                          raw_dirs=raw_dirs, records=records, bad_records="skip")
  source = transforms.IndexedSource(train)
  usable = (r for _, r in (source[i] for i in range(len(source))) if isinstance(r, Record))
  return task_obj.candidate_answers(usable)


__all__ = ["make_train_iterator", "make_eval_iterator", "load_records", "candidate_answers",
           "BAD_RECORD_POLICIES", "DataError"]
