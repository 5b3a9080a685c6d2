"""Every reader honours on_error: bad lines are skipped and counted under "skip", and raise a
BadRecord naming the file and line under "raise" -- the shipped sample reader raised on a
malformed line even under "skip", and a non-UTF-8 line gave a bare UnicodeDecodeError
(issue 14, item 9)."""

import collections
import csv
import json
import os

import pytest

from biomed_jax.data import readers


def _sample_vqa(root: str) -> str:
  folder = os.path.join(root, "sample_vqa")
  os.makedirs(folder)
  good = [{"id": f"q{n}", "image": None, "question": f"Question {n}?", "answer": "yes",
           "answer_type": "CLOSED"} for n in range(3)]
  path = os.path.join(folder, "train.jsonl")
  with open(path, "wb") as f:
    f.write(json.dumps(good[0]).encode() + b"\n")
    f.write(b'{"id": "cut", "question": "Is th\n')  # line 2: malformed JSON
    f.write(json.dumps(good[1]).encode() + b"\n")
    f.write(b'{"id": "latin1", "question": "caf\xe9?", "answer": "no"}\n')  # line 4: not UTF-8
    f.write(json.dumps(good[2]).encode() + b"\n")
  return path


def test_sample_reader_skips_and_counts_or_names_file_and_line(tmp_path):
  path = _sample_vqa(str(tmp_path))
  counter, skipped = collections.Counter(), []
  records = list(readers.read("sample_vqa", str(tmp_path), "train", on_error="skip",
                              counter=counter))
  assert [r.id for r in records] == ["q0", "q1", "q2"]
  assert counter == {"malformed": 2}
  list(readers.read("sample_vqa", str(tmp_path), "train", on_error="skip", skipped=skipped))
  assert [(p.source, p.record_id) for p in skipped] == [(path, "line 2"), (path, "line 4")]
  with pytest.raises(readers.BadRecord) as raised:
    list(readers.read("sample_vqa", str(tmp_path), "train", on_error="raise"))
  assert (raised.value.source, raised.value.record_id) == (path, "line 2")


def test_non_utf8_csv_row_is_a_bad_record_naming_the_file(tmp_path):
  root = str(tmp_path)
  os.makedirs(os.path.join(root, "images"))
  header = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C",
            "Choice D", "Answer_label"]
  rows = [["a.jpg", "Which?", "B:CT", "A:MRI", "B:CT", "C:PET", "D:US", "B"],
          ["b.jpg", "Which one?", "A:MRI", "A:MRI", "B:CT", "C:PET", "D:US", "A"]]
  for name in ("a.jpg", "b.jpg"):
    open(os.path.join(root, "images", name), "wb").close()
  path = os.path.join(root, "train.csv")
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerow(rows[0])
  with open(path, "ab") as f:
    f.write(b"c.jpg,Caf\xe9 scan?,A:MRI,A:MRI,B:CT,C:PET,D:US,A\r\n")  # Latin-1 row
    f.write(",".join(rows[1]).encode() + b"\r\n")
  with open(os.path.join(root, "test.csv"), "w", newline="", encoding="utf-8") as f:
    csv.writer(f).writerow(header)
  counter, skipped = collections.Counter(), []
  records = list(readers.read("pmc_vqa", root, "train", on_error="skip", counter=counter))
  assert [r.fields["question"] for r in records] == ["Which?", "Which one?"]
  assert counter == {"malformed": 1}
  list(readers.read("pmc_vqa", root, "train", on_error="skip", skipped=skipped))
  assert skipped[0].source == path and "UTF-8" in skipped[0].problem
  with pytest.raises(readers.BadRecord) as raised:
    list(readers.read("pmc_vqa", root, "train", on_error="raise"))
  assert raised.value.source == path
