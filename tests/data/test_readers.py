"""Each reader on a tiny copy of its dataset in the publisher's layout: ids, texts, images."""

import io
import os
import random
import zlib

import numpy as np
from PIL import Image
import pytest

from biomed_jax.data import readers
from biomed_jax.data import tasks
from biomed_jax.data.records import DataError
import native_fixtures as nf


def read_all(name, root, split):
  return list(readers.read(name, root, split))


def by_id(records):
  return {r.id: r for r in records}


def test_registry_covers_every_dataset_with_family_splits_and_help():
  expected = {
      "vqa_rad", "slake", "path_vqa", "pmc_vqa", "iu_xray", "mimic_cxr", "roco", "peir_gross",
      "mednli", "meqsum", "healthcaremagic", "icliniq", "pubmedqa", "medqa", "medmcqa",
      "bioinstruct", "llava_med", "pathmnist", "chestmnist", "dermamnist", "octmnist",
      "pneumoniamnist", "retinamnist", "breastmnist", "bloodmnist", "tissuemnist",
      "organamnist", "organcmnist", "organsmnist", "sample_image_classification", "sample_vqa",
      "sample_captioning", "sample_text_understanding", "sample_summarization", "sample_qa",
      "shenzhen_cxr", "montgomery_cxr", "rsna_pneumonia", "cbis_ddsm", "mimic_iii",
      "mimic_cxr_sum", "trec_ct_2022", "bioasq", "box"}
  assert set(readers.READERS) == expected
  for name, spec in readers.READERS.items():
    assert spec.name == name
    assert spec.family in readers.FAMILIES
    assert spec.splits and set(spec.splits) <= {"train", "validation", "test"}
    assert spec.folder in spec.layout_help and "<root>" in spec.layout_help
  assert readers.READERS["sample_qa"].family == readers.QUESTION_ANSWERING
  assert readers.READERS["sample_vqa"].family == readers.VQA
  assert readers.READERS["chestmnist"].family == readers.IMAGE_CLASSIFICATION


def test_vqa_rad_splits_by_phrase_type_and_keeps_answers_as_published(tmp_path):
  root = nf.write_vqa_rad(str(tmp_path))
  train = read_all("vqa_rad", root, "train")
  test = read_all("vqa_rad", root, "test")
  assert [r.id for r in train] == ["0", "1"]
  assert [r.id for r in test] == ["2", "3"]
  first = train[0]
  assert first.fields["question"] == "Is there evidence of an aortic aneurysm?"
  assert first.fields["answer"] == "Yes"
  assert first.fields["answer_type"] == "CLOSED"
  assert first.images == (os.path.join(root, "VQA_RAD Image Folder", "synpic54610.jpg"),)
  assert train[1].fields["answer"] == "2"  # published as the number 2
  assert test[0].fields["answer"] == "Left lung "  # trailing space kept
  assert test[0].fields["answer_type"] == "OPEN"  # published as "OPEN "
  assert test[0].source == os.path.join(root, "VQA_RAD Dataset Public.json")
  assert all(r.dataset == "vqa_rad" for r in train + test)


def test_slake_keeps_english_questions_of_each_file(tmp_path):
  root = nf.write_slake(str(tmp_path))
  train = read_all("slake", root, "train")
  assert [r.id for r in train] == ["9835", "9838"]  # the zh question 9836 is dropped
  assert train[1].fields["answer"] == "Yes"
  assert train[1].fields["answer_type"] == "CLOSED"
  assert train[0].images == (os.path.join(root, "imgs", "xmlab0", "source.jpg"),)
  [validation] = read_all("slake", root, "validation")
  assert (validation.id, validation.fields["answer"]) == ("9845", "Abdomen")
  [test] = read_all("slake", root, "test")
  assert test.fields["question"] == "Is the lung healthy?"
  assert test.images == (os.path.join(root, "imgs", "xmlab102", "source.jpg"),)


