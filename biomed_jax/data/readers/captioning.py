"""Captioning and report generation: IU X-ray and MIMIC-CXR (R2Gen release), ROCO, PEIR Gross.

Field: caption (the report for IU X-ray / MIMIC-CXR, the figure caption for ROCO, the image
description for PEIR Gross).
"""

import os

from biomed_jax.data.readers import common
from biomed_jax.data.records import Record

def _tab_pairs(dataset: str, path: str, expected: str):
  """(key, text) of each "key<TAB>text" line, or a BadRecord naming the line."""
  for number, line in common.iter_lines(dataset, path):
    if isinstance(line, common.BadRecord):
      yield line
      continue
    key, sep, text = line.partition("\t")
    key = key.strip()
    if not sep or not key:
      yield common.BadRecord(dataset, path, f"line {number}", f"expected '{expected}'",
                             common.MALFORMED)
      continue
    yield key, text


# ---------------------------------------------------------------------------------------------
# R2Gen annotation.json: {"train"|"val"|"test": [{id, report, image_path: [...], split}]},
# image paths relative to images/ (IU X-ray: "<id>/0.png", "<id>/1.png"; MIMIC-CXR:
# "p10/p10000032/s5.../<dicom>.jpg").
R2GEN_SPLITS = {"train": "train", "validation": "val", "test": "test"}


def scan_r2gen(dataset: str, root: str, split: str) -> common.ScanResult:
  path = os.path.join(root, "annotation.json")
  image_dir = common.require(dataset, os.path.join(root, "images"))
  data = common.load_json(dataset, path)
  key = R2GEN_SPLITS[split]
  # One shared IU X-ray copy spells a split key with stray spaces (" test"): match stripped.
  published = {str(k).strip().lower(): k for k in data} if isinstance(data, dict) else {}
  if key not in published:
    raise common.DataError(dataset, path, None, f"expected an object with a {key!r} list")
  items = common.expect_list(dataset, path, data[published[key]], f"a list under {key!r}")
  for index, item in enumerate(items):
    if not isinstance(item, dict):
      yield common.BadRecord(dataset, path, f"{key}#{index}", "not a JSON object",
                             common.MALFORMED)
      continue
    record_id = common.text(item.get("id")).strip()
    image_paths = item.get("image_path") or []
    if isinstance(image_paths, str):
      image_paths = [image_paths]
    if not record_id or not isinstance(image_paths, list):
      yield common.BadRecord(dataset, path, record_id or f"{key}#{index}",
                             "needs an id and an image_path list", common.MALFORMED)
      continue
    fields = {"caption": common.text(item.get("report"))}
    for extra in ("study_id", "subject_id"):
      if extra in item:
        fields[extra] = common.text(item[extra])
    yield Record(dataset=dataset, split=split, id=record_id, source=path,
                 images=tuple(os.path.join(image_dir, common.text(p)) for p in image_paths),
                 fields=fields)


# ---------------------------------------------------------------------------------------------
# ROCO (radiology part): <split>/radiology/captions.txt with "ROCO_00002<TAB> caption" lines.
# Images are <split>/radiology/images/ROCO_xxxxx.jpg in the commonly shared copies; the current
# scripts/fetch.py stores them as images/<PMCID>_<file> instead, resolved through dlinks*.txt
# ("ROCO_id<TAB>wget ... PMCxxxx.tar.gz ...<TAB>file.jpg").
ROCO_SPLITS = ("train", "validation", "test")


def _roco_pmc_names(folder: str) -> dict[str, str]:
  names = {}
  for entry in sorted(os.listdir(folder)):
    if not (entry.startswith("dlinks") and entry.endswith(".txt")):
      continue
    with open(os.path.join(folder, entry), encoding="utf-8", errors="replace") as f:
      for line in f:
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 3:
          continue
        archive = parts[1].split()[2] if len(parts[1].split()) > 2 else ""
        pmc_id = os.path.basename(archive).removesuffix(".tar.gz")
        if pmc_id:
          names[parts[0].strip()] = f"{pmc_id}_{parts[-1].strip()}"
  return names


def scan_roco(dataset: str, root: str, split: str) -> common.ScanResult:
  folder = os.path.join(root, split, "radiology")
  path = os.path.join(folder, "captions.txt")
  image_dir = common.require(dataset, os.path.join(folder, "images"))
  common.require(dataset, path)
  pmc_names = None  # loaded on the first image not found under its ROCO id
  for pair in _tab_pairs(dataset, path, "ROCO_id<TAB>caption"):
    if isinstance(pair, common.BadRecord):
      yield pair
      continue
    record_id, caption = pair
    image = os.path.join(image_dir, f"{record_id}.jpg")
    if not os.path.exists(image):
      if pmc_names is None:
        pmc_names = _roco_pmc_names(folder)
      if record_id in pmc_names:
        image = os.path.join(image_dir, pmc_names[record_id])
    yield Record(dataset=dataset, split=split, id=record_id, source=path, images=(image,),
                 fields={"caption": caption.strip()})


# ---------------------------------------------------------------------------------------------
# PEIR Gross as built by nlpaueb/bioCaption (Kougia et al. 2019): peir_gross_images/<file>,
# train_images.tsv / test_images.tsv with "file<TAB>caption" lines (90/10 split, seed 42).
PEIR_FILES = {"train": "train_images.tsv", "test": "test_images.tsv"}


def scan_peir_gross(dataset: str, root: str, split: str) -> common.ScanResult:
  path = common.require(dataset, os.path.join(root, PEIR_FILES[split]))
  image_dir = common.require(dataset, os.path.join(root, "peir_gross_images"))
  for pair in _tab_pairs(dataset, path, "image<TAB>caption"):
    if isinstance(pair, common.BadRecord):
      yield pair
      continue
    image_name, caption = pair
    yield Record(dataset=dataset, split=split, id=image_name, source=path,
                 images=(os.path.join(image_dir, image_name),),
                 fields={"caption": caption.strip()})
