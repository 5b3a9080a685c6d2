"""Bad input: each problem raises a DataError naming dataset, file and record, or is skipped
and counted by kind; missing folders and files explain where to get the data."""

import collections
import copy
import json
import os
import pickle

import numpy as np
import pytest

from biomed_jax.data import readers
from biomed_jax.data.records import DataError
import native_fixtures as nf


def skip_read(name, root, split):
  counter = collections.Counter()
  records = list(readers.read(name, root, split, on_error="skip", counter=counter))
  return records, counter


def test_malformed_json_line_names_file_and_line_or_is_skipped(tmp_path):
  root = nf.write_medqa(str(tmp_path), raw_lines={1: '{"question": "cut off", "opti'})
  path = os.path.join(root, "train.jsonl")
  with pytest.raises(readers.BadRecord) as raised:
    list(readers.read("medqa", root, "train"))
  error = raised.value
  assert (error.dataset, error.source, error.record_id, error.kind) == (
      "medqa", path, "line 2", "malformed")
  assert "[medqa]" in str(error) and path in str(error) and "line 2" in str(error)
  records, counter = skip_read("medqa", root, "train")
  assert [r.id for r in records] == ["1", "3"]  # line numbers around the bad line
  assert counter == {"malformed": 1}


def test_unparseable_json_document_names_line_and_column(tmp_path):
  root = nf.write_vqa_rad(str(tmp_path))
  path = os.path.join(root, "VQA_RAD Dataset Public.json")
  with open(path, "w") as f:
    f.write('[\n  {"qid": 0,\n   "question": "x"\n  \n')
  with pytest.raises(DataError, match=r"not valid JSON at line \d+ column \d+") as raised:
    list(readers.read("vqa_rad", root, "train", on_error="skip"))  # a file error always raises
  assert raised.value.source == path


def test_empty_answer_raises_or_is_counted(tmp_path):
  items = copy.deepcopy(nf.VQA_RAD_ITEMS)
  items[1]["answer"] = "  "
  root = nf.write_vqa_rad(str(tmp_path), items)
  with pytest.raises(readers.BadRecord, match="empty or missing 'answer'") as raised:
    list(readers.read("vqa_rad", root, "train"))
  assert (raised.value.record_id, raised.value.kind) == ("1", "empty_field")
  records, counter = skip_read("vqa_rad", root, "train")
  assert [r.id for r in records] == ["0"]
  assert counter == {"empty_field": 1}


def test_missing_question_key_is_an_empty_field(tmp_path):
  rows = [nf.mednli_row("p1", "Premise.", "Hypothesis.", "neutral"),
          {"sentence1": "Only a premise.", "gold_label": "neutral", "pairID": "p2"}]
  root = nf.write_mednli(str(tmp_path), {"mli_train_v1.jsonl": rows})
  with pytest.raises(readers.BadRecord, match="'hypothesis'"):
    list(readers.read("mednli", root, "train"))


def test_duplicate_id_raises_or_keeps_the_first(tmp_path):
  splits = copy.deepcopy(nf.SLAKE_SPLITS)
  duplicate = dict(splits["train.json"][0], answer="CT")
  splits["train.json"].append(duplicate)
  root = nf.write_slake(str(tmp_path), splits)
  with pytest.raises(readers.BadRecord, match="duplicate id") as raised:
    list(readers.read("slake", root, "train"))
  assert raised.value.record_id == "9835"
  records, counter = skip_read("slake", root, "train")
  assert [(r.id, r.fields["answer"]) for r in records] == [("9835", "MRI"), ("9838", "Yes")]
  assert counter == {"duplicate_id": 1}


def test_missing_image_file_raises_or_is_counted(tmp_path):
  root = nf.write_path_vqa(str(tmp_path), skip_images=("train_0422",))
  with pytest.raises(readers.BadRecord, match="image file not found") as raised:
    list(readers.read("path_vqa", root, "train"))
  assert raised.value.kind == "missing_image"
  assert "train_0422.jpg" in str(raised.value)
  records, counter = skip_read("path_vqa", root, "train")
  assert [r.fields["question"] for r in records] == ["Is this lung?"]
  assert counter == {"missing_image": 1}


def test_values_outside_their_set_are_bad_values(tmp_path):
  rows = [nf.mednli_row("p1", "P.", "H.", "entailment"),
          nf.mednli_row("p2", "P.", "H.", "maybe")]
  root = nf.write_mednli(str(tmp_path / "mednli"), {"mli_train_v1.jsonl": rows})
  records, counter = skip_read("mednli", root, "train")
  assert [r.id for r in records] == ["p1"] and counter == {"bad_value": 1}

  train = copy.deepcopy(nf.PMC_VQA_TRAIN)
  train[0][-1] = "E"
  root = nf.write_pmc_vqa(str(tmp_path / "pmc"), train=train)
  with pytest.raises(readers.BadRecord, match="Answer_label 'E'"):
    list(readers.read("pmc_vqa", root, "train"))

  labels = {"train": [[0], [9]], "val": [[0]], "test": [[0]]}  # OCTMNIST has 4 classes
  nf.write_medmnist(str(tmp_path / "mm"), "octmnist", labels, rgb=False)
  records, counter = skip_read("octmnist", str(tmp_path / "mm"), "train")
  assert [r.fields["label"] for r in records] == ["choroidal neovascularization"]
  assert counter == {"bad_value": 1}

  rows = [nf.medmcqa_row("a", "q", ["w", "x", "y", "z"], 5)]
  root = nf.write_medmcqa(str(tmp_path / "mcqa"), {"train.json": rows})
  with pytest.raises(readers.BadRecord, match="cop 5"):
    list(readers.read("medmcqa", root, "train"))


