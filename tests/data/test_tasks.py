"""Task registry: coverage of the readers, rendering of real reader records, candidates."""

import re

import numpy as np
import pytest

import native_fixtures as nf
import pool_fixtures as pf
from biomed_jax.data import readers
from biomed_jax.data import tasks
from biomed_jax.data.records import DataError, Record


def _writer_table():
  """dataset -> (writes the published layout into a folder, split to read)."""
  labels = {"train": np.array([[0], [1], [0]]), "val": np.array([[1]]),
            "test": np.array([[0]])}
  chest = {"train": np.eye(14, dtype=np.uint8)[:2].tolist() + [[0] * 14],
           "val": [[0] * 14], "test": [[1] + [0] * 13]}
  table = {
      "vqa_rad": (nf.write_vqa_rad, "train"),
      "slake": (nf.write_slake, "train"),
      "path_vqa": (nf.write_path_vqa, "train"),
      "pmc_vqa": (nf.write_pmc_vqa, "train"),
      "iu_xray": (lambda r: nf.write_r2gen(r, nf.IU_XRAY_ANNOTATION), "train"),
      "mimic_cxr": (lambda r: nf.write_r2gen(r, nf.MIMIC_ANNOTATION), "train"),
      "roco": (nf.write_roco, "train"),
      "peir_gross": (nf.write_peir_gross, "train"),
      "mednli": (nf.write_mednli, "train"),
      "meqsum": (nf.write_meqsum, "train"),
      "healthcaremagic": (nf.write_chatdoctor, "train"),
      "icliniq": (nf.write_chatdoctor, "train"),
      "pubmedqa": (nf.write_pubmedqa, "train"),
      "medqa": (nf.write_medqa, "train"),
      "medmcqa": (nf.write_medmcqa, "train"),
      "bioinstruct": (nf.write_bioinstruct, "train"),
      "llava_med": (nf.write_llava_med, "train"),
  }
  # Splits without the fixtures' deliberately bad records (read here with on_error="raise").
  clean = {"rsna_pneumonia": "validation", "mimic_iii": "validation",
           "mimic_cxr_sum": "validation", "box": "test"}
  table.update({name: (writer, clean.get(name, "train"))
                for name, (writer, _, _) in pf.EXPECTED.items()})
  for flag in tasks.MEDMNIST_SUBSETS:
    if flag == "chestmnist":
      table[flag] = (lambda r: nf.write_medmnist(r, "chestmnist", chest, rgb=False), "train")
    else:
      table[flag] = (lambda r, f=flag: nf.write_medmnist(r, f, labels, rgb=True), "train")
  return table


def test_every_reader_dataset_has_a_task_and_every_task_a_reader():
  task_datasets = {t.dataset for t in tasks.TASKS.values()}
  assert set(readers.READERS) <= task_datasets
  assert task_datasets <= set(readers.READERS)
  assert set(tasks.SAMPLE_TASKS) <= set(tasks.TASKS)


def test_one_registration_per_dataset_gives_reader_and_task_the_same_family():
  from biomed_jax.data import families  # pylint: disable=g-import-not-at-top
  from biomed_jax.data.readers import sample  # pylint: disable=g-import-not-at-top
  assert tasks.FAMILIES is readers.FAMILIES is families.FAMILIES
  assert tasks.SAMPLE_TASKS is readers.SAMPLE_TASKS is sample.SAMPLE_TASKS
  for name, spec in readers.READERS.items():
    assert tasks.TASKS[name].family == spec.family, name
  assert {readers.READERS[n].folder for n in tasks.SAMPLE_TASKS} == {"sample"}
  # The sources the two registries used to disagree on.
  assert tasks.TASKS["llava_med"].family == "instruction"
  assert tasks.TASKS["llava_med"].image_use == "optional"
  assert tasks.TASKS["healthcaremagic"].family == readers.READERS["icliniq"].family == \
      "summarization"


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_task_definitions_are_complete(name):
  task = tasks.TASKS[name]
  assert task.family in tasks.FAMILIES
  assert 3 <= len(task.templates) <= 5
  assert len(set(task.templates)) == len(task.templates)
  assert 8 <= task.max_source_len <= 1024 and 8 <= task.max_target_len <= 1024
  assert task.metrics and all(isinstance(m, str) for m in task.metrics)


def test_lengths_follow_biomedgpt():
  for name in ("vqa_rad", "slake", "path_vqa"):
    assert (tasks.TASKS[name].max_source_len, tasks.TASKS[name].max_target_len) == (80, 40)
  assert (tasks.TASKS["mednli"].max_source_len, tasks.TASKS["mednli"].max_target_len) == (512, 30)
  assert (tasks.TASKS["meqsum"].max_source_len, tasks.TASKS["meqsum"].max_target_len) == (512, 128)
  assert (tasks.TASKS["pathmnist"].max_source_len,
          tasks.TASKS["pathmnist"].max_target_len) == (128, 64)
  assert tasks.TASKS["iu_xray"].max_target_len == 128


