"""prepare -> ArrayRecord -> PreparedSource gives back the reader's records (images as bytes)."""

import collections
import dataclasses
import hashlib
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from biomed_jax.data import prepare
from biomed_jax.data import prepare_report
from biomed_jax.data import prepared
from biomed_jax.data import readers
from biomed_jax.data import tfds_builders
from biomed_jax.data.records import DataError
import all_fixtures
import native_fixtures as nf
import pool_fixtures as pf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def with_image_bytes(record):
  images = []
  for image in record.images:
    if isinstance(image, str):
      with open(image, "rb") as f:
        image = f.read()
    images.append(image)
  return dataclasses.replace(record, images=tuple(images))


def assert_round_trip(name, root, data_dir):
  for split in readers.get(name).splits:
    expected = [with_image_bytes(r) for r in readers.read(name, root, split)]
    source = prepared.PreparedSource(name, data_dir, split)
    assert len(source) == len(expected) > 0
    assert [source[i] for i in range(len(source))] == expected


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  root = tmp_path_factory.mktemp("data")
  nf.write_vqa_rad(str(root / "vqa_rad"))
  nf.write_mednli(str(root / "mednli"))
  chest = np.zeros((2, 14), np.uint8)
  chest[1, 4] = 1
  nf.write_medmnist(str(root / "medmnist"), "pathmnist",
                    {"train": [[8], [0], [3]], "val": [[1]], "test": [[2]]}, rgb=True)
  nf.write_medmnist(str(root / "medmnist"), "chestmnist",
                    {"train": chest, "val": chest[:1], "test": chest[1:]}, rgb=False)
  return root


@pytest.mark.parametrize("name,folder", [("vqa_rad", "vqa_rad"), ("mednli", "mednli"),
                                         ("pathmnist", "medmnist"),
                                         ("chestmnist", "medmnist")])
def test_prepared_records_equal_reader_records(data_root, tmp_path, name, folder):
  root = str(data_root / folder)
  sizes = prepare.prepare(name, root, str(tmp_path))
  assert sizes == {split: len(list(readers.read(name, root, split)))
                   for split in readers.get(name).splits}
  assert any(p.startswith(f"{name}-train.array_record")
             for p in os.listdir(tfds_builders.prepared_dir(str(tmp_path), name)))
  assert_round_trip(name, root, str(tmp_path))


def test_prepared_images_are_the_original_file_bytes(data_root, tmp_path):
  root = str(data_root / "vqa_rad")
  prepare.prepare("vqa_rad", root, str(tmp_path))
  record = prepared.PreparedSource("vqa_rad", str(tmp_path), "test")[0]
  with open(os.path.join(root, "VQA_RAD Image Folder", "synpic42202.jpg"), "rb") as f:
    assert record.images == (f.read(),)
  assert record.fields["answer"] == "Left lung "
  assert record.id == "2" and record.split == "test" and record.dataset == "vqa_rad"


def test_prepared_source_is_a_picklable_random_access_source(data_root, tmp_path):
  import grain  # pylint: disable=g-import-not-at-top
  prepare.prepare("mednli", str(data_root / "mednli"), str(tmp_path))
  source = prepared.PreparedSource("mednli", str(tmp_path), "train")
  first = source[0]
  copy = pickle.loads(pickle.dumps(source))
  assert len(copy) == 2 and copy[0] == first and copy[-1] == source[1]
  with pytest.raises(IndexError):
    source[2]
  ids = list(grain.MapDataset.source(source).map(lambda r: r.id))
  assert ids == ["23eb94b8-66c7-11e7-a8dc-f45c89b91419", "23eb9a99-66c7-11e7-9c60-f45c89b91419"]


def test_unprepared_dataset_and_missing_split(data_root, tmp_path):
  with pytest.raises(DataError, match="biomed_jax.data.prepare --dataset=slake"):
    prepared.PreparedSource("slake", str(tmp_path), "train")
  prepare.prepare("mednli", str(data_root / "mednli"), str(tmp_path))
  with pytest.raises(ValueError, match="prepared with splits"):
    prepared.PreparedSource("mednli", str(tmp_path), "other")