def test_answer_type_must_be_closed_or_open(tmp_path):
  items = copy.deepcopy(nf.VQA_RAD_ITEMS)
  items[0]["answer_type"] = "YES/NO"
  root = nf.write_vqa_rad(str(tmp_path), items)
  records, counter = skip_read("vqa_rad", root, "train")
  assert [r.id for r in records] == ["1"] and counter == {"bad_value": 1}


def test_llava_med_conversation_must_alternate(tmp_path):
  items = copy.deepcopy(nf.LLAVA_MED_ITEMS)
  items[0]["conversations"] = items[0]["conversations"][1:]  # starts with gpt
  root = nf.write_llava_med(str(tmp_path), items)
  with pytest.raises(readers.BadRecord, match="alternate human/gpt") as raised:
    list(readers.read("llava_med", root, "train"))
  assert raised.value.record_id == "10.1155/2014/935932_F1"


def test_malformed_caption_line(tmp_path):
  root = nf.write_peir_gross(str(tmp_path))
  with open(os.path.join(root, "train_images.tsv"), "a") as f:
    f.write("no tab on this line\n")
  records, counter = skip_read("peir_gross", root, "train")
  assert len(records) == 2 and counter == {"malformed": 1}


def test_missing_folder_message_says_where_to_get_it_and_the_layout(tmp_path):
  missing = str(tmp_path / "absent")
  with pytest.raises(readers.MissingData) as raised:
    readers.read("pubmedqa", missing, "train")
  message = str(raised.value)
  assert missing in message
  assert "https://github.com/pubmedqa/pubmedqa" in message
  assert "<root>/ori_pqal.json" in message and "test_ground_truth.json" in message


def test_missing_file_in_existing_folder_carries_layout_help(tmp_path):
  root = nf.write_roco(str(tmp_path))
  os.remove(os.path.join(root, "validation", "radiology", "captions.txt"))
  with pytest.raises(readers.MissingData) as raised:
    list(readers.read("roco", root, "validation"))
  message = str(raised.value)
  assert os.path.join(root, "validation", "radiology", "captions.txt") in message
  assert "razorx89/roco-dataset" in message and "captions.txt" in message
  os.makedirs(tmp_path / "mednli")
  with pytest.raises(readers.MissingData, match="mli_train_v1.jsonl"):
    list(readers.read("mednli", str(tmp_path / "mednli"), "train"))


def test_missing_medmnist_npz_names_the_file(tmp_path):
  with pytest.raises(readers.MissingData, match="dermamnist.npz") as raised:
    list(readers.read("dermamnist", str(tmp_path), "train"))
  assert "zenodo.org" in str(raised.value)


def test_unknown_split_dataset_and_policy():
  with pytest.raises(ValueError, match="splits"):
    readers.read("vqa_rad", "/tmp", "validation")
  with pytest.raises(KeyError, match="unknown dataset"):
    readers.read("vqa-rad", "/tmp", "train")
  with pytest.raises(ValueError, match="on_error"):
    readers.read("vqa_rad", "/tmp", "train", on_error="ignore")


def test_reader_errors_pickle_with_their_fields():
  error = readers.BadRecord("slake", "/d/train.json", "9835", "duplicate id", "duplicate_id")
  copy_ = pickle.loads(pickle.dumps(error))
  assert (copy_.kind, copy_.record_id, str(copy_)) == ("duplicate_id", "9835", str(error))
  missing = pickle.loads(pickle.dumps(readers.MissingData("x", "/p", "help text")))
  assert "help text" in str(missing)


def test_truncated_npz_rows_are_reported(tmp_path):
  labels = {"train": np.zeros((3, 1)), "val": np.zeros((1, 1)), "test": np.zeros((1, 1))}
  nf.write_medmnist(str(tmp_path), "pneumoniamnist", labels, rgb=False)
  path = os.path.join(str(tmp_path), "pneumoniamnist.npz")
  arrays = dict(np.load(path))
  arrays["train_labels"] = np.zeros((4, 1), np.uint8)  # one label more than images
  np.savez_compressed(path, **arrays)
  records, counter = skip_read("pneumoniamnist", str(tmp_path), "train")
  assert len(records) == 3 and counter == {"malformed": 1}
  json.dumps(counter)  # counts are plain ints, ready to log