def test_path_vqa_reads_pickles_and_marks_yes_no_closed(tmp_path):
  root = nf.write_path_vqa(str(tmp_path))
  train = read_all("path_vqa", root, "train")
  assert [(r.id, r.fields["question"], r.fields["answer"], r.fields["answer_type"])
          for r in train] == [("0", "What have lost their nuclei?", "neutrophils", "OPEN"),
                              ("1", "Is this lung?", "yes", "CLOSED")]
  assert train[0].images == (os.path.join(root, "images", "train", "train_0422.jpg"),)
  [validation] = read_all("path_vqa", root, "validation")
  assert validation.images == (os.path.join(root, "images", "val", "val_0261.jpg"),)
  assert validation.fields["answer"] == "no"


def test_path_vqa_refuses_pickles_that_load_objects(tmp_path):
  root = nf.write_path_vqa(str(tmp_path))
  with open(os.path.join(root, "qas", "test", "test_qa.pkl"), "wb") as f:
    import pickle  # pylint: disable=g-import-not-at-top
    pickle.dump([{"image": "test_0007", "question": "q", "answer": np.float64(1.0)}], f)
  with pytest.raises(DataError, match="refusing to load"):
    read_all("path_vqa", root, "test")


def test_pmc_vqa_reads_choices_without_letter_prefixes(tmp_path):
  root = nf.write_pmc_vqa(str(tmp_path))
  train = read_all("pmc_vqa", root, "train")
  assert [r.id for r in train] == ["0", "1"]
  first = train[0].fields
  assert first["question"] == "What is the uptake pattern in the breast?"
  assert first["options"] == ["Diffuse uptake pattern", "Focal uptake pattern",
                              "No uptake pattern", "Cannot determine from the information given"]
  assert (first["answer"], first["answer_label"], first["answer_type"]) == (
      "Focal uptake pattern", "B", "CLOSED")
  assert train[1].fields["answer"] == "CT scan"  # published "B: CT scan"
  assert train[1].fields["options"][0] == "MRI"  # published " A: MRI"
  assert train[0].images == (os.path.join(root, "images", "PMC1064097_F1.jpg"),)
  [test] = read_all("pmc_vqa", root, "test")  # the "Anwser" spelling of the column
  assert test.fields["question"] == 'What does the "arrow" indicate?'
  assert test.fields["answer"] == "A lesion"


def _decode(png: bytes) -> np.ndarray:
  with Image.open(io.BytesIO(png)) as image:
    assert image.format == "PNG"
    return np.asarray(image)


def test_medmnist_multiclass_images_become_png_with_info_class_names(tmp_path):
  labels = {"train": [[8], [0], [3]], "val": [[1]], "test": [[2], [5]]}
  images = nf.write_medmnist(str(tmp_path), "pathmnist", labels, rgb=True)
  train = read_all("pathmnist", str(tmp_path), "train")
  assert [r.id for r in train] == ["0", "1", "2"]
  assert [r.fields["label"] for r in train] == [
      "colorectal adenocarcinoma epithelium", "adipose", "lymphocytes"]
  assert [r.fields["label_index"] for r in train] == ["8", "0", "3"]
  for record, expected in zip(train, images["train"]):
    np.testing.assert_array_equal(_decode(record.images[0]), expected)
  [validation] = read_all("pathmnist", str(tmp_path), "validation")
  assert validation.fields["label"] == "background"
  test = read_all("pathmnist", str(tmp_path), "test")
  assert [r.fields["label"] for r in test] == ["debris", "smooth muscle"]


def test_chestmnist_is_multi_label_and_grayscale(tmp_path):
  train_labels = np.zeros((3, 14), np.uint8)
  train_labels[0, [1, 13]] = 1  # cardiomegaly, hernia
  train_labels[2, 2] = 1  # effusion
  labels = {"train": train_labels, "val": np.zeros((1, 14)), "test": np.zeros((1, 14))}
  images = nf.write_medmnist(str(tmp_path), "chestmnist", labels, rgb=False)
  train = read_all("chestmnist", str(tmp_path), "train")
  assert [r.fields["labels"] for r in train] == [["cardiomegaly", "hernia"], [], ["effusion"]]
  decoded = _decode(train[1].images[0])
  assert decoded.ndim == 2
  np.testing.assert_array_equal(decoded, images["train"][1])


