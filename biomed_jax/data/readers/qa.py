"""Question answering: PubMedQA (PQA-L), MedQA (USMLE), MedMCQA and BioASQ, as published.

Fields: question, answer, options (list), answer_idx (letter; PubMedQA: the decision) and
context (PubMedQA).
"""

import glob
import math
import os
import random

from biomed_jax.data.readers import common
from biomed_jax.data.records import Record

# ---------------------------------------------------------------------------------------------
# PubMedQA PQA-L: ori_pqal.json {PMID: {QUESTION, CONTEXTS, LABELS, MESHES, LONG_ANSWER,
# final_decision}} and test_ground_truth.json {PMID: decision}. The test split is the PMIDs of
# test_ground_truth.json; train/validation are fold 0 of the publisher's 10-fold split
# (preprocess/split_dataset.py: seed 0, label-stratified halves, then 10 folds of the first half;
# pqal_fold0/dev_set.json is our validation, pqal_fold0/train_set.json our train).
PUBMEDQA_DECISIONS = ("yes", "no", "maybe")


def _stratified_split(pmids: list[str], decisions: dict[str, str], folds: int,
                      rng: random.Random) -> list[list[str]]:
  """The publisher's split(): shuffle each label's PMIDs, cut into `folds` chunks of
  ceil(n/folds), concatenate chunk i over labels; if the last part is smaller than the first,
  move one random PMID from each other part to it."""
  parts: list[list[str]] = [[] for _ in range(folds)]
  for label in PUBMEDQA_DECISIONS:
    of_label = [p for p in pmids if decisions[p] == label]
    rng.shuffle(of_label)
    size = math.ceil(len(of_label) / folds)
    for i in range(folds):
      parts[i].extend(of_label[i * size:] if i == folds - 1 else of_label[i * size:(i + 1) * size])
  if len(parts[-1]) != len(parts[0]):
    for i in range(folds - 1):
      if not parts[i]:  # only in tiny files, where the publisher's script would fail
        continue
      picked = rng.choice(parts[i])
      parts[i].remove(picked)
      parts[-1].append(picked)
  return parts


def pubmedqa_splits(pmids: list[str], decisions: dict[str, str],
                    test: set[str] | None = None) -> dict[str, set[str]]:
  """PMIDs per split for PQA-L, by the publisher's procedure (file order matters).

  `test`, when given (test_ground_truth.json), is the test split; should it differ from the
  reproduced one, the folds are cut from all other PMIDs so none is left out.
  """
  rng = random.Random(0)
  cross_validation, reproduced_test = _stratified_split(pmids, decisions, 2, rng)
  if test is None:
    test = set(reproduced_test)
  elif set(reproduced_test) != test:
    cross_validation = [pmid for pmid in pmids if pmid not in test]
  folds = _stratified_split(cross_validation, decisions, 10, rng)
  return {"train": set().union(*folds[1:]), "validation": set(folds[0]), "test": set(test)}


def scan_pubmedqa(dataset: str, root: str, split: str) -> common.ScanResult:
  path = os.path.join(root, "ori_pqal.json")
  data = common.load_json(dataset, path)
  if not isinstance(data, dict):
    raise common.DataError(dataset, path, None, "expected an object keyed by PMID")
  decisions = {pmid: common.text(item.get("final_decision")).strip().lower()
               if isinstance(item, dict) else "" for pmid, item in data.items()}
  for pmid, decision in decisions.items():
    if decision not in PUBMEDQA_DECISIONS:
      yield common.BadRecord(dataset, path, pmid,
                             f"final_decision {decision!r} is not yes/no/maybe",
                             common.BAD_VALUE)
  valid = [pmid for pmid, decision in decisions.items() if decision in PUBMEDQA_DECISIONS]
  test = None
  truth_path = os.path.join(root, "test_ground_truth.json")
  if os.path.exists(truth_path):
    truth = common.load_json(dataset, truth_path)
    if not isinstance(truth, dict):
      raise common.DataError(dataset, truth_path, None, "expected an object keyed by PMID")
    test = set(truth)
  wanted = pubmedqa_splits(valid, decisions, test)[split]
  for pmid, item in data.items():
    if pmid not in wanted or decisions[pmid] not in PUBMEDQA_DECISIONS:
      continue
    contexts = item.get("CONTEXTS") or []
    if not isinstance(contexts, list):
      contexts = [contexts]
    yield Record(dataset=dataset, split=split, id=pmid, source=path, fields={
        "question": common.text(item.get("QUESTION")),
        "context": "\n".join(common.text(c) for c in contexts),
        "answer": decisions[pmid],
        "answer_idx": decisions[pmid],
        "options": list(PUBMEDQA_DECISIONS),
        "long_answer": common.text(item.get("LONG_ANSWER")),
    })


# ---------------------------------------------------------------------------------------------
# MedQA (Jin et al. 2021), data_clean/questions/US: {train,dev,test}.jsonl with question,
# options {A..E}, answer, answer_idx, meta_info; the 4-option variant ships as
# 4_options/phrases_no_exclude_{train,dev,test}.jsonl. Ids are line numbers.
MEDQA_PARTS = {"train": "train", "validation": "dev", "test": "test"}


def _lettered_options(dataset, path, record_id, options):
  if not isinstance(options, dict) or not options:
    return common.BadRecord(dataset, path, record_id, "options must be a {letter: text} object",
                            common.MALFORMED)
  return {common.text(k).strip(): common.text(v) for k, v in sorted(options.items())}


