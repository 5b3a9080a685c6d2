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
from biomed_jax.data import objectives
from biomed_jax.data import prompts as prompts_lib
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


def fit_tokens(tokens: list[int], length: int, eos_id: int, *, pad_id: int = 0,
               bos_id: int | None = None) -> tuple[np.ndarray, int, bool]:
  """[bos] + tokens + EOS, cut to `length` (bos kept first, EOS last), padded with pad_id.

  Returns (int32[length], number of real tokens incl. bos and EOS, whether it was cut).
  """
  head = [] if bos_id is None else [bos_id]
  room = length - len(head) - 1
  truncated = len(tokens) > room
  kept = head + tokens[:room] + [eos_id]
  out = np.full((length,), pad_id, np.int32)
  out[:len(kept)] = kept
  return out, len(kept), truncated


def fit_source(tokenizer, tokens: list[int], length: int) -> tuple[np.ndarray, int, bool]:
  """The encoder input: [bos] tokens EOS pad... in the tokenizer's ids (see fit_tokens)."""
  return fit_tokens(tokens, length, tokenizer.eos_id, pad_id=tokenizer.pad_id,
                    bos_id=tokenizer.bos_id)


class ExampleBuilder:
  """Callable for `MapDataset.map_with_index`: (position, (index, record)) -> example dict.

  Example fields (one row of the batch, see pipeline.py): encoder_tokens [Ls] ([bos] source
  EOS, then pad), decoder_inputs / decoder_targets / decoder_loss_weights [Lt], in the
  decoder_prompt mode's layout (biomed_jax.data.prompts: the decoder start, the prompt, the
  answer; loss on the answer and its EOS), images uint8 [S, S, 3] or
  None for text-only records, image_mask, task_id, example_index, example_mask. Images stay
  uint8 until the main process (batching.CountingIterator) maps them to float32 [-1, 1]:
  4x less data through worker shared memory.
  Padded widths are the global caps (Ls, Lt); the task's own limits cut earlier. An
  instruction that is too long loses the end of its longest field rather than the template
  words after it (Task.fitted_source), then, if still too long, its last tokens. A record
  with several images (IU X-ray: frontal, lateral) contributes its first one. Training draws
  the template and the crop from default_rng([seed, task_id, position in the task stream]).
  A prompt that does not fit Lt with the answer keeps its first tokens (a target_truncated
  event): size Lt for prompt + answer.
  """

  def __init__(self, task: Task, task_id: int, tokenizer, *, image_size: int,
               max_source_len: int, max_target_len: int, seed: int, train: bool,
               decoder_prompt: str = "none"):
    prompts_lib.check_mode(decoder_prompt)
    self.task, self.task_id, self.tokenizer = task, task_id, tokenizer
    self.decoder_prompt = decoder_prompt
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
    tok = self.tokenizer
    room = self.source_len - 1 - (tok.bos_id is not None)  # bos and EOS around the text
    encoded = {}  # text -> ids: the instruction is tokenized once, while being fitted

    def fits(text: str) -> bool:
      encoded[text] = tok.encode(text)
      return len(encoded[text]) <= room

    try:
      if self.task.objective:  # the pair is drawn from the text (evaluation: a fixed draw)
        source_text, target_text = objectives.infill_pair(
            self.task, record, rng or self._rng(index), tok, self.target_len)
        field_cut = False
      else:
        source_text, field_cut = self.task.fitted_source(record, template, fits)
        target_text = self.task.target(record)
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

    source_ids = encoded.get(source_text)  # None: the one-word cut, never measured
    if source_ids is None:
      source_ids = tok.encode(source_text)
    encoder, _, source_cut = fit_source(tok, source_ids, self.source_len)
    source_cut = source_cut or field_cut
    answer, n_answer, target_cut = fit_tokens(tok.encode(target_text), self.target_len,
                                              tok.eos_id, pad_id=tok.pad_id)
    start, length = prompts_lib.prompt_span(encoder, self.decoder_prompt, tok.eos_id,
                                            tok.bos_id is not None)
    prompt = encoder[start:start + min(int(length), self.target_pad - n_answer)]
    events = []
    for cut, kind, problem in (
        (source_cut, SOURCE_TRUNCATED, f"longer than {self.source_len} tokens"),
        (target_cut, TARGET_TRUNCATED, f"longer than {self.target_len} tokens"),
        (len(prompt) < length, TARGET_TRUNCATED,
         f"decoder prompt + answer longer than {self.target_pad} tokens")):
      if cut:
        events.append((name, kind, record.dataset, record.source, record.id, problem, False))
    encoder = _pad_to(encoder, self.source_pad, tok.pad_id)
    sequence = np.concatenate([prompt, answer[:n_answer]])
    targets = _pad_to(sequence, self.target_pad, tok.pad_id)
    inputs = np.empty_like(targets)
    inputs[0] = tok.decoder_start_id  # shift right behind the decoder start
    inputs[1:] = targets[:-1]
    weights = np.zeros(targets.shape, np.float32)
    weights[len(prompt):len(sequence)] = 1.0  # the answer and its EOS
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


def _pad_to(array: np.ndarray, length: int, pad_id: int) -> np.ndarray:
  if array.shape[0] == length:
    return array.astype(np.int32)
  out = np.full((length,), pad_id, np.int32)
  out[:array.shape[0]] = array
  return out
