"""Batching that drops bad-example markers, and the outer iterator that counts or raises.

`GoodBatchIterDataset` runs where the examples are made (in each worker process when there
are workers): it pulls examples until it has `batch_size` good ones, gathers the events of
every example it pulled (bad ones included) into the batch's "_events" entry, and stacks.
At the end of a finite (evaluation) stream the last batch is padded with zero rows whose
`example_mask` is False.

`CountingIterator` runs in the main process on the final batches: it maps the uint8 images
to float32 (in [-1, 1], or ImageNet-standardised; zeros for rows without an image), removes
"_events",
raises the first error event as a DataError under bad_records="fail", and otherwise counts
every event by (task, kind). The counts are part of its checkpoint state, so they survive a
resume. Its state is a JSON-able dict, as `grain.checkpoint.CheckpointSave` expects.
"""

import collections
import copy
from collections.abc import Sequence
from typing import Any

import grain
import numpy as np

from biomed_jax.data import batch_contract
from biomed_jax.data import images as images_lib
from biomed_jax.data.records import DataError

class Collate:
  """Stacks good examples (or packed rows: `packed`) into a batch of `batch_size` rows
  (padding rows + mask when short: tokens `pad_id`, everything else zero)."""

  TOKEN_FIELDS = batch_contract.TOKEN_KEYS

  def __init__(self, batch_size: int, *, source_len: int, target_len: int, image_size: int,
               pad_task_id: int = 0, pad_id: int = 0, packed: bool = False):
    self.batch_size, self.pad_task_id, self.pad_id = batch_size, pad_task_id, pad_id
    self.shapes = batch_contract.shapes(batch_size=None, source_len=source_len,
                                        target_len=target_len, image_size=image_size,
                                        keys=batch_contract.batch_keys(packed=packed))
    # Images travel as uint8 (a quarter of the bytes between processes); CountingIterator
    # normalises them to the contract's float32.
    self.shapes["images"] = (self.shapes["images"][0], np.uint8)

  def __call__(self, examples: Sequence[dict[str, Any]],
               events: Sequence[tuple]) -> dict[str, Any]:
    batch = {}
    for name, (shape, dtype) in self.shapes.items():
      fill = self.pad_id if name in self.TOKEN_FIELDS else 0
      array = np.full((self.batch_size, *shape), fill, dtype)
      for row, example in enumerate(examples):
        if example[name] is not None:  # images of text-only examples: see CountingIterator
          array[row] = example[name]
      batch[name] = array
    batch["example_index"][len(examples):] = -1
    batch["task_id"][len(examples):] = self.pad_task_id
    batch["_events"] = tuple(events)
    return batch


class GoodBatchIterDataset(grain.IterDataset):
  """Batches good examples; bad-example markers only contribute their events."""

  def __init__(self, parent: grain.IterDataset, collate: Collate):
    super().__init__(parent)
    self._collate = collate

  def __iter__(self) -> grain.DatasetIterator:
    return _GoodBatchIterator(self._parent.__iter__(), self._collate)

  def __str__(self) -> str:
    return f"GoodBatchIterDataset(batch_size={self._collate.batch_size})"


class _GoodBatchIterator(grain.DatasetIterator):
  """Holds nothing between batches, so its state is its parent's."""

  def __init__(self, parent: grain.DatasetIterator, collate: Collate):
    super().__init__(parent)
    self._collate = collate

  def __next__(self) -> dict[str, Any]:
    examples, events = [], []
    while len(examples) < self._collate.batch_size:
      try:
        example = next(self._parent)
      except StopIteration:
        if examples or events:
          break
        raise
      events.extend(example["_events"])
      if not example.get("_bad"):
        examples.append(example)
    return self._collate(examples, events)

  def get_state(self) -> dict[str, Any]:
    return self._parent.get_state()

  def set_state(self, state: dict[str, Any]) -> None:
    self._parent.set_state(state)


class CountingIterator(grain.DatasetIterator):
  """The pipeline's outer iterator: yields contract batches, counts or raises on events.

  `problem_counts`: {task: {kind: count}} since the start of training (resumed from the
  checkpoint), for this host's share of the data plus, for records read into memory, the
  problems the reader found in the whole split (`initial_counts`).
  """

  def __init__(self, parent: grain.DatasetIterator, *, fail: bool,
               initial_counts: dict[str, dict[str, int]] | None = None,
               image_normalization: str = images_lib.DEFAULT_NORMALIZATION):
    super().__init__(parent)
    self._fail = fail
    self._image_normalization = image_normalization
    self._counts = collections.defaultdict(collections.Counter)
    for task, kinds in (initial_counts or {}).items():
      self._counts[task].update(kinds)

  @property
  def problem_counts(self) -> dict[str, dict[str, int]]:
    return {task: dict(kinds) for task, kinds in self._counts.items() if kinds}

  def __next__(self) -> dict[str, np.ndarray]:
    batch = next(self._parent)
    events = batch.pop("_events", ())
    images = images_lib.normalize(batch["images"], self._image_normalization)
    images[~batch["image_mask"]] = 0.0  # the contract: zeros where there is no image
    batch["images"] = images
    for task, kind, dataset, source, record_id, problem, is_error in events:
      if is_error and self._fail:
        raise DataError(dataset, source, record_id or None, problem)
      self._counts[task][kind] += 1
    return batch

  def get_state(self) -> dict[str, Any]:
    return {"pipeline": self._parent.get_state(), "problem_counts": self.problem_counts}

  def set_state(self, state: dict[str, Any]) -> None:
    self._parent.set_state(copy.deepcopy(state["pipeline"]))
    self._counts = collections.defaultdict(collections.Counter)
    for task, kinds in state["problem_counts"].items():
      self._counts[task].update(kinds)

  def __str__(self) -> str:
    return "CountingIterator"