@pytest.mark.parametrize("dataset", sorted(set(readers.READERS) - set(tasks.SAMPLE_TASKS)))
def test_every_template_renders_real_reader_records(tmp_path, dataset):
  writer, split = _writer_table()[dataset]
  writer(str(tmp_path))
  records = list(readers.read(dataset, str(tmp_path), split))
  assert records
  task = tasks.TASKS[dataset]
  for record in records:
    target = task.target(record)
    assert target and target == target.strip() and "  " not in target
    published = record.fields[task.target_field]
    if isinstance(published, str):
      assert target == task.format_target(published)
    for index in range(len(task.templates)):
      source = task.source(record, index)
      assert source and not re.search(r"[{}]", source)
      assert "<image>" not in source
      for field in ("question", "premise", "document", "text", "instruction"):
        value = record.fields.get(field)
        if value and f"{{{field}}}" in task.templates[index]:
          assert " ".join(value.replace("<image>", " ").split())[:30] in source


def test_optional_parts_appear_only_with_their_fields():
  task = tasks.TASKS["medqa"]
  record = Record("medqa", "train", "1", "train.jsonl",
                  fields={"question": "Which drug?", "options": ["Aspirin", "Heparin"],
                          "answer": "Heparin"})
  assert task.source(record, 0) == "Which drug? Options: (A) Aspirin (B) Heparin"
  no_options = Record("medqa", "train", "2", "train.jsonl",
                      fields={"question": "Which drug?", "answer": "Heparin"})
  assert task.source(no_options, 0) == "Which drug?"
  assert task.source(no_options, 1) == "Answer the medical question. Question: Which drug?"


def test_missing_or_empty_required_fields_name_dataset_file_and_record():
  task = tasks.TASKS["vqa_rad"]
  empty_question = Record("vqa_rad", "train", "q7", "/d/VQA_RAD Dataset Public.json",
                          fields={"question": "  ", "answer": "yes"})
  with pytest.raises(DataError) as info:
    task.render(empty_question)
  message = str(info.value)
  assert "vqa_rad" in message and "VQA_RAD Dataset Public.json" in message and "q7" in message
  assert "question" in message
  empty_answer = Record("vqa_rad", "train", "q8", "f.json", fields={"question": "Q?",
                                                                     "answer": " \t"})
  with pytest.raises(DataError, match="empty field 'answer'"):
    task.render(empty_answer)
  no_premise = Record("mednli", "train", "p1", "mli.jsonl",
                      fields={"hypothesis": "h", "label": "neutral"})
  with pytest.raises(DataError, match="missing field 'premise'"):
    tasks.TASKS["mednli"].source(no_premise)


def test_target_formatters():
  assert tasks.format_short("  Left   Lung. ") == "left lung"
  assert tasks.format_caption("No acute\n  Cardiopulmonary process.") == \
      "no acute cardiopulmonary process."
  assert tasks.format_text("  What  causes\tMigraine? ") == "What causes Migraine?"
  chest = tasks.TASKS["chestmnist"]
  assert chest.target(Record("chestmnist", "train", "0", "c.npz",
                             fields={"labels": ["atelectasis", "effusion"]})) == \
      "atelectasis, effusion"
  assert chest.target(Record("chestmnist", "train", "1", "c.npz", fields={"labels": []})) == \
      tasks.NO_FINDING


def test_candidate_sets():
  assert tasks.TASKS["mednli"].candidate_answers() == ("entailment", "contradiction", "neutral")
  assert tasks.TASKS["pubmedqa"].candidate_answers() == ("yes", "no", "maybe")
  vqa = tasks.TASKS["vqa_rad"]
  train = [
      Record("vqa_rad", "train", "1", "f", fields={"question": "q", "answer": "Yes ",
                                                   "answer_type": "CLOSED"}),
      Record("vqa_rad", "train", "2", "f", fields={"question": "q", "answer": "yes",
                                                   "answer_type": "CLOSED"}),
      Record("vqa_rad", "train", "3", "f", fields={"question": "q", "answer": "No",
                                                   "answer_type": "CLOSED"}),
      Record("vqa_rad", "train", "4", "f", fields={"question": "q", "answer": "Left lung",
                                                   "answer_type": "OPEN"}),
      Record("vqa_rad", "train", "5", "f", fields={"question": "q", "answer": "",
                                                   "answer_type": "CLOSED"}),
  ]
  assert vqa.candidate_answers(train) == ("no", "yes")
  assert tasks.TASKS["pathmnist"].candidate_answers(
      [Record("pathmnist", "train", str(i), "p.npz", fields={"label": name})
       for i, name in enumerate(["debris", "Mucus", "debris"])]) == ("debris", "mucus")
  medqa = tasks.TASKS["medqa"]
  assert medqa.candidate_answers() is None
  record = Record("medqa", "train", "1", "f", fields={"question": "q", "answer": "B",
                                                      "options": ["Aspirin ", "Heparin"]})
  assert medqa.example_candidates(record) == ("aspirin", "heparin")
  assert tasks.TASKS["meqsum"].candidate_answers() is None


def test_register_rejects_duplicates_and_unknown_family():
  with pytest.raises(ValueError, match="already registered"):
    tasks.register(tasks.TASKS["vqa_rad"])
  with pytest.raises(ValueError, match="family"):
    tasks.Task(name="x", dataset="x", family="poetry", templates=("{text}",),
               target_field="label", max_source_len=8, max_target_len=4, metrics=("accuracy",))
  with pytest.raises(KeyError, match="unknown task"):
    tasks.get_task("no_such_task")
