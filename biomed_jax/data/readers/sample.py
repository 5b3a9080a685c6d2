"""The sample mixture shipped with biomed_jax: six small tasks built from real biomedical data.

    for record in sample.read(sample.DEFAULT_ROOT, "train", task="sample_vqa"):
      record.images   # (absolute path of the PNG,) or () for text-only tasks
      record.fields   # {"question": ..., "answer": ..., "answer_type": "CLOSED" | "OPEN"}

Layout (built by scripts/build_sample_mixture.py; sources and licences in its README.md):
  <root>/<task>/train.jsonl, <root>/<task>/validation.jsonl, <root>/<task>/images/*.png
  one JSON object a line: {"id": ..., "image": "images/<file>.png" | null, <fields>}

Tasks and their fields:
  sample_image_classification  label, label_index    imaging plane of a brain MRI slice
  sample_vqa                   question, answer, answer_type
  sample_captioning            caption
  sample_text_understanding    text, label          PubMed abstract -> Humans | Animals
  sample_summarization         document, summary    PubMed abstract -> title
  sample_qa                    question, context, answer, options, answer_idx
"""

from collections.abc import Iterator
import os

from biomed_jax.data.readers import common
from biomed_jax.data.records import DataError, Record

SPLITS = ("train", "validation")
DEFAULT_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "assets", "sample")
REBUILD = ("The sample mixture ships in the package (biomed_jax/assets/sample); rebuild it with "
           "`python scripts/build_sample_mixture.py --download` (needs `apt-get install "
           "mricron-data`), laid out as <root>/<task>/{train,validation}.jsonl + images/.")


def __getattr__(name: str):
  # SAMPLE_TASKS is registered in readers/catalog.py (which imports this module).
  if name == "SAMPLE_TASKS":
    from biomed_jax.data.readers import catalog  # pylint: disable=g-import-not-at-top
    return catalog.SAMPLE_TASKS
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read(root: str, split: str, *, task: str) -> Iterator[Record]:
  """Records of one sample task's split; image paths are absolute (resolved against root).

  Strict: the first bad line raises its BadRecord. The registry (`readers.read`) reads
  through `scan` instead and honours on_error."""
  return _strict(scan(task, root, split, task=task))  # checks the paths now, not on next()


def _strict(items: common.ScanResult) -> Iterator[Record]:
  for item in items:
    if isinstance(item, common.BadRecord):
      raise item
    yield item


def scan(dataset: str, root: str, split: str, *, task: str) -> common.ScanResult:
  """Records of one sample task's split, or a BadRecord per unusable line."""
  known = __getattr__("SAMPLE_TASKS")
  if task not in known:
    raise ValueError(f"unknown sample task {task!r}; known: {known}")
  if split not in SPLITS:
    raise ValueError(f"{task} has splits {SPLITS}, not {split!r}")
  for path in (root, os.path.join(root, task), os.path.join(root, task, f"{split}.jsonl")):
    if not os.path.exists(path):
      raise DataError(dataset, path, None, f"not found. {REBUILD}")
  return _records(dataset, os.path.join(root, task), split)


def _records(dataset: str, folder: str, split: str) -> common.ScanResult:
  path = os.path.join(folder, f"{split}.jsonl")
  # iter_jsonl turns a malformed or non-UTF-8 line into a BadRecord naming file and line.
  for number, item in common.iter_jsonl(dataset, path):
    if isinstance(item, common.BadRecord):
      yield item
      continue
    if "id" not in item:
      yield common.BadRecord(dataset, path, f"line {number}", 'no "id"', common.MALFORMED)
      continue
    record_id = str(item.pop("id"))
    image = item.pop("image", None)
    if image is not None and not isinstance(image, str):
      yield common.BadRecord(dataset, path, record_id,
                             f'line {number}: "image" must be a path or null', common.MALFORMED)
      continue
    images = (os.path.normpath(os.path.join(folder, image)),) if image else ()
    yield Record(dataset=dataset, split=split, id=record_id, source=path, images=images,
                 fields=item)
