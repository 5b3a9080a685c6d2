"""Clinical text: radiology findings -> impression from MIMIC-III notes and MIMIC-CXR reports
(summarization), and TREC 2022 clinical-trial matching (text understanding), as published.

Fields: document (findings) and summary (impression); TREC: patient, trial, label.
"""

import csv
import glob
import gzip
import io
import os
import re
import sys
from xml.etree import ElementTree

from biomed_jax.data.readers import common
from biomed_jax.data.records import DataError, Record

# A section header: an upper-case phrase at the start of a line, then a colon
# ("FINDINGS:", "IMPRESSION:", "PA AND LATERAL VIEWS OF THE CHEST:").
_HEADER = re.compile(r"^[ \t]*([A-Z][A-Z /&()-]{2,60}):", re.MULTILINE)
FINDINGS_HEADERS = ("FINDINGS", "FINDING")
IMPRESSION_HEADERS = ("IMPRESSION", "IMPRESSIONS", "CONCLUSION")


def report_sections(text: str) -> dict[str, str]:
  """{HEADER: text} of a radiology report; repeated headers keep the first; text collapsed."""
  sections: dict[str, str] = {}
  matches = list(_HEADER.finditer(text))
  for i, match in enumerate(matches):
    end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
    name = " ".join(match.group(1).split())
    sections.setdefault(name, " ".join(text[match.end():end].split()))
  return sections


def findings_and_impression(text: str) -> dict[str, str]:
  sections = report_sections(text)
  pick = lambda names: next((sections[n] for n in names if sections.get(n)), "")
  return {"document": pick(FINDINGS_HEADERS), "summary": pick(IMPRESSION_HEADERS)}


def _open_text(path: str):
  """A text stream over a .csv or .csv.gz file (CSV fields may hold newlines)."""
  raw = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
  return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


# ---------------------------------------------------------------------------------------------
# MIMIC-III v1.4 (PhysioNet): NOTEEVENTS.csv.gz (or unpacked .csv) with ROW_ID, SUBJECT_ID,
# HADM_ID, CHARTDATE, CHARTTIME, STORETIME, CATEGORY, DESCRIPTION, CGID, ISERROR, TEXT; TEXT
# spans lines. Radiology notes (CATEGORY "Radiology") with both a FINDINGS and an IMPRESSION
# section are read; notes flagged ISERROR=1 are bad values. No published split: hash of ROW_ID.
MIMIC_III_FILES = ("NOTEEVENTS.csv.gz", "NOTEEVENTS.csv")


def scan_mimic_iii(dataset: str, root: str, split: str) -> common.ScanResult:
  path = common.first_existing(dataset, root, MIMIC_III_FILES)
  csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # discharge summaries run long
  with _open_text(path) as f:
    reader = csv.DictReader(f)
    missing = [c for c in ("ROW_ID", "CATEGORY", "TEXT") if c not in (reader.fieldnames or [])]
    if missing:
      raise DataError(dataset, path, None, f"missing columns {missing}")
    try:
      for row in reader:
        if common.text(row.get("CATEGORY")).strip().lower() != "radiology":
          continue
        record_id = common.text(row.get("ROW_ID")).strip()
        if common.hash_split(record_id) != split:
          continue
        if common.text(row.get("ISERROR")).strip() == "1":
          yield common.BadRecord(dataset, path, record_id, "note marked ISERROR",
                                 common.BAD_VALUE)
          continue
        fields = findings_and_impression(common.text(row.get("TEXT")))
        fields["description"] = common.text(row.get("DESCRIPTION")).strip()
        yield Record(dataset=dataset, split=split, id=record_id, source=path, fields=fields)
    except (csv.Error, EOFError, OSError) as e:  # a truncated .gz or a broken quote
      raise DataError(dataset, path, None, f"cannot read further: {e}") from None


# ---------------------------------------------------------------------------------------------
# MIMIC-CXR v2 reports (PhysioNet mimic-cxr-reports.zip): files/p10/p10000032/s50414267.txt,
# one free-text report per study; the official split is mimic-cxr-2.0.0-split.csv(.gz) from
# MIMIC-CXR-JPG (dicom_id, study_id, subject_id, split: train | validate | test), one row per
# image, so a study appears once per image.
MIMIC_CXR_SPLIT_FILES = ("mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-split.csv")
_CXR_SPLITS = {"train": "train", "validation": "validate", "test": "test"}


