"""Image classification from published image folders and label tables: the NLM tuberculosis
chest X-ray sets (Shenzhen, Montgomery), RSNA Pneumonia and CBIS-DDSM.

Fields: label (+ dataset-specific extras). None of the chest X-ray sets publishes a split for
what we read: they are split by `common.hash_split` of the image id.
"""

import csv
import glob
import os
import re

from biomed_jax.data.readers import common
from biomed_jax.data.records import DataError, Record

# ---------------------------------------------------------------------------------------------
# Shenzhen (ChinaSet_AllFiles) and Montgomery (MontgomerySet), Jaeger et al. 2014:
# CXR_png/<PREFIX>_<4 digits>_<0 normal | 1 tuberculosis>.png and ClinicalReadings/<same>.txt
# (first lines: sex and age; then the radiologist's reading). The folders also hold files that
# are not images (Thumbs.db, the ReadMe, ManualMask/): they are ignored.
TB_LABELS = ("normal", "tuberculosis")
TB_SPLIT_PCT = (10, 20)  # validation, test: 70/10/20, as the sets are small (662 and 138)
_DEMOGRAPHICS = re.compile(r"^\s*(patient'?s (sex|age)\s*:|(fe)?male\b)", re.IGNORECASE)


def _tb_folder(dataset: str, root: str, top: str) -> str:
  """`root`, or root/<top> (the folder the publisher's zip unpacks to)."""
  for folder in (root, os.path.join(root, top)):
    if os.path.isdir(os.path.join(folder, "CXR_png")):
      return folder
  raise common.MissingData(dataset, os.path.join(root, "CXR_png"))


def _reading(path: str) -> tuple[str, str]:
  """(demographics, finding) of a ClinicalReadings file; ("", "") when there is none."""
  if not os.path.exists(path):
    return "", ""
  with open(path, "rb") as f:
    text = f.read().decode("utf-8", errors="replace")
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  head = [line for line in lines if _DEMOGRAPHICS.match(line)]
  rest = [line for line in lines if not _DEMOGRAPHICS.match(line)]
  return "; ".join(head), " ".join(rest)


def scan_tb_cxr(dataset: str, root: str, split: str, *, prefix: str,
                top: str) -> common.ScanResult:
  folder = _tb_folder(dataset, root, top)
  pattern = re.compile(rf"^{prefix}_(\d{{4}})_([01])\.png$", re.IGNORECASE)
  for name in sorted(os.listdir(os.path.join(folder, "CXR_png"))):
    if not name.lower().endswith(".png"):
      continue  # Thumbs.db and the like
    path = os.path.join(folder, "CXR_png", name)
    stem = name[:-4]
    match = pattern.match(name)
    if not match:
      yield common.BadRecord(dataset, path, stem,
                             f"file name is not {prefix}_<number>_<0|1>.png", common.MALFORMED)
      continue
    if common.hash_split(stem, *TB_SPLIT_PCT) != split:
      continue
    demographics, finding = _reading(os.path.join(folder, "ClinicalReadings", f"{stem}.txt"))
    yield Record(dataset=dataset, split=split, id=stem, source=path, images=(path,), fields={
        "label": TB_LABELS[int(match.group(2))],
        "finding": finding,
        "demographics": demographics,
    })


# ---------------------------------------------------------------------------------------------
# RSNA Pneumonia Detection Challenge (Kaggle, 2018): stage_2_train_labels.csv (patientId, x, y,
# width, height, Target; one row per opacity box, so a patient can have several) and
# stage_2_detailed_class_info.csv (patientId, class; also one row per box), images
# stage_2_train_images/<patientId>.dcm. Only the training images have labels.
RSNA_LABELS = ("no pneumonia", "pneumonia")


def _csv_rows(dataset: str, path: str, columns: tuple[str, ...]):
  with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
    reader = csv.DictReader(f)
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
      raise DataError(dataset, path, None,
                      f"missing columns {missing}; header is {reader.fieldnames}")
    for row in reader:
      yield reader.line_num, row


