"""Text-only benchmarks: MedNLI (text understanding) and MeQSum (summarization)."""

import os

from biomed_jax.data.readers import common
from biomed_jax.data.readers import xlsx
from biomed_jax.data.records import DataError, Record

# ---------------------------------------------------------------------------------------------
# MedNLI 1.0.0 (PhysioNet): mli_{train,dev,test}_v1.jsonl with sentence1, sentence2,
# gold_label, pairID (+ parse trees, unused).
MEDNLI_FILES = {"train": "mli_train_v1.jsonl", "validation": "mli_dev_v1.jsonl",
                "test": "mli_test_v1.jsonl"}
MEDNLI_LABELS = ("entailment", "contradiction", "neutral")


def scan_mednli(dataset: str, root: str, split: str) -> common.ScanResult:
  path = os.path.join(root, MEDNLI_FILES[split])
  for number, item in common.iter_jsonl(dataset, path):
    if isinstance(item, common.BadRecord):
      yield item
      continue
    record_id = common.text(item.get("pairID")).strip()
    if not record_id:
      yield common.BadRecord(dataset, path, f"line {number}", "no pairID", common.MALFORMED)
      continue
    label = common.text(item.get("gold_label")).strip()
    if label and label not in MEDNLI_LABELS:
      yield common.BadRecord(dataset, path, record_id,
                             f"gold_label {label!r} is not one of {MEDNLI_LABELS}",
                             common.BAD_VALUE)
      continue
    yield Record(dataset=dataset, split=split, id=record_id, source=path, fields={
        "premise": common.text(item.get("sentence1")),
        "hypothesis": common.text(item.get("sentence2")),
        "label": label,
    })


# ---------------------------------------------------------------------------------------------
# MeQSum (Ben Abacha & Demner-Fushman, ACL 2019): one workbook, columns File, CHQ, Summary,
# 1,000 rows and no published split. Rows in file order: the first 500 are train, the next
# 100 validation, the rest (400) test.
MEQSUM_FILE = "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
MEQSUM_SPLIT_ROWS = {"train": (0, 500), "validation": (500, 600), "test": (600, None)}


def scan_meqsum(dataset: str, root: str, split: str) -> common.ScanResult:
  path = common.require(dataset, os.path.join(root, MEQSUM_FILE))
  try:
    rows = xlsx.read_first_sheet(path)
  except xlsx.XlsxError as e:
    raise DataError(dataset, path, None, str(e)) from None
  header_at = next((i for i, row in enumerate(rows) if any(c.strip() for c in row)), None)
  header = [c.strip().lower() for c in rows[header_at]] if header_at is not None else []
  columns = {name: header.index(name) for name in ("file", "chq", "summary") if name in header}
  if "chq" not in columns or "summary" not in columns:
    raise DataError(dataset, path, None, f"needs CHQ and Summary columns; header is {header}")
  data_rows = [row for row in rows[header_at + 1:] if any(c.strip() for c in row)]
  start, stop = MEQSUM_SPLIT_ROWS[split]
  def cell(row: list[str], name: str) -> str:
    column = columns.get(name)
    return row[column] if column is not None and column < len(row) else ""
  for index, row in enumerate(data_rows[start:stop], start=start):
    yield Record(dataset=dataset, split=split, id=cell(row, "file").strip() or str(index),
                 source=path, fields={"document": cell(row, "chq"),
                                      "summary": cell(row, "summary")})
