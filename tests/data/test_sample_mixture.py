"""The shipped sample mixture and its reader: fields per task, images, disjoint splits, balance."""

import collections
import json
import os

from PIL import Image
import pytest

from biomed_jax.data.readers import sample
from biomed_jax.data.records import DataError

FIELDS = {
    "sample_image_classification": ("label", "label_index"),
    "sample_vqa": ("question", "answer", "answer_type"),
    "sample_captioning": ("caption",),
    "sample_text_understanding": ("text", "label"),
    "sample_summarization": ("document", "summary"),
    "sample_qa": ("question", "context", "answer", "options", "answer_idx"),
}
IMAGE_TASKS = ("sample_image_classification", "sample_vqa", "sample_captioning")
# The field a trivial baseline would predict the majority of.
TARGET = {"sample_image_classification": "label", "sample_vqa": "answer",
          "sample_text_understanding": "label", "sample_qa": "answer"}
# The field holding a PubMed abstract, for the text tasks.
ABSTRACT = {"sample_text_understanding": "text", "sample_summarization": "document",
            "sample_qa": "context"}


@pytest.fixture(scope="module")
def records():
  return {(task, split): list(sample.read(sample.DEFAULT_ROOT, split, task=task))
          for task in sample.SAMPLE_TASKS for split in sample.SPLITS}


def test_tasks_match_the_contract():
  assert set(sample.SAMPLE_TASKS) == set(FIELDS)


@pytest.mark.parametrize("task", sample.SAMPLE_TASKS)
def test_records_have_the_task_fields(records, task):
  for split in sample.SPLITS:
    items = records[task, split]
    assert len(items) >= (200 if split == "train" else 40), (task, split, len(items))
    for r in items:
      assert r.dataset == task and r.split == split and r.id
      assert r.source.endswith(os.path.join(task, f"{split}.jsonl"))
      for name in FIELDS[task]:
        value = r.fields[name]
        if name == "options":
          assert len(value) >= 2 and all(isinstance(o, str) and o for o in value)
        else:
          assert isinstance(value, str) and value.strip(), (r.id, name)
    assert len({r.id for r in items}) == len(items)


def test_vqa_answer_types(records):
  for split in sample.SPLITS:
    kinds = collections.Counter(r.fields["answer_type"] for r in records["sample_vqa", split])
    assert set(kinds) == {"CLOSED", "OPEN"}


def test_qa_answers_are_among_their_options(records):
  for split in sample.SPLITS:
    for r in records["sample_qa", split]:
      options = r.fields["options"]
      assert r.fields["answer"] in options
      assert options[int(r.fields["answer_idx"])] == r.fields["answer"]


def test_class_indices_are_consistent(records):
  index_of = {}
  for split in sample.SPLITS:
    for r in records["sample_image_classification", split]:
      assert index_of.setdefault(r.fields["label"], r.fields["label_index"]) == (
          r.fields["label_index"])
  assert sorted(int(i) for i in index_of.values()) == list(range(len(index_of)))


@pytest.mark.parametrize("task", sorted(TARGET))
def test_labels_are_balanced_enough_to_learn(records, task):
  for split in sample.SPLITS:
    counts = collections.Counter(r.fields[TARGET[task]] for r in records[task, split])
    assert len(counts) >= 2
    assert max(counts.values()) / sum(counts.values()) < 0.6, (task, split, counts)
  train = {r.fields[TARGET[task]] for r in records[task, "train"]}
  closed = {r.fields[TARGET[task]] for r in records[task, "validation"]
            if r.fields.get("answer_type", "CLOSED") == "CLOSED"}
  assert closed <= train  # every closed validation answer is seen in training


@pytest.mark.parametrize("task", sample.SAMPLE_TASKS)
def test_images_open_and_fit(records, task):
  for split in sample.SPLITS:
    for r in records[task, split]:
      if task not in IMAGE_TASKS:
        assert r.images == ()
        continue
      assert len(r.images) == 1
      path = r.images[0]
      assert os.path.isabs(path) and path.startswith(os.path.join(sample.DEFAULT_ROOT, task))
      with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        assert max(image.size) <= 384 and min(image.size) >= 32


