"""Visual question answering: VQA-RAD, SLAKE (English), PathVQA and PMC-VQA, as published.

Fields: question, answer, answer_type ("CLOSED" | "OPEN"); PMC-VQA adds options and
answer_label. Answers keep the publisher's text (case and spacing included).
"""

import csv
import os
import pickle

from biomed_jax.data.readers import common
from biomed_jax.data.records import DataError, Record

_CLOSED, _OPEN = "CLOSED", "OPEN"


def _answer_type(value) -> str | None:
  normalised = common.text(value).strip().upper()
  return normalised if normalised in (_CLOSED, _OPEN) else None


def _yes_no_type(answer: str) -> str:
  return _CLOSED if answer.strip().lower() in ("yes", "no") else _OPEN


def _checked_items(dataset: str, path: str, items: list, keep):
  """(item, qid, answer_type) for the JSON objects `keep` selects, or a BadRecord."""
  for index, item in enumerate(items):
    if not isinstance(item, dict):
      yield common.BadRecord(dataset, path, f"#{index}", "not a JSON object", common.MALFORMED)
      continue
    if not keep(item):
      continue
    qid = common.text(item.get("qid")).strip()
    if not qid:
      yield common.BadRecord(dataset, path, f"#{index}", "no qid", common.MALFORMED)
      continue
    answer_type = _answer_type(item.get("answer_type"))
    if answer_type is None:
      yield common.BadRecord(dataset, path, qid,
                             f"answer_type {item.get('answer_type')!r} is not CLOSED/OPEN",
                             common.BAD_VALUE)
      continue
    yield item, qid, answer_type


# ---------------------------------------------------------------------------------------------
# VQA-RAD: one JSON list; the test set is the questions whose phrase_type starts with "test"
# (test_freeform / test_para), everything else is train.
VQA_RAD_JSON = "VQA_RAD Dataset Public.json"
VQA_RAD_IMAGES = "VQA_RAD Image Folder"


def scan_vqa_rad(dataset: str, root: str, split: str) -> common.ScanResult:
  path = os.path.join(root, VQA_RAD_JSON)
  image_dir = common.require(dataset, os.path.join(root, VQA_RAD_IMAGES))
  items = common.expect_list(dataset, path, common.load_json(dataset, path))
  keep = lambda item: ("test" if common.text(item.get("phrase_type")).strip().lower()
                       .startswith("test") else "train") == split
  for item in _checked_items(dataset, path, items, keep):
    if isinstance(item, common.BadRecord):
      yield item
      continue
    item, qid, answer_type = item
    phrase_type = common.text(item.get("phrase_type")).strip().lower()
    image_name = common.text(item.get("image_name")).strip()
    yield Record(
        dataset=dataset, split=split, id=qid, source=path,
        images=(os.path.join(image_dir, image_name),) if image_name else (),
        fields={
            "question": common.text(item.get("question")),
            "answer": common.text(item.get("answer")),
            "answer_type": answer_type,
            "image_organ": common.text(item.get("image_organ")),
            "question_type": common.text(item.get("question_type")),
            "phrase_type": phrase_type,
        })


# ---------------------------------------------------------------------------------------------
# SLAKE 1.0: {train,validate,test}.json lists; images at imgs/<img_name>. English only.
SLAKE_FILES = {"train": "train.json", "validation": "validate.json", "test": "test.json"}


def scan_slake(dataset: str, root: str, split: str) -> common.ScanResult:
  path = os.path.join(root, SLAKE_FILES[split])
  image_dir = common.require(dataset, os.path.join(root, "imgs"))
  items = common.expect_list(dataset, path, common.load_json(dataset, path))
  keep = lambda item: common.text(item.get("q_lang")).strip().lower() == "en"
  for item in _checked_items(dataset, path, items, keep):
    if isinstance(item, common.BadRecord):
      yield item
      continue
    item, qid, answer_type = item
    image_name = common.text(item.get("img_name")).strip()
    yield Record(
        dataset=dataset, split=split, id=qid, source=path,
        images=(os.path.join(image_dir, image_name),) if image_name else (),
        fields={
            "question": common.text(item.get("question")),
            "answer": common.text(item.get("answer")),
            "answer_type": answer_type,
            "modality": common.text(item.get("modality")),
            "location": common.text(item.get("location")),
            "content_type": common.text(item.get("content_type")),
            "img_id": common.text(item.get("img_id")),
        })


# ---------------------------------------------------------------------------------------------
# PathVQA: qas/<s>/<s>_qa.pkl (pickled list of {image, question, answer}),
# images/<s>/<image>.jpg, with s in train/val/test. Records have no id: the list index is used.
PATH_VQA_DIRS = {"train": "train", "validation": "val", "test": "test"}


