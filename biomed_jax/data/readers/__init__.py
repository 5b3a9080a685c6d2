"""Registry of dataset readers: every benchmark and instruction set, read in its publisher's layout.

    from biomed_jax.data import readers
    for record in readers.read("vqa_rad", "/data/vqa_rad", "train"):
      ...
    counts = collections.Counter()
    records = readers.read("slake", root, "test", on_error="skip", counter=counts)

API
  READERS: dict[str, ReaderSpec]           name -> spec (family, splits, layout_help, folder,
                                           task); registered once in readers/catalog.py
  read(dataset, root, split, *, on_error="raise", counter=None, skipped=None)
                                           -> Iterator[Record]; `skipped` (a list) gets
                                           each BadRecord dropped under on_error="skip"
  get(dataset) -> ReaderSpec               KeyError naming the known datasets
  FAMILIES                                 the task families (biomed_jax/data/families.py)
  SAMPLE_TASKS                             the shipped sample mixture's task names

`root` is the dataset's own folder, laid out as `READERS[name].layout_help` says. Splits are
"train", "validation", "test" (those the publisher has; see `spec.splits`).

Bad input
  * A missing folder or file raises `MissingData` (a DataError) whose message carries the
    layout help. A file that cannot be parsed at all (broken JSON document, not an xlsx/npz)
    raises DataError naming the file. Neither is affected by `on_error`.
  * A bad record -- a malformed JSON line or row, an empty required field (question, answer,
    caption, ...), a duplicate id within the split, an image file that does not exist, a value
    outside its set (label, answer letter) -- raises `BadRecord` (a DataError naming dataset,
    file and record) with on_error="raise" (default). With on_error="skip" it is dropped and
    `counter[kind] += 1`, kind in PROBLEM_KINDS ("malformed", "empty_field", "duplicate_id",
    "missing_image", "bad_value"; "bad_image" comes only from `prepare`, which decodes every
    image in full). A line that is not UTF-8 is a malformed record, never a bare
    UnicodeDecodeError. For duplicate ids the first record is kept and later ones are the bad
    ones. Readers only check that image files exist; decoding is the pipeline's job.
  * Texts are kept as published (case, inner spacing); answers are not normalised.
"""

from collections.abc import Iterator, MutableMapping

from biomed_jax.data.families import (CAPTIONING, FAMILIES, IMAGE_CLASSIFICATION, INSTRUCTION,
                                      QUESTION_ANSWERING, SUMMARIZATION, TEXT_UNDERSTANDING,
                                      VQA)
from biomed_jax.data.readers import catalog
from biomed_jax.data.readers.common import BadRecord, MissingData, PROBLEM_KINDS
from biomed_jax.data.readers.spec import ReaderSpec, TaskSettings
from biomed_jax.data.records import Record

ALL_SPLITS = catalog.ALL_SPLITS
READERS: dict[str, ReaderSpec] = catalog.REGISTRY
SAMPLE_TASKS: tuple[str, ...] = catalog.SAMPLE_TASKS  # the shipped sample mixture's tasks


def sample_default_root() -> str:
  from biomed_jax.data.readers import sample  # pylint: disable=g-import-not-at-top
  return sample.DEFAULT_ROOT


def get(dataset: str) -> ReaderSpec:
  try:
    return READERS[dataset]
  except KeyError:
    raise KeyError(f"unknown dataset {dataset!r}; known: {sorted(READERS)}") from None


def read(dataset: str, root: str, split: str, *, on_error: str = "raise",
         counter: MutableMapping[str, int] | None = None,
         skipped: list[BadRecord] | None = None) -> Iterator[Record]:
  """Records of `dataset`'s `split` under `root`, checked (see the module docstring).

  With on_error="skip", `skipped` (a list) receives each dropped BadRecord."""
  return get(dataset).read(root, split, on_error=on_error, counter=counter, skipped=skipped)


__all__ = ["BadRecord", "FAMILIES", "MissingData", "PROBLEM_KINDS", "READERS", "ReaderSpec",
           "SAMPLE_TASKS", "TaskSettings", "get", "read"]