def test_undecodable_image_fails_or_is_skipped_when_preparing(tmp_path):
  root = nf.write_path_vqa(str(tmp_path / "path_vqa"))
  with open(os.path.join(root, "images", "train", "train_0001.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff\xe0 this is not a jpeg")
  with pytest.raises(readers.BadRecord, match="does not decode") as raised:
    prepare.prepare("path_vqa", root, str(tmp_path / "out1"), on_error="raise")
  assert raised.value.kind == "bad_image" and raised.value.record_id == "1"
  counter = collections.Counter()
  sizes = prepare.prepare("path_vqa", root, str(tmp_path / "out2"), on_error="skip",
                          counter=counter)
  assert sizes == {"train": 1, "validation": 1, "test": 1}
  assert counter == {"bad_image": 1}
  [record] = prepared.PreparedSource("path_vqa", str(tmp_path / "out2"), "train")
  assert record.fields["answer"] == "neutrophils"


def test_prepare_all_prepares_present_folders_and_skips_the_rest(data_root, tmp_path):
  lines = []
  done = prepare.prepare_all(str(data_root), str(tmp_path), log=lines.append)
  assert set(done) == {"vqa_rad", "mednli", "pathmnist", "chestmnist"}
  assert done["pathmnist"] == {"train": 3, "validation": 1, "test": 1}
  text = "\n".join(lines)
  assert "slake: skipped, no folder" in text
  assert "dermamnist: skipped, no" in text and "dermamnist.npz" in text
  assert "vqa_rad: train 2, test 2 records" in text
  assert sorted(os.listdir(tmp_path)) == ["chestmnist", "downloads", "mednli", "pathmnist",
                                          "vqa_rad"]  # nothing written for skipped ones
  assert_round_trip("chestmnist", str(data_root / "medmnist"), str(tmp_path))


def test_prepare_all_fails_when_no_dataset_is_found(tmp_path):
  with pytest.raises(FileNotFoundError, match="no dataset found"):
    prepare.prepare_all(str(tmp_path), str(tmp_path / "out"), log=lambda line: None)


def test_command_line_single_dataset_from_a_data_root(data_root, tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "biomed_jax.data.prepare", "--dataset=mednli",
       f"--manual_dir={data_root}", f"--data_dir={tmp_path}"],
      cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "mednli: train 2, validation 1, test 1 records" in result.stdout
  assert_round_trip("mednli", str(data_root / "mednli"), str(tmp_path))


def test_command_line_reports_missing_data_without_a_traceback(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "biomed_jax.data.prepare", "--dataset=pmc_vqa",
       f"--manual_dir={tmp_path}", f"--data_dir={tmp_path / 'out'}"],
      cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 1
  assert "prepare failed: [pmc_vqa] missing" in result.stderr
  assert "xmcmic/PMC-VQA" in result.stderr and "Traceback" not in result.stderr


_slake_with_an_empty_answer = all_fixtures.write_slake_as_published


def test_slake_empty_answer_is_skipped_and_reported_by_id_by_default(tmp_path):
  root = _slake_with_an_empty_answer(str(tmp_path / "slake"))
  result = subprocess.run(
      [sys.executable, "-m", "biomed_jax.data.prepare", "--dataset=slake",
       f"--manual_dir={tmp_path}", f"--data_dir={tmp_path / 'out'}"],
      cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  # train.json: 3 English questions (one with the empty answer) and 1 Chinese one.
  assert "slake: train 2, validation 1, test 1 records" in result.stdout
  assert "skipped 1 records (empty_field 1)" in result.stdout
  assert "record '9837'" in result.stdout
  report = prepare_report.load(tfds_builders.prepared_dir(str(tmp_path / "out"), "slake"))
  assert report["skipped"] == [{"split": "train", "kind": "empty_field",
                                "file": os.path.join(root, "train.json"), "id": "9837",
                                "problem": "empty or missing 'answer'"}]
  assert report["splits"]["train"]["skipped"] == {"empty_field": 1}
  assert report["splits"]["test"] == dict(report["splits"]["test"], records=1, skipped={})
  with open(os.path.join(root, "train.json"), "rb") as f:
    data = f.read()
  assert report["splits"]["train"]["sources"]["train.json"] == {
      "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
  assert report["splits"]["train"]["images"]["count"] == 2  # the two English xmlab0 questions


def test_slake_empty_answer_stops_a_strict_run(tmp_path):
  _slake_with_an_empty_answer(str(tmp_path / "slake"))
  result = subprocess.run(
      [sys.executable, "-m", "biomed_jax.data.prepare", "--dataset=slake", "--on_error=raise",
       f"--manual_dir={tmp_path}", f"--data_dir={tmp_path / 'out'}"],
      cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 1
  assert "prepare failed: [slake]" in result.stderr and "record '9837'" in result.stderr
  assert "empty or missing 'answer'" in result.stderr and "Traceback" not in result.stderr
  assert not os.path.exists(tfds_builders.prepared_dir(str(tmp_path / "out"), "slake"))


def test_prepare_all_over_every_fixture_prints_the_summary_table(tmp_path):
  all_fixtures.write_all(str(tmp_path / "data"))
  lines = []
  done = prepare.prepare_all(str(tmp_path / "data"), str(tmp_path / "out"), log=lines.append)
  assert set(done) == set(readers.READERS) - set(readers.SAMPLE_TASKS)
  for name, (_, sizes, _) in pf.EXPECTED.items():
    assert done[name] == sizes, name
  table = lines[-1].splitlines()
  assert table[0] == "| dataset | split | records | skipped |"
  assert "| slake | train | 2 | empty_field 1 |" in table
  assert "| rsna_pneumonia | train | 2 | missing_image 1 |" in table
  assert "| mimic_iii | train | 1 | bad_value 1, empty_field 1 |" in table
  # One row per split the dataset has; a split with no records shows 0 (TFDS writes none).
  assert len(table) == 2 + sum(len(readers.get(name).splits) for name in done)
  assert sum(row.endswith("| 0 | - |") for row in table) == \
      len(table) - 2 - sum(len(sizes) for sizes in done.values())