def scan_rsna_pneumonia(dataset: str, root: str, split: str) -> common.ScanResult:
  stage = "stage_2" if os.path.exists(os.path.join(root, "stage_2_train_labels.csv")) \
      else "stage_1"
  labels_path = common.require(dataset, os.path.join(root, f"{stage}_train_labels.csv"))
  image_dir = common.require(dataset, os.path.join(root, f"{stage}_train_images"))
  classes = {}
  class_path = os.path.join(root, f"{stage}_detailed_class_info.csv")
  if os.path.exists(class_path):
    for _, row in _csv_rows(dataset, class_path, ("patientId", "class")):
      patient = common.text(row["patientId"]).strip()
      classes.setdefault(patient, common.text(row["class"]).strip())
  targets: dict[str, set[str]] = {}
  for line, row in _csv_rows(dataset, labels_path, ("patientId", "Target")):
    patient = common.text(row["patientId"]).strip()
    if not patient:
      yield common.BadRecord(dataset, labels_path, f"line {line}", "no patientId",
                             common.MALFORMED)
      continue
    targets.setdefault(patient, set()).add(common.text(row["Target"]).strip())
  for patient, values in targets.items():  # first-appearance order
    if common.hash_split(patient) != split:
      continue
    if len(values) != 1 or not values <= {"0", "1"}:
      yield common.BadRecord(dataset, labels_path, patient,
                             f"Target {sorted(values)} is not one 0/1 value", common.BAD_VALUE)
      continue
    yield Record(dataset=dataset, split=split, id=patient, source=labels_path,
                 images=(os.path.join(image_dir, f"{patient}.dcm"),),
                 fields={"label": RSNA_LABELS[int(values.pop())],
                         "detailed_class": classes.get(patient, "")})


# ---------------------------------------------------------------------------------------------
# CBIS-DDSM (Lee et al. 2017, TCIA): {mass,calc}_case_description_{train,test}_set.csv, one row
# per abnormality, and the DICOM files as the NBIA Data Retriever writes them:
# CBIS-DDSM/<Mass-Training_P_00001_LEFT_CC>/<study UID>/<series UID>/<n>.dcm. The CSV's
# "image file path" names the same first folder, but its UIDs often differ from the
# downloaded ones (and the cell may end with a newline), so the image is the one .dcm found
# under that first folder when the exact path is absent. Label: the pathology, with
# BENIGN_WITHOUT_CALLBACK read as benign.
CBIS_FILES = {"train": ("mass_case_description_train_set.csv",
                        "calc_case_description_train_set.csv"),
              "test": ("mass_case_description_test_set.csv",
                       "calc_case_description_test_set.csv")}
CBIS_LABELS = {"BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign", "MALIGNANT": "malignant"}


def _cbis_image(images_root: str, cell: str) -> str:
  relative = cell.strip().replace("\\", "/")
  exact = os.path.join(images_root, relative)
  if os.path.isfile(exact):
    return exact
  first = relative.split("/", 1)[0]
  found = sorted(glob.glob(os.path.join(images_root, first, "**", "*.dcm"), recursive=True))
  return found[0] if len(found) == 1 else exact  # none or ambiguous: reported as missing


def scan_cbis_ddsm(dataset: str, root: str, split: str) -> common.ScanResult:
  images_root = common.require(dataset, os.path.join(root, "CBIS-DDSM"))
  for name in CBIS_FILES[split]:
    path = common.require(dataset, os.path.join(root, name))
    for line, row in _csv_rows(dataset, path, ("patient_id", "abnormality id", "pathology",
                                               "image file path")):
      side = common.text(row.get("left or right breast")).strip()
      view = common.text(row.get("image view")).strip()
      kind = common.text(row.get("abnormality type")).strip()
      record_id = "_".join((kind, common.text(row["patient_id"]).strip(), side, view,
                            common.text(row["abnormality id"]).strip()))
      pathology = common.text(row["pathology"]).strip().upper()
      if pathology not in CBIS_LABELS:
        yield common.BadRecord(dataset, path, record_id,
                               f"pathology {row['pathology']!r} (line {line}) is not one of "
                               f"{sorted(CBIS_LABELS)}", common.BAD_VALUE)
        continue
      density = common.text(row.get("breast_density", row.get("breast density"))).strip()
      yield Record(dataset=dataset, split=split, id=record_id, source=path,
                   images=(_cbis_image(images_root, common.text(row["image file path"])),),
                   fields={"label": CBIS_LABELS[pathology], "abnormality": kind,
                           "view": f"{side} {view}".strip(), "breast_density": density,
                           "assessment": common.text(row.get("assessment")).strip()})
