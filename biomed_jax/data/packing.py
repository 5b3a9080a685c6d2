"""Sequence packing for training (data.packing): several short text examples per batch row.

Grain's first-fit packer (grain.experimental.FirstFitPackIterDataset) does the packing and
keeps the iterator state exact: its state is the parent's position at the start of the
packing round, so a resume re-packs the same rows. Around it:

  examples -> EventsOnNextExample: a bad example's events ride on the next good example (the
              packer takes sequences only; counts stay exact, see pipeline.py)
           -> unpad: each example cut to its own lengths; an example with an image keeps the
              whole source width, so it fills an encoder row alone (one image per row)
           -> FirstFitPackIterDataset(batch_size bins of Ls source / Lt target tokens)
           -> to_row: the contract's fields (batch_contract.py, packed=True): segment ids and
              per-segment positions; task_id and example_index of the row's first example

The model attends within segments only and restarts positions per segment (model.Packing),
so each example's loss is the one it has alone (tests/model/test_packed_rows.py).
"""

from typing import Any

import grain
import numpy as np

_SEQUENCES = {"encoder_tokens": "source", "decoder_inputs": "target",
              "decoder_targets": "target", "decoder_loss_weights": "target"}
# Packed with the others but given no segment ids of their own (the inputs' serve them).
_SEQUENCE_META = ("decoder_targets", "decoder_loss_weights")
_PER_EXAMPLE = ("images", "image_mask", "task_id", "example_index", "_events")


class EventsOnNextExample(grain.IterDataset):
  """Drops bad-example markers, adding their events to the next usable example's."""

  def __iter__(self) -> grain.DatasetIterator:
    return _EventsOnNextExampleIterator(self._parent.__iter__())

  def __str__(self) -> str:
    return "EventsOnNextExample"


class _EventsOnNextExampleIterator(grain.DatasetIterator):
  """Holds nothing between elements (each call pulls up to and including a usable example),
  so its state is its parent's. At the end of a stream, events with no example after them
  are lost: training streams are endless."""

  def __next__(self) -> dict[str, Any]:
    events = []
    while True:
      example = next(self._parent)
      events.extend(example["_events"])
      if not example.get("_bad"):
        return {**example, "_events": tuple(events)}

  def get_state(self) -> dict[str, Any]:
    return self._parent.get_state()

  def set_state(self, state: dict[str, Any]) -> None:
    self._parent.set_state(state)


def _length(tokens: np.ndarray, pad_id: int) -> int:
  (real,) = np.nonzero(tokens != pad_id)
  return int(real[-1]) + 1 if real.size else 0


class _Unpad:
  def __init__(self, pad_id: int):
    self.pad_id = pad_id

  def __call__(self, example: dict[str, Any]) -> dict[str, Any]:
    source = example["encoder_tokens"]
    n = source.shape[0] if example["image_mask"] else _length(source, self.pad_id)
    m = _length(example["decoder_targets"], self.pad_id)
    out = {k: example[k][:n if side == "source" else m] for k, side in _SEQUENCES.items()}
    out.update({k: example[k] for k in _PER_EXAMPLE})
    return out


class _ToRow:
  """A packed bin -> one row of the contract (before Collate stacks the rows)."""

  def __call__(self, packed: dict[str, Any]) -> dict[str, Any]:
    images = [image for image in packed["images"] if image is not None]
    if len(images) > 1 or (images and len(packed["images"]) > 1):
      raise AssertionError("an example with an image shares a packed row")  # unpad's width
    row = {k: packed[k] for k in _SEQUENCES}
    for side, key in (("encoder", "encoder_tokens"), ("decoder", "decoder_inputs")):
      row[f"{side}_segment_ids"] = packed[f"{key}_segment_ids"]
      row[f"{side}_positions"] = packed[f"{key}_positions"]
    row.update(images=images[0] if images else None, image_mask=np.bool_(bool(images)),
               task_id=np.int32(packed["task_id"][0]),
               example_index=np.int32(packed["example_index"][0]), example_mask=np.bool_(True),
               _events=tuple(e for events in packed["_events"] for e in events))
    return row


def pack(examples: grain.IterDataset, *, rows: int, source_len: int, target_len: int,
         pad_id: int) -> grain.IterDataset:
  """Packed rows of `examples` (ExampleBuilder outputs, bad-example markers included), in
  packing rounds of `rows` bins, in the order they were filled."""
  lengths = {k: source_len if side == "source" else target_len
             for k, side in _SEQUENCES.items()}
  padding = {k: 0.0 if k == "decoder_loss_weights" else pad_id for k in _SEQUENCES}
  ds = EventsOnNextExample(examples).map(_Unpad(pad_id))
  ds = grain.experimental.FirstFitPackIterDataset(
      ds, length_struct=lengths, num_packing_bins=rows, shuffle_bins=False,
      meta_features=_SEQUENCE_META + _PER_EXAMPLE, padding_struct=padding)
  return ds.map(_ToRow())