@pytest.mark.parametrize("task", sample.SAMPLE_TASKS)
def test_train_and_validation_are_disjoint(records, task):
  train, validation = records[task, "train"], records[task, "validation"]
  assert not {r.id for r in train} & {r.id for r in validation}
  if task in IMAGE_TASKS:
    assert not {r.images[0] for r in train} & {r.images[0] for r in validation}
  else:
    field = ABSTRACT[task]
    assert not {r.fields[field] for r in train} & {r.fields[field] for r in validation}


def test_abstracts_are_used_by_one_text_task_only(records):
  seen = {}
  for task, field in ABSTRACT.items():
    for split in sample.SPLITS:
      for r in records[task, split]:
        assert seen.setdefault(r.fields[field], task) == task


def test_assets_stay_small():
  assets = os.path.dirname(sample.DEFAULT_ROOT)
  total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(assets) for f in fs)
  assert total < 18.5e6
  assert os.path.isfile(os.path.join(sample.DEFAULT_ROOT, "README.md"))


# -- the reader on fixtures in the same layout --------------------------------------------


def _write(root, task, split, lines):
  folder = root / task
  (folder / "images").mkdir(parents=True, exist_ok=True)
  (folder / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines))
  return folder


def test_image_paths_resolve_against_the_root(tmp_path):
  folder = _write(tmp_path, "sample_vqa", "train", [
      json.dumps({"id": "a", "image": "images/a.png", "question": "Q?", "answer": "yes",
                  "answer_type": "CLOSED"}),
      "",  # blank lines are skipped
      json.dumps({"id": 7, "image": None, "question": "Q2?", "answer": "no",
                  "answer_type": "CLOSED"})])
  got = list(sample.read(str(tmp_path), "train", task="sample_vqa"))
  assert [r.id for r in got] == ["a", "7"]
  assert got[0].images == (str(folder / "images" / "a.png"),)
  assert got[1].images == ()
  assert got[0].fields == {"question": "Q?", "answer": "yes", "answer_type": "CLOSED"}


def test_malformed_json_line_names_file_and_line(tmp_path):
  _write(tmp_path, "sample_qa", "validation", [
      json.dumps({"id": "1", "image": None, "question": "q", "answer": "a"}),
      '{"id": "2", "question": "unterminated'])
  reader = sample.read(str(tmp_path), "validation", task="sample_qa")
  assert next(reader).id == "1"
  with pytest.raises(DataError, match="line 2") as e:
    next(reader)
  assert e.value.source == str(tmp_path / "sample_qa" / "validation.jsonl")
  assert e.value.dataset == "sample_qa"


@pytest.mark.parametrize("line", ['["id", "x"]', '{"image": null, "caption": "c"}',
                                  '{"id": "x", "image": 3, "caption": "c"}'])
def test_records_without_id_or_with_bad_image_are_errors(tmp_path, line):
  _write(tmp_path, "sample_captioning", "train", [line])
  with pytest.raises(DataError, match="line 1"):
    list(sample.read(str(tmp_path), "train", task="sample_captioning"))


def test_missing_data_says_how_to_rebuild(tmp_path):
  with pytest.raises(DataError, match="build_sample_mixture.py") as e:
    list(sample.read(str(tmp_path / "absent"), "train", task="sample_vqa"))
  assert e.value.source == str(tmp_path / "absent")
  _write(tmp_path, "sample_vqa", "train", [])
  with pytest.raises(DataError, match="validation.jsonl"):
    sample.read(str(tmp_path), "validation", task="sample_vqa")


def test_unknown_task_or_split(tmp_path):
  with pytest.raises(ValueError, match="unknown sample task"):
    sample.read(str(tmp_path), "train", task="vqa_rad")
  with pytest.raises(ValueError, match="splits"):
    sample.read(str(tmp_path), "test", task="sample_vqa")
