"""Pieces every dataset reader shares: problem records, file checks and parsing helpers.

A reader function has the signature `scan(dataset, root, split)` and yields `Record`s, or
`BadRecord`s for records it could not use (a malformed JSON line, an unknown label...). It
*raises* only for problems that stop the whole split: a missing file (`MissingData`) or a file
that cannot be parsed at all. The registry (`readers/__init__.py`) turns this stream into
records, raising or skipping-and-counting bad ones as the caller asks.
"""

from collections.abc import Iterator
import json
import math
import os
from typing import Any
import zlib

from biomed_jax.data.records import DataError, Record

# What a skipped record is counted as (`read(..., counter=...)` keys).
MALFORMED = "malformed"  # unparseable line/row, or a record of the wrong shape
EMPTY_FIELD = "empty_field"  # a required text field is empty or absent
DUPLICATE_ID = "duplicate_id"  # a record id seen before in the same split
MISSING_IMAGE = "missing_image"  # a referenced image file does not exist
BAD_VALUE = "bad_value"  # a value outside its allowed set (label, answer letter...)
BAD_IMAGE = "bad_image"  # image bytes that do not decode (found when preparing)
PROBLEM_KINDS = (MALFORMED, EMPTY_FIELD, DUPLICATE_ID, MISSING_IMAGE, BAD_VALUE, BAD_IMAGE)


class BadRecord(DataError):
  """One unusable record; `kind` is one of PROBLEM_KINDS."""

  def __init__(self, dataset: str, source: str, record_id: str | None, problem: str,
               kind: str):
    super().__init__(dataset, source, record_id, problem)
    self.kind = kind

  def __reduce__(self):
    return BadRecord, (self.dataset, self.source, self.record_id, self.problem, self.kind)


# What a reader function yields.
ScanResult = Iterator[Record | BadRecord]


class MissingData(DataError):
  """A dataset folder or file is absent; the message says where to get it and how to lay it out."""

  def __init__(self, dataset: str, path: str, layout_help: str = ""):
    self.layout_help = layout_help
    DataError.__init__(self, dataset, path, None, "not found")
    help_text = f"\n{layout_help}" if layout_help else ""
    self.args = (f"[{dataset}] missing {path}{help_text}",)

  def __reduce__(self):
    return MissingData, (self.dataset, self.source, self.layout_help)


def require(dataset: str, path: str) -> str:
  """Returns `path`, or raises MissingData if it does not exist."""
  if not os.path.exists(path):
    raise MissingData(dataset, path)
  return path


def first_existing(dataset: str, root: str, names: tuple[str, ...]) -> str:
  """The first of `names` (relative to root) that exists; MissingData naming the first if none."""
  for name in names:
    path = os.path.join(root, name)
    if os.path.exists(path):
      return path
  raise MissingData(dataset, os.path.join(root, names[0]))


def text(value: Any) -> str:
  """A published value as text: None/NaN -> "", numbers -> their str, strings unchanged."""
  if value is None:
    return ""
  if isinstance(value, float) and math.isnan(value):
    return ""
  if isinstance(value, bool):
    return "yes" if value else "no"
  return value if isinstance(value, str) else str(value)


def load_json(dataset: str, path: str) -> Any:
  """Parses a whole-file JSON document; a syntax error names the line and column."""
  require(dataset, path)
  with open(path, "rb") as f:
    raw = f.read()
  try:
    return json.loads(raw.decode("utf-8-sig"))
  except UnicodeDecodeError as e:
    raise DataError(dataset, path, None, f"not UTF-8 text (byte {e.start})") from None
  except json.JSONDecodeError as e:
    raise DataError(dataset, path, None,
                    f"not valid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def iter_lines(dataset: str, path: str) -> Iterator[tuple[int, str | BadRecord]]:
  """Yields (1-based line number, text) for non-blank lines; undecodable lines as BadRecord."""
  require(dataset, path)
  with open(path, "rb") as f:
    for number, raw in enumerate(f, start=1):
      if raw.startswith(b"\xef\xbb\xbf") and number == 1:
        raw = raw[3:]
      try:
        line = raw.decode("utf-8").rstrip("\r\n")
      except UnicodeDecodeError as e:
        yield number, BadRecord(dataset, path, f"line {number}",
                                f"not UTF-8 text (byte {e.start})", MALFORMED)
        continue
      if line.strip():
        yield number, line


def iter_jsonl(dataset: str, path: str) -> Iterator[tuple[int, dict | BadRecord]]:
  """Yields (line number, object) per JSON line; malformed lines come back as BadRecord."""
  for number, line in iter_lines(dataset, path):
    if isinstance(line, BadRecord):
      yield number, line
      continue
    try:
      obj = json.loads(line)
    except json.JSONDecodeError as e:
      yield number, BadRecord(dataset, path, f"line {number}",
                              f"malformed JSON line (column {e.colno}: {e.msg})", MALFORMED)
      continue
    if not isinstance(obj, dict):
      yield number, BadRecord(dataset, path, f"line {number}",
                              f"expected a JSON object, got {type(obj).__name__}", MALFORMED)
      continue
    yield number, obj


def load_json_records(dataset: str, path: str) -> Iterator[tuple[int, dict | BadRecord]]:
  """Records of a file that is either a JSON array of objects or JSON lines.

  Yields (position, object): the 0-based index in the array, or the 1-based line number.
  """
  require(dataset, path)
  with open(path, "rb") as f:
    head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
  if not head.startswith(b"["):
    yield from iter_jsonl(dataset, path)
    return
  items = load_json(dataset, path)
  for index, obj in enumerate(items):
    if not isinstance(obj, dict):
      yield index, BadRecord(dataset, path, str(index),
                             f"expected a JSON object, got {type(obj).__name__}", MALFORMED)
    else:
      yield index, obj


def expect_list(dataset: str, path: str, data: Any, what: str = "a JSON list") -> list:
  if not isinstance(data, list):
    raise DataError(dataset, path, None, f"expected {what}, got {type(data).__name__}")
  return data


def hash_split(key: str, validation_pct: int = 5, test_pct: int = 5) -> str:
  """A stable split for data published without one: crc32(key) % 100 buckets.

  [0, 100 - validation - test) -> train, then validation, then test. The same key always lands
  in the same split, on every machine and Python version.
  """
  bucket = zlib.crc32(key.encode("utf-8")) % 100
  if bucket < 100 - validation_pct - test_pct:
    return "train"
  if bucket < 100 - test_pct:
    return "validation"
  return "test"


def strip_choice_label(option: str, letter: str) -> str:
  """'B:Focal uptake' / ' B: Focal uptake' -> 'Focal uptake' (PMC-VQA choice columns)."""
  stripped = option.strip()
  for sep in (":", ".", ")"):
    prefix = f"{letter}{sep}"
    if stripped.startswith(prefix):
      return stripped[len(prefix):].strip()
  return stripped