def test_medmnist_prefers_28px_file_else_largest_size(tmp_path):
  labels = {"train": [[1], [0]], "val": [[0]], "test": [[1]]}
  nf.write_medmnist(str(tmp_path), "breastmnist", labels, rgb=False, size=64)
  nf.write_medmnist(str(tmp_path), "breastmnist", labels, rgb=False, size=128)
  train = read_all("breastmnist", str(tmp_path), "train")
  assert _decode(train[0].images[0]).shape == (128, 128)
  assert [r.fields["label"] for r in train] == ["normal, benign", "malignant"]
  nf.write_medmnist(str(tmp_path), "breastmnist", labels, rgb=False, size=28)
  assert _decode(read_all("breastmnist", str(tmp_path), "train")[0].images[0]).shape == (28, 28)


def test_iu_xray_r2gen_annotation_with_two_views(tmp_path):
  root = nf.write_r2gen(str(tmp_path), nf.IU_XRAY_ANNOTATION)
  train = read_all("iu_xray", root, "train")
  assert [r.id for r in train] == ["CXR2384_IM-0942", "CXR2926_IM-1328"]
  assert train[1].fields["caption"] == "Cardiomegaly. No pneumothorax or pleural effusion."
  assert train[0].images == (os.path.join(root, "images", "CXR2384_IM-0942", "0.png"),
                             os.path.join(root, "images", "CXR2384_IM-0942", "1.png"))
  [validation] = read_all("iu_xray", root, "validation")
  assert validation.id == "CXR1000_IM-0003"


def test_iu_xray_split_key_with_stray_spaces(tmp_path):
  # One shared copy of annotation.json spells its test key " test ".
  annotation = dict(nf.IU_XRAY_ANNOTATION)
  annotation[" test "] = annotation.pop("test")
  root = nf.write_r2gen(str(tmp_path), annotation)
  assert [r.id for r in read_all("iu_xray", root, "test")] == ["CXR3_IM-1384"]


def test_mimic_cxr_r2gen_annotation(tmp_path):
  root = nf.write_r2gen(str(tmp_path), nf.MIMIC_ANNOTATION)
  [train] = read_all("mimic_cxr", root, "train")
  assert train.fields["caption"].startswith("There is no focal consolidation")
  assert train.fields["study_id"] == "50414267"
  assert train.images == (os.path.join(
      root, "images", "p10", "p10000032", "s50414267",
      "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg"),)
  assert [r.id for r in read_all("mimic_cxr", root, "test")] == [
      "68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714"]


def test_roco_captions_and_both_image_namings(tmp_path):
  root = nf.write_roco(str(tmp_path))
  train = read_all("roco", root, "train")
  assert [r.id for r in train] == ["ROCO_00002", "ROCO_00003"]
  assert train[0].fields["caption"] == ("Computed tomography scan in axial view showing "
                                        "obliteration of the left maxillary sinus.")
  assert train[0].images == (os.path.join(root, "train", "radiology", "images",
                                          "ROCO_00002.jpg"),)
  test = by_id(read_all("roco", root, "test"))
  assert test["ROCO_00006"].images == (os.path.join(
      root, "test", "radiology", "images", "PMC3498864_jovr-04-256f2.jpg"),)
  assert test["ROCO_00006"].fields["caption"].startswith("Coronal plain computed")
  assert [r.id for r in read_all("roco", root, "validation")] == ["ROCO_81834"]


def test_peir_gross_tsv_splits(tmp_path):
  root = nf.write_peir_gross(str(tmp_path))
  train = read_all("peir_gross", root, "train")
  assert [(r.id, r.fields["caption"]) for r in train] == [
      ("Aorta_atherosclerosis_1.jpg", "Aorta: Atherosclerosis Severe Ulcerative Lesions gross"),
      ("Brain_glioblastoma_2.jpg", "Brain: Glioblastoma Multiforme gross natural color")]
  [test] = read_all("peir_gross", root, "test")
  assert test.images == (os.path.join(root, "peir_gross_images", "Liver_cirrhosis_3.jpg"),)


