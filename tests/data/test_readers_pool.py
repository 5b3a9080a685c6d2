"""The rest of BiomedGPT's benchmark pool: each reader on its publisher's layout, with the
quirks real copies show, prepared with exact counts."""

import collections
import os
import zlib

import pytest

from biomed_jax.data import images
from biomed_jax.data import prepare
from biomed_jax.data import prepared
from biomed_jax.data import readers
from biomed_jax.data import tasks
import pool_fixtures as pf


def read(name, root, split):
  return list(readers.read(name, root, split, on_error="skip"))


@pytest.mark.parametrize("name", sorted(pf.EXPECTED))
def test_prepares_with_exact_counts_and_skips_by_kind(tmp_path, name):
  writer, sizes, skipped = pf.EXPECTED[name]
  root = writer(str(tmp_path / readers.get(name).folder))
  counter = collections.Counter()
  assert prepare.prepare(name, root, str(tmp_path / "out"), counter=counter) == sizes
  assert counter == skipped
  task = tasks.get_task(name)
  for split, count in sizes.items():
    source = prepared.PreparedSource(name, str(tmp_path / "out"), split)
    assert len(source) == count
    for record in source:
      assert task.target(record)
      for image in record.images:  # DICOM and 16-bit PNG included
        assert images.decode_image(image).mode == "RGB"


def test_every_new_dataset_has_layout_help_naming_its_folder():
  for name in pf.EXPECTED:
    spec = readers.get(name)
    assert f"`{spec.folder}/`" in spec.layout_help.splitlines()[0]
    assert "<root>" in spec.layout_help


def test_shenzhen_labels_from_file_names_and_readings(tmp_path):
  root = pf.write_shenzhen(str(tmp_path))
  [test] = read("shenzhen_cxr", root, "test")
  assert test.id == "CHNCXR_0003_1" and test.fields["label"] == "tuberculosis"
  assert test.fields["finding"] == "STB,ATB in left upper field"  # CRLF dropped
  assert test.fields["demographics"] == "female 38yrs"
  assert test.images == (os.path.join(root, "ChinaSet_AllFiles", "CXR_png",
                                      "CHNCXR_0003_1.png"),)
  train = {r.id: r for r in read("shenzhen_cxr", root, "train")}
  assert set(train) == {"CHNCXR_0001_0", "CHNCXR_0004_1"}  # Thumbs.db is not a record
  assert train["CHNCXR_0004_1"].fields["finding"] == ""  # no reading published for it
  assert train["CHNCXR_0001_0"].fields["label"] == "normal"


def test_montgomery_reading_after_sex_and_age(tmp_path):
  root = pf.write_montgomery(str(tmp_path))
  [validation] = read("montgomery_cxr", root, "validation")
  assert validation.id == "MCUCXR_0104_1"
  assert validation.fields["finding"] == "right upper lobe cavitary lesion"
  assert validation.fields["demographics"] == "Patient's Sex: F; Patient's Age: 040Y"


def test_rsna_one_record_per_patient_from_box_rows(tmp_path):
  root = pf.write_rsna_pneumonia(str(tmp_path))
  counter = collections.Counter()
  train = list(readers.read("rsna_pneumonia", root, "train", on_error="skip",
                            counter=counter))
  assert [r.id for r in train] == list(pf.RSNA_TRAIN[:2])  # first patient: 2 box rows
  assert [r.fields["label"] for r in train] == ["pneumonia", "no pneumonia"]
  assert train[1].fields["detailed_class"] == "No Lung Opacity / Not Normal"
  assert counter == {"missing_image": 1}
  with pytest.raises(readers.BadRecord, match=pf.RSNA_TRAIN[2]):
    list(readers.read("rsna_pneumonia", root, "train"))


def test_cbis_ddsm_finds_the_downloaded_dicom_and_maps_pathology(tmp_path):
  root = pf.write_cbis_ddsm(str(tmp_path))
  train = read("cbis_ddsm", root, "train")
  assert [r.id for r in train] == ["mass_P_00001_LEFT_CC_1", "mass_P_00001_LEFT_MLO_1",
                                   "calcification_P_00005_RIGHT_CC_1"]
  assert [r.fields["label"] for r in train] == ["malignant", "malignant", "benign"]
  assert train[0].images == (os.path.join(
      root, "CBIS-DDSM", "Mass-Training_P_00001_LEFT_CC", "07-20-2016-DDSM-74994",
      "1.000000-full mammogram images-24515", "1-1.dcm"),)
  assert train[2].fields["breast_density"] == "3"  # the calc CSV spells "breast density"
  test = read("cbis_ddsm", root, "test")
  assert test[1].images == test[2].images  # two calcifications in one mammogram