class _PlainUnpickler(pickle.Unpickler):
  """Loads only plain containers and strings: the files hold nothing else, and a pickle that
  asks for a class could run arbitrary code."""

  def find_class(self, module, name):
    raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def scan_path_vqa(dataset: str, root: str, split: str) -> common.ScanResult:
  part = PATH_VQA_DIRS[split]
  path = common.require(dataset, os.path.join(root, "qas", part, f"{part}_qa.pkl"))
  image_dir = common.require(dataset, os.path.join(root, "images", part))
  try:
    with open(path, "rb") as f:
      items = _PlainUnpickler(f, encoding="utf-8").load()
  except (pickle.UnpicklingError, EOFError, ValueError, UnicodeDecodeError) as e:
    raise DataError(dataset, path, None, f"cannot unpickle: {e}") from None
  items = common.expect_list(dataset, path, items, "a pickled list")
  for index, item in enumerate(items):
    record_id = str(index)
    if not isinstance(item, dict):
      yield common.BadRecord(dataset, path, record_id, "not a dict", common.MALFORMED)
      continue
    answer = common.text(item.get("answer"))
    image = common.text(item.get("image")).strip()
    yield Record(
        dataset=dataset, split=split, id=record_id, source=path,
        images=(os.path.join(image_dir, f"{image}.jpg"),) if image else (),
        fields={
            "question": common.text(item.get("question")),
            "answer": answer,
            # PathVQA has no answer_type: yes/no questions are the closed ones.
            "answer_type": _yes_no_type(answer),
        })


# ---------------------------------------------------------------------------------------------
# PMC-VQA: {train,test}.csv with Figure_path, Question, Answer, Choice A-D, Answer_label;
# images/<Figure_path>. Ids are the 0-based data row index.
PMC_VQA_FILES = {"train": "train.csv", "test": "test.csv"}
_LETTERS = ("A", "B", "C", "D")


def _surrogate_lines(f):
  """Text lines of a binary file; bytes that are not UTF-8 become surrogates, so one bad row
  can be reported and skipped instead of stopping the whole file."""
  for number, raw in enumerate(f):
    if number == 0 and raw.startswith(b"\xef\xbb\xbf"):
      raw = raw[3:]
    yield raw.decode("utf-8", errors="surrogateescape")


def _is_utf8(row: dict) -> bool:
  try:
    "".join(str(v) for v in row.values()).encode("utf-8")
    return True
  except UnicodeEncodeError:
    return False


def scan_pmc_vqa(dataset: str, root: str, split: str) -> common.ScanResult:
  path = common.require(dataset, os.path.join(root, PMC_VQA_FILES[split]))
  image_dir = common.require(dataset, os.path.join(root, "images"))
  with open(path, "rb") as f:
    reader = csv.DictReader(_surrogate_lines(f))
    header = reader.fieldnames or []
    missing = [c for c in ("Figure_path", "Question", "Answer_label") if c not in header]
    missing += [f"Choice {l}" for l in _LETTERS if f"Choice {l}" not in header]
    # The dataset card spells the answer column both "Answer" and "Anwser".
    answer_column = next((c for c in ("Answer", "Anwser") if c in header), None)
    if missing or answer_column is None:
      raise DataError(dataset, path, None,
                      f"missing columns {missing + ([] if answer_column else ['Answer'])}; "
                      f"header is {header}")
    try:
      for index, row in enumerate(reader):
        record_id = str(index)
        if None in row:  # more cells than header columns
          yield common.BadRecord(dataset, path, record_id,
                                 f"row at line {reader.line_num} has extra cells",
                                 common.MALFORMED)
          continue
        if not _is_utf8(row):
          yield common.BadRecord(dataset, path, record_id,
                                 f"row at line {reader.line_num} is not UTF-8 text",
                                 common.MALFORMED)
          continue
        label = common.text(row.get("Answer_label")).strip().upper()
        if label not in _LETTERS:
          yield common.BadRecord(dataset, path, record_id,
                                 f"Answer_label {row.get('Answer_label')!r} is not A-D",
                                 common.BAD_VALUE)
          continue
        options = [common.strip_choice_label(common.text(row.get(f"Choice {l}")), l)
                   for l in _LETTERS]
        figure = common.text(row.get("Figure_path")).strip()
        fields = {
            "question": common.text(row.get("Question")),
            "answer": common.strip_choice_label(common.text(row.get(answer_column)), label),
            "answer_type": _CLOSED,
            "options": options,
            "answer_label": label,
        }
        if "Caption" in header:
          fields["caption"] = common.text(row.get("Caption"))
        yield Record(dataset=dataset, split=split, id=record_id, source=path,
                     images=(os.path.join(image_dir, figure),) if figure else (),
                     fields=fields)
    except csv.Error as e:
      raise DataError(dataset, path, None, f"CSV error at line {reader.line_num}: {e}") from None
