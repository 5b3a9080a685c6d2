"""Re-running prepare without --overwrite reuses an output only if made from the same files.

Before, a changed download was silently ignored and the old counts printed (issue 14, item 8).
"""

import json
import os

import pytest

from biomed_jax.data import prepare
from biomed_jax.data import tfds_builders
from biomed_jax.data.records import DataError

REPORT = "prepare_report.json"  # written next to the prepared data


def _row(n: int, label: str = "entailment") -> dict:
  return {"sentence1": f"Premise {n}.", "sentence2": f"Hypothesis {n}.", "gold_label": label,
          "pairID": f"pair-{n}"}


def _write(path: str, rows) -> None:
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(row) + "\n" for row in rows)


def _mednli(root: str, train_rows: int) -> None:
  os.makedirs(root, exist_ok=True)
  _write(os.path.join(root, "mli_train_v1.jsonl"), [_row(n) for n in range(train_rows)])
  _write(os.path.join(root, "mli_dev_v1.jsonl"), [_row(100, "neutral")])
  _write(os.path.join(root, "mli_test_v1.jsonl"), [_row(200, "contradiction")])


def test_changed_input_is_refused_until_overwrite(tmp_path):
  root, out = str(tmp_path / "mednli"), str(tmp_path / "out")
  _mednli(root, train_rows=3)
  assert prepare.prepare("mednli", root, out) == {"train": 3, "validation": 1, "test": 1}
  # Same files: the output is reused.
  assert prepare.prepare("mednli", root, out) == {"train": 3, "validation": 1, "test": 1}

  _mednli(root, train_rows=5)  # a newer download with two more training pairs
  with pytest.raises(DataError, match=r"mli_train_v1\.jsonl changed.*--overwrite"):
    prepare.prepare("mednli", root, out)
  assert prepare.prepare("mednli", root, out, overwrite=True) == {
      "train": 5, "validation": 1, "test": 1}
  with open(os.path.join(tfds_builders.prepared_dir(out, "mednli"), REPORT)) as f:
    sources = json.load(f)["splits"]["train"]["sources"]
  assert sources["mli_train_v1.jsonl"]["size"] == \
      os.path.getsize(os.path.join(root, "mli_train_v1.jsonl"))


def test_output_without_a_record_of_its_inputs_is_refused(tmp_path):
  root, out = str(tmp_path / "mednli"), str(tmp_path / "out")
  _mednli(root, train_rows=2)
  prepare.prepare("mednli", root, out)
  os.remove(os.path.join(tfds_builders.prepared_dir(out, "mednli"), REPORT))
  with pytest.raises(DataError, match="no record of its input files"):
    prepare.prepare("mednli", root, out)


def test_a_changed_split_list_is_noticed_too(tmp_path):
  # PubMedQA's test split is the PMIDs of test_ground_truth.json, a file no record comes from.
  root, out = str(tmp_path / "pubmedqa"), str(tmp_path / "out")
  items = {str(pmid): {"QUESTION": f"Question {pmid}?", "CONTEXTS": ["Context."],
                       "LONG_ANSWER": "Long.", "final_decision": "yes" if pmid % 2 else "no"}
           for pmid in range(1000, 1012)}
  os.makedirs(root)
  with open(os.path.join(root, "ori_pqal.json"), "w") as f:
    json.dump(items, f)
  truth = os.path.join(root, "test_ground_truth.json")
  with open(truth, "w") as f:
    json.dump({"1000": "no", "1001": "yes"}, f)
  assert prepare.prepare("pubmedqa", root, out)["test"] == 2
  with open(truth, "w") as f:
    json.dump({"1000": "no", "1001": "yes", "1002": "no"}, f)
  with pytest.raises(DataError, match=r"test_ground_truth\.json changed"):
    prepare.prepare("pubmedqa", root, out)
  assert prepare.prepare("pubmedqa", root, out, overwrite=True)["test"] == 3
