"""Tiny copies of the rest of BiomedGPT's benchmark pool, each in its publisher's layout.

Like native_fixtures.py: every writer lays a dataset out in a folder exactly as published
(file names, columns, nesting) with a few records and the quirks real copies have, and the
record contents are module constants. Ids of data published without a split were chosen so
each split gets records; EXPECTED gives the counts per split that follow from each fixture's
construction (see the comments at each writer).
"""

import csv
import gzip
import os

import numpy as np
from PIL import Image

from native_fixtures import write_image, write_json


def _write_text(path: str, text: str, newline: str = "\n") -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write(text.replace("\n", newline))
  return path


def _write_csv(path: str, header, rows, opener=open) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with opener(path, "wt", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  return path


def write_dicom(path: str, value: int = 120, size=(16, 12)) -> str:
  """A small MONOCHROME2 8-bit DICOM file, as PACS exports write them."""
  import pydicom  # pylint: disable=g-import-not-at-top
  from pydicom.dataset import FileMetaDataset  # pylint: disable=g-import-not-at-top
  from pydicom import uid  # pylint: disable=g-import-not-at-top
  meta = FileMetaDataset()
  meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
  meta.MediaStorageSOPInstanceUID = uid.generate_uid()
  meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
  ds = pydicom.Dataset()
  ds.file_meta = meta
  ds.SOPClassUID = meta.MediaStorageSOPClassUID
  ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
  ds.Modality, ds.BodyPartExamined = "CR", "CHEST"
  ds.Rows, ds.Columns = size[1], size[0]
  ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
  ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
  ds.PixelData = np.full((size[1], size[0]), value, np.uint8).tobytes()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  ds.save_as(path, enforce_file_format=True)
  return path


# ---------------------------------------------------------------------------------------------
# Shenzhen: ChinaSet_AllFiles/ as the zip unpacks; Thumbs.db beside the PNGs; readings with
# Windows line endings; one image has no reading; one PNG is RGB (a few real ones are).
# Splits (crc32 % 100, 70/10/20): 0001_0, 0004_1 train; 0008_1, 0009_0 validation; 0003_1 test.
SHENZHEN_READINGS = {"CHNCXR_0001_0": "male 45yrs\nnormal\n",
                     "CHNCXR_0003_1": "female 38yrs\nSTB,ATB in left upper field\n",
                     "CHNCXR_0008_1": "male 26yrs\nPTB in the right upper field\n",
                     "CHNCXR_0009_0": "male 18yrs\nnormal\n"}
SHENZHEN_IMAGES = ("CHNCXR_0001_0", "CHNCXR_0003_1", "CHNCXR_0004_1", "CHNCXR_0008_1",
                   "CHNCXR_0009_0")


def write_shenzhen(root: str) -> str:
  folder = os.path.join(root, "ChinaSet_AllFiles")
  for stem in SHENZHEN_IMAGES:
    write_image(os.path.join(folder, "CXR_png", f"{stem}.png"),
                mode="RGB" if stem == "CHNCXR_0004_1" else "L")
  for stem, text in SHENZHEN_READINGS.items():
    _write_text(os.path.join(folder, "ClinicalReadings", f"{stem}.txt"), text, "\r\n")
  with open(os.path.join(folder, "CXR_png", "Thumbs.db"), "wb") as f:
    f.write(b"\xd0\xcf\x11\xe0 not an image")
  return root


# Montgomery: MontgomerySet/ with ManualMask/ beside; 16-bit grayscale PNGs (12-bit data).
# Splits: 0001_0, 0105_1 train; 0104_1 validation; 0005_0 test.
MONTGOMERY_IMAGES = {"MCUCXR_0001_0": "normal", "MCUCXR_0005_0": "normal",
                     "MCUCXR_0104_1": "right upper lobe cavitary lesion",
                     "MCUCXR_0105_1": "bilateral upper lobe infiltrates"}


def write_montgomery(root: str) -> str:
  folder = os.path.join(root, "MontgomerySet")
  for stem, reading in MONTGOMERY_IMAGES.items():
    path = os.path.join(folder, "CXR_png", f"{stem}.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((10, 12), 3000, np.uint16)).save(path)
    _write_text(os.path.join(folder, "ClinicalReadings", f"{stem}.txt"),
                f"Patient's Sex: F\nPatient's Age: 040Y\n\n{reading}\n")
    write_image(os.path.join(folder, "ManualMask", "leftMask", f"{stem}.png"))
  return root


# ---------------------------------------------------------------------------------------------
# RSNA Pneumonia: one labels row per box (the first pneumonia patient has two), detailed class
# rows repeated per box, DICOM images; one patient's .dcm is absent from the download.
# Splits (crc32 % 100, 90/5/5): P_TRAIN* train, P_VAL validation, P_TEST test.
RSNA_TRAIN = ("21636369-8b52-4b4a-97b7-50923ceb3ffd", "795b929e-9a9a-40fd-aa7b-5bf55eb561a4",
              "9b08923d-10c6-4fd9-94b2-b8fda02f34a6")
RSNA_VALIDATION = "5a58b185-775c-403c-951b-7f9da0996d52"
RSNA_TEST = "1f49e090-3284-45a7-b886-8e9b5a124b1d"
RSNA_LABELS = [  # patientId, x, y, width, height, Target
    (RSNA_TRAIN[0], "264.0", "152.0", "213.0", "379.0", "1"),
    (RSNA_TRAIN[0], "562.0", "152.0", "256.0", "453.0", "1"),
    (RSNA_TRAIN[1], "", "", "", "", "0"),
    (RSNA_TRAIN[2], "", "", "", "", "0"),  # its image is missing
    (RSNA_VALIDATION, "", "", "", "", "0"),
    (RSNA_TEST, "323.0", "577.0", "160.0", "104.0", "1"),
]
RSNA_CLASSES = {RSNA_TRAIN[0]: "Lung Opacity", RSNA_TRAIN[1]: "No Lung Opacity / Not Normal",
                RSNA_TRAIN[2]: "Normal", RSNA_VALIDATION: "Normal", RSNA_TEST: "Lung Opacity"}


def write_rsna_pneumonia(root: str) -> str:
  _write_csv(os.path.join(root, "stage_2_train_labels.csv"),
             ["patientId", "x", "y", "width", "height", "Target"], RSNA_LABELS)
  _write_csv(os.path.join(root, "stage_2_detailed_class_info.csv"), ["patientId", "class"],
             [(row[0], RSNA_CLASSES[row[0]]) for row in RSNA_LABELS])
  for patient in set(RSNA_CLASSES) - {RSNA_TRAIN[2]}:
    write_dicom(os.path.join(root, "stage_2_train_images", f"{patient}.dcm"))
  os.makedirs(os.path.join(root, "stage_2_test_images"), exist_ok=True)
  return root


# ---------------------------------------------------------------------------------------------
# CBIS-DDSM: the four case-description CSVs (mass: "breast_density", calc: "breast density"),
# image paths ending with a newline and with UIDs the NBIA download does not use (so the one
# .dcm under the first folder is taken); two calc abnormalities share one mammogram.
# train: 2 mass + 1 calc rows; test: 1 mass + 2 calc rows.
_MASS = ["patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
         "abnormality type", "mass shape", "mass margins", "assessment", "pathology",
         "subtlety", "image file path", "cropped image file path", "ROI mask file path"]
_CALC = ["patient_id", "breast density", "left or right breast", "image view", "abnormality id",
         "abnormality type", "calc type", "calc distribution", "assessment", "pathology",
         "subtlety", "image file path", "cropped image file path", "ROI mask file path"]


def _cbis_row(prefix, patient, side, view, number, kind, pathology):
  folder = f"{prefix}_{patient}_{side}_{view}"
  return [patient, "3", side, view, str(number), kind, "OVAL" if kind == "mass" else "PLEOMORPHIC",
          "CIRCUMSCRIBED" if kind == "mass" else "CLUSTERED", "4", pathology, "4",
          f"{folder}/1.3.6.1.4.1.9590.100.1.2.422112722213189649807611434612228974994/"
          f"1.3.6.1.4.1.9590.100.1.2.342386194811267636608694132590482924515/000000.dcm\n",
          f"{folder}_{number}/1.3.6.1.4.1.9590/1.3.6.1.4.1.9590.2/000000.dcm",
          f"{folder}_{number}/1.3.6.1.4.1.9590/1.3.6.1.4.1.9590.2/000001.dcm\n"]


CBIS_CSVS = {
    "mass_case_description_train_set.csv": (_MASS, [
        _cbis_row("Mass-Training", "P_00001", "LEFT", "CC", 1, "mass", "MALIGNANT"),
        _cbis_row("Mass-Training", "P_00001", "LEFT", "MLO", 1, "mass", "MALIGNANT")]),
    "calc_case_description_train_set.csv": (_CALC, [
        _cbis_row("Calc-Training", "P_00005", "RIGHT", "CC", 1, "calcification",
                  "BENIGN_WITHOUT_CALLBACK")]),
    "mass_case_description_test_set.csv": (_MASS, [
        _cbis_row("Mass-Test", "P_00016", "LEFT", "CC", 1, "mass", "BENIGN")]),
    "calc_case_description_test_set.csv": (_CALC, [
        _cbis_row("Calc-Test", "P_00038", "LEFT", "CC", 1, "calcification", "BENIGN"),
        _cbis_row("Calc-Test", "P_00038", "LEFT", "CC", 2, "calcification", "MALIGNANT")]),
}


def write_cbis_ddsm(root: str) -> str:
  for name, (header, rows) in CBIS_CSVS.items():
    _write_csv(os.path.join(root, name), header, rows)
    for row in rows:
      first = row[11].split("/", 1)[0]
      # The NBIA Data Retriever's own folder names: other UIDs, file 1-1.dcm.
      write_dicom(os.path.join(root, "CBIS-DDSM", first, "07-20-2016-DDSM-74994",
                               "1.000000-full mammogram images-24515", "1-1.dcm"))
  return root


# ---------------------------------------------------------------------------------------------
# MIMIC-III NOTEEVENTS.csv.gz: multi-line quoted TEXT. Splits (crc32(ROW_ID) % 100, 90/5/5):
# ROW_ID 1, 2, 3, 4 train; 8 validation; 23 test. Row 3 is a nursing note (not read), row 4 a
# radiology note without FINDINGS (empty field), row 2 marked ISERROR (bad value).
_NOTE_HEADER = ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME",
                "CATEGORY", "DESCRIPTION", "CGID", "ISERROR", "TEXT"]
MIMIC_III_REPORT = ("[**2151-7-16**] 3:47 PM\n CHEST (PORTABLE AP)   Clip # [**Clip Number 1**]\n"
                    "Reason: eval for infiltrate\n ______________\n FINAL REPORT\n"
                    " INDICATION: Fever.\n\n FINDINGS: Single portable view of the chest. "
                    "There is a new\n right lower lobe opacity.\n\n IMPRESSION: Right lower "
                    "lobe pneumonia.\n")
MIMIC_III_NOTES = [
    ("1", "10006", "142345", "2164-10-23", "", "", "Radiology", "CHEST (PORTABLE AP)", "", "",
     MIMIC_III_REPORT),
    ("2", "10006", "142345", "2164-10-24", "", "", "Radiology", "CHEST (PA & LAT)", "", "1",
     "FINDINGS: Erroneous note.\nIMPRESSION: Erroneous."),
    ("3", "10006", "142345", "2164-10-24", "", "", "Nursing/other", "Report", "17", "",
     "Patient resting comfortably."),
    ("4", "10011", "105331", "2126-8-14", "", "", "Radiology", "CT HEAD W/O CONTRAST", "", "",
     "FINAL REPORT\nIMPRESSION: No acute intracranial process."),
    ("8", "10011", "105331", "2126-8-15", "", "", "Radiology", "CHEST (PA & LAT)", "", "",
     "FINDINGS: The lungs are clear.\nIMPRESSION: No acute cardiopulmonary process."),
    ("23", "10017", "199207", "2149-5-29", "", "", "Radiology", "ABDOMEN U.S.", "", "",
     "FINDINGS: The liver is normal in echotexture.\n\nIMPRESSION:\nNormal abdominal "
     "ultrasound."),
]


def write_mimic_iii(root: str) -> str:
  _write_csv(os.path.join(root, "NOTEEVENTS.csv.gz"), _NOTE_HEADER, MIMIC_III_NOTES,
             opener=gzip.open)
  return root


# ---------------------------------------------------------------------------------------------
# MIMIC-CXR reports: split CSV with one row per image (study 50414267 has two); a report with
# no FINDINGS (empty field) and a study whose report file is absent (bad record).
# train: s50414267 (kept), s53189527 (no findings), s56699142 (no file); validate: s53911762;
# test: s50000001.
MIMIC_CXR_REPORTS = {
    ("10000032", "50414267"): "                                 FINAL REPORT\n EXAMINATION:  "
                              "CHEST (PA AND LAT)\n\n INDICATION:  ___F with new onset "
                              "ascites\n\n FINDINGS:\n \n There is no focal consolidation, "
                              "pleural effusion or pneumothorax.\n\n IMPRESSION:\n \n No "
                              "acute cardiopulmonary process.\n",
    ("10000032", "53189527"): " FINAL REPORT\n EXAMINATION:  CHEST (PORTABLE AP)\n\n "
                              "IMPRESSION:  Stable appearance of the chest.\n",
    ("10000032", "53911762"): " FINDINGS:  Heart size is normal.\n\n IMPRESSION:  No acute "
                              "process.\n",
    ("10000764", "50000001"): " FINDINGS:  Small left effusion.\n IMPRESSION:  Small left "
                              "pleural effusion.\n",
}
MIMIC_CXR_SPLIT = [  # dicom_id, study_id, subject_id, split
    ("02aa804e-bde0afdd-112c0b34-7bc16630-4e384014", "50414267", "10000032", "train"),
    ("174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962", "50414267", "10000032", "train"),
    ("2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab", "53189527", "10000032", "train"),
    ("8959e402-2175d68d-edba5a6c-baab51c3-9359f700", "56699142", "10000032", "train"),
    ("68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714", "53911762", "10000032", "validate"),
    ("096052b7-d256dc40-453a102b-fa7d01c6-1b22c6b4", "50000001", "10000764", "test"),
]


def write_mimic_cxr_reports(root: str) -> str:
  for (subject, study), text in MIMIC_CXR_REPORTS.items():
    _write_text(os.path.join(root, "files", f"p{subject[:2]}", f"p{subject}", f"s{study}.txt"),
                text)
  _write_csv(os.path.join(root, "mimic-cxr-2.0.0-split.csv.gz"),
             ["dicom_id", "study_id", "subject_id", "split"], MIMIC_CXR_SPLIT, gzip.open)
  return root


# ---------------------------------------------------------------------------------------------
# TREC 2022 CT: topics with surrounding whitespace, qrels in trec_eval format, trials unzipped
# from two snapshot parts; one trial has no eligibility criteria. Topic splits (70/10/20):
# 1 train, 4 validation, 2 test. Judgments: topic 1 x3, topic 4 x1, topic 2 x2 (one names a
# relevance of 3: bad value).
TREC_TOPICS = {"1": "A 19-year-old male came to clinic with some sexual concern. He recently "
                    "got married.",
               "2": "A 32-year-old woman with a history of recurrent fevers.",
               "4": "A 71-year-old man presents with dyspnea on exertion."}
TREC_QRELS = [("1", "NCT00000102", "2"), ("1", "NCT00000107", "1"), ("1", "NCT04114630", "0"),
              ("4", "NCT00000102", "0"), ("2", "NCT00000107", "2"), ("2", "NCT04114630", "3")]
TREC_TRIALS = {
    "NCT00000102": ("ClinicalTrials.2021-04-27.part1", "Congenital Adrenal Hyperplasia: "
                    "Calcium Channels as Therapeutic Targets", "Inclusion Criteria:\n\n"
                    "          -  Male or female patients, ages 18-35"),
    "NCT00000107": ("ClinicalTrials.2021-04-27.part1", "Body Water Content in Cyanotic "
                    "Congenital Heart Disease", None),
    "NCT04114630": ("ClinicalTrials.2021-04-27.part5", "A Study of Fever Management",
                    "Exclusion Criteria:\n  - Pregnancy"),
}


def write_trec_ct(root: str) -> str:
  topics = "".join(f'  <topic number="{n}">\n\n{text}\n\n</topic>\n'
                   for n, text in TREC_TOPICS.items())
  _write_text(os.path.join(root, "topics2022.xml"),
              f'<topics task="2022 TREC Clinical Trials">\n{topics}</topics>\n')
  _write_text(os.path.join(root, "qrels2022.txt"),
              "".join(f"{t} 0 {trial} {rel}\n" for t, trial, rel in TREC_QRELS))
  for trial, (part, title, criteria) in TREC_TRIALS.items():
    eligibility = (f"<eligibility><criteria><textblock>\n{criteria}\n</textblock></criteria>"
                   "<gender>All</gender></eligibility>" if criteria else "")
    _write_text(os.path.join(root, part, f"{trial[:7]}xxxx", f"{trial}.xml"),
                f'<?xml version="1.0" encoding="UTF-8"?>\n<clinical_study rank="1">\n'
                f"<id_info><nct_id>{trial}</nct_id></id_info>\n<brief_title>{title}"
                f"</brief_title>\n{eligibility}\n</clinical_study>\n")
  return root


# ---------------------------------------------------------------------------------------------
# BioASQ: training11b.json with yes/no answers as "yes", "Yes" and ["no"], plus factoid and
# summary questions (not read); a golden test batch. Splits (90/10): 4ca1..., 719f... train;
# a10a... validation; golden: 2 yes/no questions -> test.
def _bioasq(qid, qtype, body, exact, snippets=("Snippet text.",)):
  item = {"id": qid, "type": qtype, "body": body, "ideal_answer": [f"Ideal answer to {qid}."],
          "documents": ["http://www.ncbi.nlm.nih.gov/pubmed/15858239"],
          "snippets": [{"text": s, "document": "http://www.ncbi.nlm.nih.gov/pubmed/15858239",
                        "beginSection": "abstract", "offsetInBeginSection": 0,
                        "offsetInEndSection": len(s), "endSection": "abstract"}
                       for s in snippets]}
  if exact is not None:
    item["exact_answer"] = exact
  return item


BIOASQ_TRAINING = [
    _bioasq("4ca11c8471ae79731a75e8c3", "yesno", "Is Hirschsprung disease a mendelian or a "
            "multifactorial disorder?", "yes",
            ("Coding sequence mutations in RET are associated with Hirschsprung disease.",
             "It is a multifactorial disorder.")),
    _bioasq("719ff5a8693c92a4e8916e16", "yesno", "Is RANKL secreted from the cells?", ["no"]),
    _bioasq("a10af02821a8a5d103a85160", "yesno", "Is the protein Papilin secreted?", "Yes"),
    _bioasq("2738df4434a2b35c13dad126", "factoid", "Which gene is mutated in X?", [["RET"]]),
    _bioasq("cf5b3ebec3424c3b7cc04628", "summary", "What is the function of Y?", None),
]
BIOASQ_GOLDEN = [
    _bioasq("7fa4d9facd583204ac06806d", "yesno", "Is dexamethasone recommended for "
            "COVID-19?", "yes"),
    _bioasq("f41a79c63f53de0f905120c5", "yesno", "Does metformin cause lactic acidosis?", "no"),
]


def write_bioasq(root: str) -> str:
  write_json(os.path.join(root, "training11b.json"), {"questions": BIOASQ_TRAINING})
  write_json(os.path.join(root, "12B1_golden.json"), {"questions": BIOASQ_GOLDEN})
  return root


# ---------------------------------------------------------------------------------------------
# BoX / Natural-Instructions: one task file in Natural-Instructions v2 keys (Definition as a
# list, output lists), one in BoX's spelling ("Definition:" as text, "Examples"), held out in
# splits/default/test_tasks.txt. The first task's instances: 2 train, 1 validation (95/5);
# the held-out task's 2 instances -> test; one instance is not an object (malformed).
NI_TASK = {
    "Contributors": ["Mihir Parmar"], "Source": ["jnlpba"], "Categories": ["Named Entity "
                                                                         "Recognition"],
    "Definition": ["In this task, you are given a sentence. Your task is to recognize the name "
                   "of gene or protein."],
    "Positive Examples": [{"input": "Sox - 4 is important for very early B - cell "
                                    "differentiation.", "output": "Sox - 4",
                           "explanation": "Sox - 4 is a protein."}],
    "Negative Examples": [{"input": "Cells were treated.", "output": "Cells",
                           "explanation": "Not a gene."}],
    "Instances": [
        {"id": "task1480-db5b5fab8f4d3e27dda1494c73cf256d",
         "input": "Expression of IL - 2 was reduced.", "output": ["IL - 2"]},
        {"id": "task1480-73ab48767734d7c1c7fde805ec99108d",
         "input": "NF - kappa B binds the promoter.", "output": ["NF - kappa B", "NF-kB"]},
        {"id": "task1480-79cb9e86830c71c2cdcc69292f45e678",
         "input": "c - jun was induced.", "output": ["c - jun"]},
        "a stray string"],
    "Instance License": ["Unknown"],
}
BOX_TASK = {
    "Definition:": "In this task, you are given a question and a context. Answer yes or no.",
    "Examples": [{"input": "Is aspirin an NSAID? Context: Aspirin is an NSAID.", "output": "yes",
                  "explanation": "The context says so."}],
    "Prompt": "Answer the question with yes or no.",
    "Instances": [{"id": "box-pubmedqa-1", "input": "Is water wet?", "output": "yes"},
                  {"id": "box-pubmedqa-2", "input": "Is fire cold?", "output": ["no"]}],
}


def write_box(root: str) -> str:
  write_json(os.path.join(root, "tasks", "task1480_gene_extraction_jnlpba_dataset.json"),
             NI_TASK)
  write_json(os.path.join(root, "tasks", "box_pubmedqa_yes_no.json"), BOX_TASK)
  _write_text(os.path.join(root, "splits", "default", "test_tasks.txt"),
              "box_pubmedqa_yes_no\n")
  return root


# dataset -> (writer, {split: prepared records}, {kind: skipped records}); folder = spec.folder.
EXPECTED = {
    "shenzhen_cxr": (write_shenzhen, {"train": 2, "validation": 2, "test": 1}, {}),
    "montgomery_cxr": (write_montgomery, {"train": 2, "validation": 1, "test": 1}, {}),
    "rsna_pneumonia": (write_rsna_pneumonia, {"train": 2, "validation": 1, "test": 1},
                       {"missing_image": 1}),
    "cbis_ddsm": (write_cbis_ddsm, {"train": 3, "test": 3}, {}),
    "mimic_iii": (write_mimic_iii, {"train": 1, "validation": 1, "test": 1},
                  {"bad_value": 1, "empty_field": 1}),
    "mimic_cxr_sum": (write_mimic_cxr_reports, {"train": 1, "validation": 1, "test": 1},
                      {"empty_field": 1, "malformed": 1}),
    "trec_ct_2022": (write_trec_ct, {"train": 3, "validation": 1, "test": 1},
                     {"bad_value": 1}),
    "bioasq": (write_bioasq, {"train": 2, "validation": 1, "test": 2}, {}),
    "box": (write_box, {"train": 2, "validation": 1, "test": 2}, {"malformed": 1}),
}
