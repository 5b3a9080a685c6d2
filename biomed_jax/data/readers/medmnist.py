"""MedMNIST v2 / MedMNIST+ 2-D subsets, read from the published `<flag>[_<size>].npz` files.

Each npz holds `{train,val,test}_images` (N, H, W) or (N, H, W, 3) uint8 and
`{train,val,test}_labels` (N, 1) (class index) or (N, k) (multi-label 0/1, ChestMNIST). Images
become PNG bytes (grayscale stays "L"); class names come from the MedMNIST INFO table
(medmnist 3.0.2, `medmnist/info.py`). Record ids are the row index within the split.

Size: `<flag>.npz` (28 px, MedMNIST v2 as in the BiomedGPT papers) is read when present,
otherwise the largest of `<flag>_224/_128/_64.npz`; `size=` picks one explicitly.
"""

import io
import os
import zipfile

import numpy as np
from PIL import Image

from biomed_jax.data.readers import common
from biomed_jax.data.records import DataError, Record

# MedMNIST INFO label tables (index -> class name), 2-D subsets only.
_ORGAN = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
          "liver", "lung-left", "lung-right", "pancreas", "spleen")
LABELS: dict[str, tuple[str, ...]] = {
    "pathmnist": ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                  "normal colon mucosa", "cancer-associated stroma",
                  "colorectal adenocarcinoma epithelium"),
    "chestmnist": ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule",
                   "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema",
                   "fibrosis", "pleural", "hernia"),
    "dermamnist": ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                   "benign keratosis-like lesions", "dermatofibroma", "melanoma",
                   "melanocytic nevi", "vascular lesions"),
    "octmnist": ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
    "pneumoniamnist": ("normal", "pneumonia"),
    "retinamnist": ("0", "1", "2", "3", "4"),
    "breastmnist": ("malignant", "normal, benign"),
    "bloodmnist": ("basophil", "eosinophil", "erythroblast",
                   "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
                   "lymphocyte", "monocyte", "neutrophil", "platelet"),
    "tissuemnist": ("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
                    "Glomerular endothelial cells", "Interstitial endothelial cells",
                    "Leukocytes", "Podocytes", "Proximal Tubule Segments",
                    "Thick Ascending Limb"),
    "organamnist": _ORGAN,
    "organcmnist": _ORGAN,
    "organsmnist": _ORGAN,
}
MULTI_LABEL = frozenset({"chestmnist"})
SIZES = (28, 64, 128, 224)
_NPZ_SPLITS = {"train": "train", "validation": "val", "test": "test"}
_ROWS_PER_READ = 1024


def npz_path(dataset: str, root: str, flag: str, size: int | None = None) -> str:
  """The npz file to read for `flag` under `root` (see the module docstring for the rule)."""
  def name(s: int) -> str:
    return f"{flag}.npz" if s == 28 else f"{flag}_{s}.npz"
  if size is not None:
    if size not in SIZES:
      raise ValueError(f"MedMNIST size must be one of {SIZES}, got {size}")
    return common.require(dataset, os.path.join(root, name(size)))
  for s in (28,) + tuple(reversed(SIZES[1:])):
    path = os.path.join(root, name(s))
    if os.path.exists(path):
      return path
  raise common.MissingData(dataset, os.path.join(root, name(28)))


def _iter_rows(dataset: str, path: str, key: str):
  """Yields rows of array `key` from the npz without loading the whole array (224 px PathMNIST
  train is ~13 GB)."""
  try:
    archive = zipfile.ZipFile(path)
  except (zipfile.BadZipFile, OSError) as e:
    raise DataError(dataset, path, None, f"not a readable npz file: {e}") from None
  with archive:
    member = f"{key}.npy"
    if member not in archive.namelist():
      raise DataError(dataset, path, None,
                      f"no array {key!r}; arrays: {[n[:-4] for n in archive.namelist()]}")
    with archive.open(member) as f:
      version = np.lib.format.read_magic(f)
      if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
      else:
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
      if fortran_order or dtype.hasobject or not shape:
        yield from np.load(path)[key]
        return
      row_shape = tuple(shape[1:])
      row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
      remaining = shape[0]
      while remaining:
        count = min(remaining, _ROWS_PER_READ)
        raw = f.read(count * row_bytes)
        if len(raw) != count * row_bytes:
          raise DataError(dataset, path, None, f"array {key!r} is truncated")
        yield from np.frombuffer(raw, dtype).reshape((count,) + row_shape)
        remaining -= count


def png_bytes(image: np.ndarray) -> bytes:
  """Encodes a (H, W) or (H, W, 3) uint8 array as PNG ("L" or "RGB")."""
  buffer = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
  return buffer.getvalue()


def scan_medmnist(dataset: str, root: str, split: str, *, flag: str,
                  size: int | None = None) -> common.ScanResult:
  path = npz_path(dataset, root, flag, size)
  prefix = _NPZ_SPLITS[split]
  names = LABELS[flag]
  try:
    with np.load(path) as npz:
      labels = np.asarray(npz[f"{prefix}_labels"])
  except KeyError:
    raise DataError(dataset, path, None, f"no array '{prefix}_labels'") from None
  except (OSError, ValueError, zipfile.BadZipFile) as e:
    raise DataError(dataset, path, None, f"not a readable npz file: {e}") from None
  labels = labels.reshape(len(labels), -1)
  count = 0
  for index, image in enumerate(_iter_rows(dataset, path, f"{prefix}_images")):
    count = index + 1
    record_id = str(index)
    if index >= len(labels):
      yield common.BadRecord(dataset, path, record_id, "image without a label", common.MALFORMED)
      continue
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
      yield common.BadRecord(dataset, path, record_id,
                             f"image shape {image.shape} is not (H, W) or (H, W, 3)",
                             common.MALFORMED)
      continue
    if image.ndim == 3 and image.shape[-1] == 1:
      image = image[..., 0]
    row = labels[index]
    if flag in MULTI_LABEL:
      if row.shape[0] != len(names) or not np.isin(row, (0, 1)).all():
        yield common.BadRecord(dataset, path, record_id,
                               f"multi-label row {row.tolist()} is not {len(names)} 0/1 values",
                               common.BAD_VALUE)
        continue
      fields = {"labels": [names[i] for i in np.flatnonzero(row)],
                "label_indices": [str(i) for i in np.flatnonzero(row)]}
    else:
      label = int(row[0]) if row.shape[0] == 1 else -1
      if not 0 <= label < len(names):
        yield common.BadRecord(dataset, path, record_id,
                               f"label {row.tolist()} is not a class index < {len(names)}",
                               common.BAD_VALUE)
        continue
      fields = {"label": names[label], "label_index": str(label)}
    yield Record(dataset=dataset, split=split, id=record_id, source=path,
                 images=(png_bytes(image),), fields=fields)
  if count < len(labels):
    yield common.BadRecord(dataset, path, str(count),
                           f"{len(labels)} labels but only {count} images", common.MALFORMED)