def test_mimic_iii_radiology_findings_to_impression(tmp_path):
  root = pf.write_mimic_iii(str(tmp_path))
  [train] = read("mimic_iii", root, "train")
  assert train.id == "1"
  assert train.fields["document"] == ("Single portable view of the chest. There is a new "
                                      "right lower lobe opacity.")
  assert train.fields["summary"] == "Right lower lobe pneumonia."
  [test] = read("mimic_iii", root, "test")
  assert test.fields["summary"] == "Normal abdominal ultrasound."


def test_mimic_cxr_reports_one_record_per_study(tmp_path):
  root = pf.write_mimic_cxr_reports(str(tmp_path))
  counter = collections.Counter()
  [train] = readers.read("mimic_cxr_sum", root, "train", on_error="skip", counter=counter)
  assert train.id == "s50414267"  # two images, one study
  assert train.fields["document"] == ("There is no focal consolidation, pleural effusion or "
                                      "pneumothorax.")
  assert train.fields["summary"] == "No acute cardiopulmonary process."
  assert counter == {"empty_field": 1, "malformed": 1}


def test_trec_pairs_patient_and_trial_with_relevance_label(tmp_path):
  root = pf.write_trec_ct(str(tmp_path))
  train = read("trec_ct_2022", root, "train")
  assert [(r.id, r.fields["label"]) for r in train] == [
      ("1/NCT00000102", "eligible"), ("1/NCT00000107", "excluded"),
      ("1/NCT04114630", "not relevant")]
  assert train[0].fields["patient"] == pf.TREC_TOPICS["1"]
  assert train[0].fields["trial"].startswith("Congenital Adrenal Hyperplasia: Calcium Channels"
                                             " as Therapeutic Targets. Eligibility: Inclusion")
  assert train[1].fields["trial"] == "Body Water Content in Cyanotic Congenital Heart Disease"
  source = tasks.get_task("trec_ct_2022").source(train[0])
  assert source.startswith('is the patient "A 19-year-old male')


def test_bioasq_yes_no_questions_with_snippets(tmp_path):
  root = pf.write_bioasq(str(tmp_path))
  train = read("bioasq", root, "train")
  assert [(r.id, r.fields["answer"]) for r in train] == [
      ("4ca11c8471ae79731a75e8c3", "yes"), ("719ff5a8693c92a4e8916e16", "no")]
  assert train[0].fields["context"] == ("Coding sequence mutations in RET are associated with "
                                        "Hirschsprung disease. It is a multifactorial disorder.")
  [validation] = read("bioasq", root, "validation")
  assert validation.fields["answer"] == "yes"  # published as "Yes"
  assert [r.id for r in read("bioasq", root, "test")] == [q["id"] for q in pf.BIOASQ_GOLDEN]


def test_natural_instructions_task_files_with_held_out_tasks(tmp_path):
  root = pf.write_box(str(tmp_path))
  train = read("box", root, "train")
  assert [r.id for r in train] == [i["id"] for i in pf.NI_TASK["Instances"][:2]]
  assert train[1].fields["output"] == "NF - kappa B"  # the first of the listed outputs
  assert train[0].fields["instruction"] == pf.NI_TASK["Definition"][0]
  assert train[0].fields["examples"] == (
      "Example input: Sox - 4 is important for very early B - cell differentiation. "
      "Example output: Sox - 4")
  assert train[0].fields["task"] == "task1480_gene_extraction_jnlpba_dataset"
  test = read("box", root, "test")  # the held-out task, with BoX's key spellings
  assert [(r.id, r.fields["output"]) for r in test] == [("box-pubmedqa-1", "yes"),
                                                        ("box-pubmedqa-2", "no")]
  assert test[0].fields["instruction"] == pf.BOX_TASK["Definition:"]
  source = tasks.get_task("box").source(test[0])
  assert source.startswith("In this task, you are given a question and a context.")
  assert source.endswith("Input: Is water wet? Output:")


def _documented_split(key: str, train: int, validation: int) -> str:
  bucket = zlib.crc32(key.encode("utf-8")) % 100  # the rule the layout help states
  return "train" if bucket < train else "validation" if bucket < train + validation else "test"


def test_unpublished_splits_follow_the_rule_in_the_layout_help(tmp_path):
  cases = [("shenzhen_cxr", pf.write_shenzhen, lambda r: r.id, 70, 10),
           ("rsna_pneumonia", pf.write_rsna_pneumonia, lambda r: r.id, 90, 5),
           ("mimic_iii", pf.write_mimic_iii, lambda r: r.id, 90, 5),
           ("trec_ct_2022", pf.write_trec_ct, lambda r: f"topic {r.fields['topic']}", 70, 10)]
  for name, writer, key, train, validation in cases:
    root = writer(str(tmp_path / name))
    for split in readers.get(name).splits:
      for record in read(name, root, split):
        assert _documented_split(key(record), train, validation) == split, (name, record.id)
