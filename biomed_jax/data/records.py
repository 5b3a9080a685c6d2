"""The one record type every dataset reader yields.

Readers know a publisher's layout; tasks know how to turn a record into a prompt and a target.
`Record` is the contract between the two, and `DataError` is how either side reports a bad
record: the message always names the dataset, the file and the record.
"""

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Record:
  dataset: str  # registry name, e.g. "vqa_rad"
  split: str  # "train" | "validation" | "test"
  id: str  # unique within (dataset, split); the publisher's own id where it has one
  source: str  # the file this record was read from (for error messages)
  # Image files (paths) or encoded image bytes (PNG/JPEG); empty for text-only records.
  images: tuple[str | bytes, ...] = ()
  # Dataset-specific text fields (question, answer, options, ...): strings, or lists of strings.
  fields: dict[str, Any] = dataclasses.field(default_factory=dict)


class DataError(ValueError):
  """A bad input record, named by dataset, file and record id."""

  def __init__(self, dataset: str, source: str, record_id: str | None, problem: str):
    self.dataset, self.source, self.record_id, self.problem = dataset, source, record_id, problem
    where = f"record {record_id!r}" if record_id is not None else "(no record id)"
    super().__init__(f"[{dataset}] {source}: {where}: {problem}")

  def __reduce__(self):  # picklable across Grain worker processes
    return DataError, (self.dataset, self.source, self.record_id, self.problem)