def test_mednli_fields(tmp_path):
  root = nf.write_mednli(str(tmp_path))
  train = read_all("mednli", root, "train")
  assert [r.id for r in train] == ["23eb94b8-66c7-11e7-a8dc-f45c89b91419",
                                   "23eb9a99-66c7-11e7-9c60-f45c89b91419"]
  assert train[0].fields == {
      "premise": "Labs were notable for Cr 1.7 (baseline 0.5 per old records) and lactate 2.4.",
      "hypothesis": "Patient has elevated Cr", "label": "entailment"}
  assert train[0].images == ()
  [validation] = read_all("mednli", root, "validation")
  assert validation.fields["label"] == "neutral"


def test_meqsum_xlsx_rows_with_shared_rich_and_inline_strings(tmp_path):
  root = nf.write_meqsum(str(tmp_path))
  train = read_all("meqsum", root, "train")
  assert [r.id for r in train] == [row[0] for row in nf.MEQSUM_ROWS]
  for record, (_, chq, summary) in zip(train, nf.MEQSUM_ROWS):
    assert record.fields == {"document": chq, "summary": summary}
  assert read_all("meqsum", root, "validation") == []


def test_meqsum_split_by_row_order(tmp_path):
  rows = [(f"{i}.xml", f"question {i}", f"summary {i}") for i in range(605)]
  root = nf.write_meqsum(str(tmp_path), rows)
  sizes = {s: [r.id for r in read_all("meqsum", root, s)] for s in readers.ALL_SPLITS}
  assert sizes["train"] == [f"{i}.xml" for i in range(500)]
  assert sizes["validation"] == [f"{i}.xml" for i in range(500, 600)]
  assert sizes["test"] == [f"{i}.xml" for i in range(600, 605)]


@pytest.mark.parametrize("name,items,output_key", [
    ("healthcaremagic", nf.HEALTHCAREMAGIC_ITEMS, "output"),
    ("icliniq", nf.ICLINIQ_ITEMS, "answer_icliniq")])
def test_chatdoctor_files_split_by_crc32_of_position(tmp_path, name, items, output_key):
  root = nf.write_chatdoctor(str(tmp_path))
  seen = {}
  for split in readers.ALL_SPLITS:
    for record in read_all(name, root, split):
      bucket = zlib.crc32(record.id.encode()) % 100
      assert split == ("train" if bucket < 90 else "validation" if bucket < 95 else "test")
      seen[record.id] = record
  assert sorted(seen, key=int) == [str(i) for i in range(len(items))]
  for i, item in enumerate(items):
    assert seen[str(i)].fields["input"] == item["input"]
    assert seen[str(i)].fields["output"] == item[output_key]
    assert seen[str(i)].fields["instruction"] == item.get("instruction", "")


def test_pubmedqa_test_is_ground_truth_and_folds_cover_the_rest(tmp_path):
  root = nf.write_pubmedqa(str(tmp_path))
  splits = {s: by_id(read_all("pubmedqa", root, s)) for s in readers.ALL_SPLITS}
  assert set(splits["test"]) == set(nf.PUBMEDQA_TEST)
  ids = [set(records) for records in splits.values()]
  assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
  assert set.union(*ids) == set(nf.PUBMEDQA_ITEMS)
  record = {**splits["train"], **splits["validation"]}["21645374"]
  assert record.fields["question"].startswith("Do mitochondria play a role")
  assert record.fields["context"] == ("Programmed cell death (PCD) is the regulated death of "
                                      "cells.\nThe following paper elucidates the role of "
                                      "mitochondrial dynamics.")
  assert record.fields["answer"] == "yes"
  assert splits["test"]["23831910"].fields["answer"] == "maybe"