def scan_mimic_cxr_reports(dataset: str, root: str, split: str) -> common.ScanResult:
  split_path = common.first_existing(dataset, root, MIMIC_CXR_SPLIT_FILES)
  files = common.require(dataset, os.path.join(root, "files"))
  seen: set[str] = set()
  with _open_text(split_path) as f:
    reader = csv.DictReader(f)
    for row in reader:
      study = common.text(row.get("study_id")).strip()
      subject = common.text(row.get("subject_id")).strip()
      if common.text(row.get("split")).strip() != _CXR_SPLITS[split] or study in seen:
        continue
      seen.add(study)
      if not (study.isdigit() and subject.isdigit()):
        yield common.BadRecord(dataset, split_path, study or f"line {reader.line_num}",
                               "study_id and subject_id must be numbers", common.MALFORMED)
        continue
      path = os.path.join(files, f"p{subject[:2]}", f"p{subject}", f"s{study}.txt")
      if not os.path.exists(path):
        yield common.BadRecord(dataset, split_path, f"s{study}", f"report not found: {path}",
                               common.MALFORMED)
        continue
      with open(path, encoding="utf-8", errors="replace") as report:
        fields = findings_and_impression(report.read())
      fields["subject_id"] = subject
      yield Record(dataset=dataset, split=split, id=f"s{study}", source=path, fields=fields)


# ---------------------------------------------------------------------------------------------
# TREC 2022 Clinical Trials track: topics2022.xml (<topic number="N">patient description),
# qrels2022.txt ("topic 0 NCT-id relevance", relevance 0 not relevant, 1 excluded,
# 2 eligible) and the ClinicalTrials.gov snapshot as unzipped from ClinicalTrials.2021-04-27
# .part<k>.zip: <part>/NCT0000xxxx/NCT00000102.xml. One record per judged (topic, trial);
# split by topic (hash), so no patient is in two splits.
TREC_LABELS = {"0": "not relevant", "1": "excluded", "2": "eligible"}
TREC_SPLIT_PCT = (10, 20)


def _trec_topics(dataset: str, path: str) -> dict[str, str]:
  try:
    tree = ElementTree.parse(common.require(dataset, path))
  except ElementTree.ParseError as e:
    raise DataError(dataset, path, None, f"not valid XML: {e}") from None
  return {common.text(t.get("number")).strip(): " ".join("".join(t.itertext()).split())
          for t in tree.getroot().iter("topic")}


def _trial_index(root: str) -> dict[str, str]:
  """NCT id -> XML path, for every NCT*.xml up to three folders below root."""
  index = {}
  for depth in ("*", "*/*", "*/*/*"):
    for path in sorted(glob.glob(os.path.join(glob.escape(root), depth, "NCT*.xml"))):
      index.setdefault(os.path.basename(path)[:-4], path)
  return index


def _trial_text(path: str) -> str:
  study = ElementTree.parse(path).getroot()
  title = " ".join("".join(study.findtext("brief_title") or "").split())
  criteria = study.find("eligibility/criteria/textblock")
  criteria = " ".join((criteria.text or "").split()) if criteria is not None else ""
  return f"{title}. Eligibility: {criteria}" if criteria else title


def scan_trec_ct(dataset: str, root: str, split: str) -> common.ScanResult:
  topics = _trec_topics(dataset, os.path.join(root, "topics2022.xml"))
  qrels = common.require(dataset, os.path.join(root, "qrels2022.txt"))
  trials = _trial_index(root)
  for number, line in common.iter_lines(dataset, qrels):
    if isinstance(line, common.BadRecord):
      yield line
      continue
    parts = line.split()
    if len(parts) != 4:
      yield common.BadRecord(dataset, qrels, f"line {number}",
                             "expected 'topic 0 trial relevance'", common.MALFORMED)
      continue
    topic, _, trial, relevance = parts
    if common.hash_split(f"topic {topic}", *TREC_SPLIT_PCT) != split:
      continue
    record_id = f"{topic}/{trial}"
    if relevance not in TREC_LABELS or topic not in topics:
      yield common.BadRecord(dataset, qrels, record_id,
                             f"relevance {relevance!r} not 0/1/2 or topic {topic} unknown",
                             common.BAD_VALUE)
      continue
    if trial not in trials:
      yield common.BadRecord(dataset, qrels, record_id, f"no {trial}.xml under {root}",
                             common.MALFORMED)
      continue
    try:
      trial_text = _trial_text(trials[trial])
    except ElementTree.ParseError as e:
      yield common.BadRecord(dataset, trials[trial], record_id, f"not valid XML: {e}",
                             common.MALFORMED)
      continue
    yield Record(dataset=dataset, split=split, id=record_id, source=qrels, fields={
        "patient": topics[topic], "trial": trial_text, "label": TREC_LABELS[relevance],
        "topic": topic, "trial_id": trial})
