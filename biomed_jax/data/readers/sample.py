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
import json
import os

from biomed_jax.data.records import DataError, Record

SAMPLE_TASKS = ("sample_image_classification", "sample_vqa", "sample_captioning",
                "sample_text_understanding", "sample_summarization", "sample_qa")
SPLITS = ("train", "validation")
DEFAULT_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "assets", "sample")
REBUILD = ("The sample mixture ships in the package (biomed_jax/assets/sample); rebuild it with "
           "`python scripts/build_sample_mixture.py --download` (needs `apt-get install "
           "mricron-data`), laid out as <root>/<task>/{train,validation}.jsonl + images/.")


def read(root: str, split: str, *, task: str) -> Iterator[Record]:
  """Records of one sample task's split; image paths are absolute (resolved against root)."""
  if task not in SAMPLE_TASKS:
    raise ValueError(f"unknown sample task {task!r}; known: {SAMPLE_TASKS}")
  if split not in SPLITS:
    raise ValueError(f"{task} has splits {SPLITS}, not {split!r}")
  for path in (root, os.path.join(root, task), os.path.join(root, task, f"{split}.jsonl")):
    if not os.path.exists(path):
      raise DataError(task, path, None, f"not found. {REBUILD}")
  return _records(os.path.join(root, task), split, task)


def _records(folder: str, split: str, task: str) -> Iterator[Record]:
  path = os.path.join(folder, f"{split}.jsonl")
  with open(path, encoding="utf-8") as f:
    for line_number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        item = json.loads(line)
      except json.JSONDecodeError as e:
        raise DataError(task, path, None, f"line {line_number}: malformed JSON ({e})") from None
      if not isinstance(item, dict) or "id" not in item:
        raise DataError(task, path, None,
                        f"line {line_number}: expected a JSON object with an \"id\"")
      record_id = str(item.pop("id"))
      image = item.pop("image", None)
      if image is not None and not isinstance(image, str):
        raise DataError(task, path, record_id,
                        f"line {line_number}: \"image\" must be a path or null")
      images = (os.path.normpath(os.path.join(folder, image)),) if image else ()
      yield Record(dataset=task, split=split, id=record_id, source=path, images=images,
                   fields=item)