def test_pubmedqa_folds_are_label_stratified_and_deterministic():
  from biomed_jax.data.readers import qa  # pylint: disable=g-import-not-at-top
  decisions = {str(i): ("yes", "no", "maybe")[i % 3] for i in range(60)}
  splits = qa.pubmedqa_splits(list(decisions), decisions)
  assert splits == qa.pubmedqa_splits(list(decisions), decisions)
  assert len(splits["test"]) == 30 and len(splits["validation"]) == 3
  assert len(splits["train"]) == 27
  for label in ("yes", "no", "maybe"):
    assert sum(decisions[p] == label for p in splits["test"]) == 10
    assert sum(decisions[p] == label for p in splits["validation"]) == 1


def _publisher_pqal_folds(dataset: dict[str, str]):
  """preprocess/split_dataset.py of pubmedqa/pubmedqa, restated with its dicts and the global
  random module seeded with 0: returns (test, [fold dicts])."""
  state = random.getstate()
  random.seed(0)
  try:
    def split(data, fold):
      by_label = {"yes": [], "no": [], "maybe": []}
      for pmid, decision in data.items():
        by_label[decision].append(pmid)
      chunks = {}
      for label, pmids in by_label.items():
        random.shuffle(pmids)
        size = -(-len(pmids) // fold)
        chunks[label] = [pmids[i * size:] if i == fold - 1 else pmids[i * size:(i + 1) * size]
                         for i in range(fold)]
      parts = [{p: data[p] for label in by_label for p in chunks[label][i]}
               for i in range(fold)]
      if len(parts[-1]) != len(parts[0]):
        for i in range(fold - 1):
          picked = random.choice(list(parts[i]))
          parts[-1][picked] = parts[i].pop(picked)
      return parts
    cross_validation, test = split(dataset, 2)
    return test, split(cross_validation, 10)
  finally:
    random.setstate(state)


def test_pubmedqa_folds_match_the_publisher_procedure():
  from biomed_jax.data.readers import qa  # pylint: disable=g-import-not-at-top
  # PQA-L's label counts (552 yes, 338 no, 110 maybe): the 10-fold cut is uneven and the
  # rebalancing step runs, as in the real data.
  labels = ["yes"] * 552 + ["no"] * 338 + ["maybe"] * 110
  random.Random(7).shuffle(labels)
  decisions = {str(10_000_000 + 7919 * i): label for i, label in enumerate(labels)}
  test, folds = _publisher_pqal_folds(dict(decisions))
  assert [len(f) for f in folds] == [50] * 10
  splits = qa.pubmedqa_splits(list(decisions), decisions)
  assert splits["test"] == set(test)
  assert splits["validation"] == set(folds[0])
  assert splits["train"] == set().union(*map(set, folds[1:]))
  with_truth = qa.pubmedqa_splits(list(decisions), decisions, set(test))
  assert with_truth == splits


def test_medqa_options_in_letter_order(tmp_path):
  root = nf.write_medqa(str(tmp_path))
  train = read_all("medqa", root, "train")
  assert [r.id for r in train] == ["1", "2"]  # line numbers
  first = train[0].fields
  assert first["options"] == ["Ampicillin", "Ceftriaxone", "Ciprofloxacin", "Doxycycline",
                              "Nitrofurantoin"]
  assert (first["answer"], first["answer_idx"], first["meta_info"]) == (
      "Nitrofurantoin", "E", "step1")
  [validation] = read_all("medqa", root, "validation")
  assert validation.fields["answer"] == "COPD"


def test_medqa_four_option_file_names(tmp_path):
  rows = [nf.medqa_row("Q?", {"A": "a", "B": "b", "C": "c", "D": "d"}, "B")]
  nf.write_jsonl(str(tmp_path / "phrases_no_exclude_test.jsonl"), rows)
  [record] = read_all("medqa", str(tmp_path), "test")
  assert (record.fields["answer"], record.fields["options"]) == ("b", ["a", "b", "c", "d"])


def test_medmcqa_one_based_cop(tmp_path):
  root = nf.write_medmcqa(str(tmp_path))
  train = read_all("medmcqa", root, "train")
  assert [(r.fields["answer"], r.fields["answer_idx"]) for r in train] == [
      ("Atrophy", "C"), ("Vitamin B12", "C"), ("d", "D")]
  assert train[0].id == "e9ad821a-c438-4965-9f77-760819dfa155"
  [validation] = read_all("medmcqa", root, "validation")
  assert validation.fields["answer"] == "Impulse through myelinated fibers is slower"
  assert validation.fields["subject_name"] == "Physiology"


def test_medmcqa_zero_based_copy_is_detected(tmp_path):
  rows = [nf.medmcqa_row("a", "q1", ["w", "x", "y", "z"], 0),
          nf.medmcqa_row("b", "q2", ["w", "x", "y", "z"], 3)]
  root = nf.write_medmcqa(str(tmp_path), {"train.json": rows})
  assert [r.fields["answer"] for r in read_all("medmcqa", root, "train")] == ["w", "z"]


def test_bioinstruct_list_and_jsonl(tmp_path):
  root = nf.write_bioinstruct(str(tmp_path / "list"))
  records = read_all("bioinstruct", root, "train")
  assert [r.fields for r in records] == nf.BIOINSTRUCT_ITEMS
  nf.write_jsonl(str(tmp_path / "lines" / "bioinstruct.json"), nf.BIOINSTRUCT_ITEMS)
  lines = read_all("bioinstruct", str(tmp_path / "lines"), "train")
  assert [r.fields for r in lines] == nf.BIOINSTRUCT_ITEMS


def test_llava_med_every_turn_is_an_example_with_its_history(tmp_path):
  root = nf.write_llava_med(str(tmp_path))
  records = read_all("llava_med", root, "train")
  # Two conversations: two exchanges, then one.
  assert [r.id for r in records] == ["10.1155/2014/935932_F1#1", "10.1155/2014/935932_F1#2",
                                     "PMC4083729_F2#1"]
  first, second, third = records
  assert first.fields["question"] == "What is the main finding in the image?"
  assert first.fields["answer"] == "The image shows a large mass in the right kidney."
  assert first.fields["history"] == ""
  assert second.fields["question"] == "Is there calcification?"
  assert second.fields["answer"] == "Yes, there are small calcifications."
  assert second.fields["history"] == ("Q: What is the main finding in the image? "
                                      "A: The image shows a large mass in the right kidney.")
  image = os.path.join(root, "images", "10.1155_2014_935932_F1.jpg")
  assert first.images == second.images == (image,)
  assert third.fields["question"] == "Describe the modality." and third.fields["history"] == ""
  task = tasks.get_task("llava_med")
  assert task.source(first) == "What is the main finding in the image?"
  assert task.source(second) == ("Is there calcification? Conversation so far: Q: What is the "
                                 "main finding in the image? A: The image shows a large mass "
                                 "in the right kidney.")


def test_llava_med_items_without_an_image_are_text_only(tmp_path):
  items = [{"id": "text-only", "conversations": [
      {"from": "human", "value": "What does CT stand for?"},
      {"from": "gpt", "value": "Computed tomography."}]}]
  nf.write_json(os.path.join(str(tmp_path), "llava_med_instruct_10k.json"), items)
  [record] = read_all("llava_med", str(tmp_path), "train")  # no images/ folder at all
  assert record.images == () and record.fields["answer"] == "Computed tomography."


def test_sample_tasks_read_through_the_registry():
  sample = pytest.importorskip("biomed_jax.data.readers.sample")
  assert set(sample.SAMPLE_TASKS) == set(readers.SAMPLE_TASKS)
  for task in sample.SAMPLE_TASKS:
    spec = readers.get(task)
    records = list(spec.read(sample.DEFAULT_ROOT, "train"))
    assert records, task
    for name in spec.required:
      assert all(r.fields[name].strip() for r in records), (task, name)
