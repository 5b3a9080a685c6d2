"""Record -> model example: image, rendered template, tokens, fixed-length arrays.

Runs inside the Grain map (possibly in worker processes), so everything here is picklable
and deterministic given (seed, task id, example position).

Bad inputs never raise here. A record that cannot be used becomes a *bad-example marker*
`{"_bad": True, "_events": (event,)}` and a usable one carries its events (truncations) in
"_events"; batching.py drops the markers and the iterator in the main process raises or
counts (see pipeline.py for the policy). Carrying errors as data rather than exceptions
keeps them intact across worker processes and lets the skip counts survive checkpoints.

An event is a tuple (task, kind, dataset, file, record_id, problem, is_error).
Kinds: "missing_image", "bad_image", "empty_field", "malformed" (the source could not produce
the record) -- errors; "source_truncated", "target_truncated" -- not errors: an over-long
instruction or target is cut to the length limit (keeping the final EOS) and counted.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from biomed_jax.data import images as images_lib
from biomed_jax.data.records import DataError, Record
from biomed_jax.data.tasks import Task

MISSING_IMAGE = "missing_image"
BAD_IMAGE = "bad_image"
EMPTY_FIELD = "empty_field"
MALFORMED = "malformed"
SOURCE_TRUNCATED = "source_truncated"
TARGET_TRUNCATED = "target_truncated"

Event = tuple[str, str, str, str, str, str, bool]


def error_event(task: str, kind: str, error: DataError) -> Event:
  record_id = "" if error.record_id is None else str(error.record_id)
  return (task, kind, error.dataset, error.source, record_id, error.problem, True)


def bad_marker(event: Event) -> dict[str, Any]:
  return {"_bad": True, "_events": (event,)}


class IndexedSource:
  """Random-access records -> (index in the split, Record or the DataError it raised).

  Wraps a list of Records or a PreparedSource; a DataError from the source is returned as a
  value so that the policy is applied in one place.
  """

  def __init__(self, records: Sequence[Record]):
    self._records = records

  def __len__(self) -> int:
    return len(self._records)

  def __getitem__(self, index: int) -> tuple[int, Record | DataError]:
    try:
      return index, self._records[index]
    except DataError as e:
      return index, e

  def __repr__(self) -> str:
    return f"IndexedSource({type(self._records).__name__}, n={len(self)})"


def fit_tokens(tokens: list[int], length: int, eos_id: int) -> tuple[np.ndarray, int, bool]:
  """tokens + EOS, cut to `length` (EOS kept last) and zero-padded.

  Returns (int32[length], number of real tokens incl. EOS, whether it was cut).
  """
  truncated = len(tokens) + 1 > length
  kept = tokens[:length - 1] + [eos_id]
  out = np.zeros((length,), np.int32)
  out[:len(kept)] = kept
  return out, len(kept), truncated


class ExampleBuilder:
  """Callable for `MapDataset.map_with_index`: (position, (index, record)) -> example dict.

  Example fields (one row of the batch, see pipeline.py): encoder_tokens [Ls],
  decoder_inputs / decoder_targets / decoder_loss_weights [Lt], images uint8 [S, S, 3] or
  None for text-only records, image_mask, task_id, example_index, example_mask. Images stay
  uint8 until the main process (batching.CountingIterator) maps them to float32 [-1, 1]:
  4x less data through worker shared memory.
  Padded widths are the global caps (Ls, Lt); the task's own limits cut earlier. A record
  with several images (IU X-ray: frontal, lateral) contributes its first one. Training draws
  the template and the crop from default_rng([seed, task_id, position in the task stream]).
  """

  def __init__(self, task: Task, task_id: int, tokenizer, *, image_size: int,
               max_source_len: int, max_target_len: int, seed: int, train: bool):
    self.task, self.task_id, self.tokenizer = task, task_id, tokenizer
    self.image_size, self.seed, self.train = image_size, seed, train
    self.source_pad, self.target_pad = max_source_len, max_target_len
    self.source_len = min(task.max_source_len, max_source_len)
    self.target_len = min(task.max_target_len, max_target_len)

  def _rng(self, position: int) -> np.random.Generator:
    return np.random.default_rng([self.seed, self.task_id, position])

  def __call__(self, position: int, indexed: tuple[int, Record | DataError]) -> dict[str, Any]:
    index, record = indexed
    name = self.task.name
    if isinstance(record, DataError):
      return bad_marker(error_event(name, getattr(record, "kind", MALFORMED), record))
    rng = self._rng(position) if self.train else None
    template = int(rng.integers(len(self.task.templates))) if rng is not None else 0
    try:
      source_text, target_text = self.task.render(record, template)
    except DataError as e:
      return bad_marker(error_event(name, EMPTY_FIELD, e))

    image = None
    if self.task.uses_image and record.images:
      try:
        image = images_lib.load_image(
            record.images[0], self.image_size, dataset=record.dataset, record_id=record.id,
            record_source=record.source, rng=rng, as_uint8=True)
      except DataError as e:
        return bad_marker(error_event(name, images_lib.missing_image_problem(e), e))
    elif self.task.image_use == "required":
      return bad_marker((name, MISSING_IMAGE, record.dataset, record.source, record.id,
                         "record has no image", True))

    encoder, _, source_cut = fit_tokens(self.tokenizer.encode(source_text), self.source_len,
                                        self.tokenizer.eos_id)
    targets, n_target, target_cut = fit_tokens(self.tokenizer.encode(target_text),
                                               self.target_len, self.tokenizer.eos_id)
    events = []
    for cut, kind, limit in ((source_cut, SOURCE_TRUNCATED, self.source_len),
                             (target_cut, TARGET_TRUNCATED, self.target_len)):
      if cut:
        events.append((name, kind, record.dataset, record.source, record.id,
                       f"longer than {limit} tokens", False))
    encoder = _pad_to(encoder, self.source_pad)
    targets = _pad_to(targets, self.target_pad)
    inputs = np.zeros_like(targets)
    inputs[1:] = targets[:-1]  # shift right; position 0 is the decoder start (pad id 0)
    weights = np.zeros(targets.shape, np.float32)
    weights[:n_target] = 1.0
    return {
        "encoder_tokens": encoder,
        "decoder_inputs": inputs,
        "decoder_targets": targets,
        "decoder_loss_weights": weights,
        "images": image,
        "image_mask": np.bool_(image is not None),
        "task_id": np.int32(self.task_id),
        "example_index": np.int32(index),
        "example_mask": np.bool_(True),
        "_events": tuple(events),
    }


def _pad_to(array: np.ndarray, length: int) -> np.ndarray:
  if array.shape[0] == length:
    return array
  out = np.zeros((length,), array.dtype)
  out[:array.shape[0]] = array
  return out