def scan_medqa(dataset: str, root: str, split: str) -> common.ScanResult:
  part = MEDQA_PARTS[split]
  path = common.first_existing(dataset, root, (f"{part}.jsonl",
                                               f"phrases_no_exclude_{part}.jsonl"))
  for number, item in common.iter_jsonl(dataset, path):
    if isinstance(item, common.BadRecord):
      yield item
      continue
    record_id = str(number)
    options = _lettered_options(dataset, path, record_id, item.get("options"))
    if isinstance(options, common.BadRecord):
      yield options
      continue
    answer_idx = common.text(item.get("answer_idx")).strip()
    if answer_idx not in options:
      yield common.BadRecord(dataset, path, record_id,
                             f"answer_idx {answer_idx!r} is not one of {sorted(options)}",
                             common.BAD_VALUE)
      continue
    yield Record(dataset=dataset, split=split, id=record_id, source=path, fields={
        "question": common.text(item.get("question")),
        "options": list(options.values()),
        "option_letters": list(options),
        "answer": common.text(item.get("answer")),
        "answer_idx": answer_idx,
        "meta_info": common.text(item.get("meta_info")),
    })


# ---------------------------------------------------------------------------------------------
# MedMCQA (Pal et al. 2022): {train,dev,test}.json, one JSON object per line, with id,
# question, opa..opd, cop (correct option, 1-4 as published; 0-3 in the Hugging Face copy),
# exp, subject_name, topic_name. The public test file has no answers, so only train/dev are
# read. A file whose cop values include 0 and never 4 is taken as 0-based.
MEDMCQA_PARTS = {"train": "train", "validation": "dev"}
_MCQ_KEYS = ("opa", "opb", "opc", "opd")


def scan_medmcqa(dataset: str, root: str, split: str) -> common.ScanResult:
  path = os.path.join(root, f"{MEDMCQA_PARTS[split]}.json")
  items = list(common.iter_jsonl(dataset, path))
  cops = {common.text(item.get("cop")).strip() for _, item in items if isinstance(item, dict)}
  offset = 0 if ("0" in cops and "4" not in cops) else 1
  for number, item in items:
    if isinstance(item, common.BadRecord):
      yield item
      continue
    record_id = common.text(item.get("id")).strip() or f"line {number}"
    cop = common.text(item.get("cop")).strip()
    index = int(cop) - offset if cop.lstrip("-").isdigit() else -1
    if not 0 <= index < len(_MCQ_KEYS):
      yield common.BadRecord(dataset, path, record_id, f"cop {item.get('cop')!r} is not 1-4",
                             common.BAD_VALUE)
      continue
    options = [common.text(item.get(key)) for key in _MCQ_KEYS]
    yield Record(dataset=dataset, split=split, id=record_id, source=path, fields={
        "question": common.text(item.get("question")),
        "options": options,
        "answer": options[index],
        "answer_idx": "ABCD"[index],
        "explanation": common.text(item.get("exp")),
        "subject_name": common.text(item.get("subject_name")),
        "topic_name": common.text(item.get("topic_name")),
    })


# ---------------------------------------------------------------------------------------------
# BioASQ Task B (Tsatsaronis et al. 2015): training<N>b.json, {"questions": [{id, type: yesno |
# factoid | list | summary, body, exact_answer, ideal_answer, documents, snippets: [{text,
# ...}]}]}, and the test batches' gold files <N>B<k>_golden.json in the same format. The yes/no
# questions are read (accuracy); exact_answer is published as "yes", "Yes" or ["yes"].
# train/validation: hash of the question id (90/10) over the training file; test: the golden
# files (none: no test split).
BIOASQ_DECISIONS = ("yes", "no")


def _bioasq_files(dataset: str, root: str, split: str) -> list[str]:
  if split == "test":
    return sorted(glob.glob(os.path.join(glob.escape(root), "*golden*.json")))
  found = sorted(p for p in glob.glob(os.path.join(glob.escape(root), "training*.json")))
  if not found:
    raise common.MissingData(dataset, os.path.join(root, "training<N>b.json"))
  return found[-1:]  # the newest training file holds all earlier years' questions


def _bioasq_answer(value) -> str:
  while isinstance(value, list) and value:
    value = value[0]
  return common.text(value).strip().lower() if not isinstance(value, list) else ""


def scan_bioasq(dataset: str, root: str, split: str) -> common.ScanResult:
  for path in _bioasq_files(dataset, root, split):
    data = common.load_json(dataset, path)
    questions = data.get("questions") if isinstance(data, dict) else None
    questions = common.expect_list(dataset, path, questions, 'an object with a "questions" list')
    for index, item in enumerate(questions):
      if not isinstance(item, dict) or not common.text(item.get("id")).strip():
        yield common.BadRecord(dataset, path, f"#{index}", "not an object with an id",
                               common.MALFORMED)
        continue
      record_id = common.text(item["id"]).strip()
      if common.text(item.get("type")).strip().lower() != "yesno":
        continue
      if split != "test" and common.hash_split(record_id, 10, 0) != split:
        continue
      answer = _bioasq_answer(item.get("exact_answer"))
      if answer not in BIOASQ_DECISIONS:
        yield common.BadRecord(dataset, path, record_id,
                               f"exact_answer {item.get('exact_answer')!r} is not yes/no",
                               common.BAD_VALUE)
        continue
      snippets = [common.text(s.get("text")).strip() for s in item.get("snippets") or []
                  if isinstance(s, dict)]
      ideal = item.get("ideal_answer")
      yield Record(dataset=dataset, split=split, id=record_id, source=path, fields={
          "question": common.text(item.get("body")),
          "context": " ".join(s for s in snippets if s),
          "answer": answer,
          "options": list(BIOASQ_DECISIONS),
          "ideal_answer": common.text(ideal[0] if isinstance(ideal, list) and ideal else ideal),
      })
