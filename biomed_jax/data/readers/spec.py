"""ReaderSpec and the checks every record passes: required text present, unique id, images on
disk. Bad records raise a DataError or are skipped and counted by kind, as the caller asks."""

from collections.abc import Callable, Iterator, MutableMapping
import dataclasses
import logging
import os

from biomed_jax.data.readers import common
from biomed_jax.data.records import Record

ON_ERROR = ("raise", "skip")
_LOGGED_SKIPS = 3  # per read() call; the counter has the totals


class CheckedReader:
  """`read(root, split, *, on_error="raise", counter=None, skipped=None)` for one dataset
  (picklable). `skipped`, a list, receives every BadRecord dropped under on_error="skip"."""

  def __init__(self, name: str, scan: Callable[[str, str, str], common.ScanResult],
               splits: tuple[str, ...], required: tuple[str, ...], layout_help: str):
    self.name, self.scan, self.splits = name, scan, splits
    self.required, self.layout_help = required, layout_help

  def __call__(self, root: str, split: str, *, on_error: str = "raise",
               counter: MutableMapping[str, int] | None = None,
               skipped: list[common.BadRecord] | None = None) -> Iterator[Record]:
    if split not in self.splits:
      raise ValueError(f"{self.name} has splits {self.splits}, not {split!r}")
    if on_error not in ON_ERROR:
      raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if not os.path.isdir(root):
      raise common.MissingData(self.name, root, self.layout_help)
    return self._records(root, split, on_error, counter, skipped)

  def _records(self, root, split, on_error, counter, skipped_list) -> Iterator[Record]:
    seen: set[str] = set()
    skipped = 0
    try:
      for item in self.scan(self.name, root, split):
        problem = item if isinstance(item, common.BadRecord) else self.check(item, seen)
        if problem is None:
          seen.add(item.id)
          yield item
          continue
        if on_error == "raise":
          raise problem
        if counter is not None:
          counter[problem.kind] = counter.get(problem.kind, 0) + 1
        if skipped_list is not None:
          skipped_list.append(problem)
        if skipped < _LOGGED_SKIPS:
          logging.warning("skipping (%s): %s", problem.kind, problem)
        skipped += 1
    except common.MissingData as e:
      raise common.MissingData(self.name, e.source, self.layout_help) from None

  def check(self, record: Record, seen: set[str]) -> common.BadRecord | None:
    """The first problem of `record`, or None."""
    def bad(problem, kind):
      return common.BadRecord(self.name, record.source, record.id, problem, kind)
    for name in self.required:
      value = record.fields.get(name)
      if not isinstance(value, str) or not value.strip():
        return bad(f"empty or missing {name!r}", common.EMPTY_FIELD)
    if record.id in seen:
      return bad("duplicate id", common.DUPLICATE_ID)
    for image in record.images:
      if isinstance(image, str) and not os.path.isfile(image):
        return bad(f"image file not found: {image}", common.MISSING_IMAGE)
      if isinstance(image, bytes) and not image:
        return bad("empty image bytes", common.MISSING_IMAGE)
    return None


@dataclasses.dataclass(frozen=True)
class TaskSettings:
  """How a dataset becomes a task (biomed_jax/data/tasks.py builds the Task from this).

  kind: key of tasks.TEMPLATES; target: the field to generate; lengths: (source, target)
  token limits incl. EOS; metrics: names in biomed_jax/metrics; formatter: key of
  tasks.FORMATTERS; candidates: a static tuple, a families.CANDIDATES_* name, or None (open
  generation); image: "" (from the family), "required", "optional" or "none".
  """
  kind: str
  target: str
  lengths: tuple[int, int]
  metrics: tuple[str, ...]
  formatter: str = "short"
  candidates: tuple[str, ...] | str | None = None
  image: str = ""


@dataclasses.dataclass(frozen=True)
class ReaderSpec:
  """One dataset of the registry: its reader, layout and task in one place.

  name: registry name (e.g. "vqa_rad"); family: one of families.FAMILIES;
  read(root, split, *, on_error="raise", counter=None, skipped=None) -> Iterator[Record];
  splits: the splits it has; layout_help: where to get the data and the exact layout expected;
  folder: its folder name under a common data root (`prepare --dataset=all`); required: text
  fields every record must have non-empty; task: how it is trained and evaluated;
  extra_sources: glob patterns (relative to root) of files that shape the records without
  being any record's source (a split list, topics), fingerprinted by `prepare` too.
  """
  name: str
  family: str
  read: CheckedReader
  splits: tuple[str, ...]
  layout_help: str
  folder: str
  required: tuple[str, ...] = ()
  task: TaskSettings | None = None
  extra_sources: tuple[str, ...] = ()


def make_spec(name: str, family: str, scan, splits: tuple[str, ...], layout_help: str,
              folder: str, required: tuple[str, ...], task: TaskSettings | None = None,
              extra_sources: tuple[str, ...] = ()) -> ReaderSpec:
  reader = CheckedReader(name, scan, splits, required, layout_help)
  return ReaderSpec(name=name, family=family, read=reader, splits=splits,
                    layout_help=layout_help, folder=folder, required=required, task=task,
                    extra_sources=extra_sources)
