"""Decode a record's image into the model's input: a square float32 array in [-1, 1].

Medical images arrive in every mode Pillow knows (8/16/32-bit grayscale, float, palette,
RGBA, CMYK) and sometimes as DICOM. All of them become RGB uint8 first:
  * 16/32-bit integer and float images are rescaled linearly from the image's own
    [min, max] to [0, 255] (no clinical windowing: the files carry none we can trust;
    a constant image becomes black).
  * Images with transparency are composited over white, as a viewer shows a figure.
  * The EXIF orientation tag is applied.
  * DICOM (needs the optional `pydicom`): modality and VOI LUTs when present, MONOCHROME1
    inverted, first frame of a multi-frame file, then the [min, max] rescale above.
Then the image is resized to `image_size` x `image_size` (aspect ratio not kept, as OFA and
BiomedGPT do) with Pillow's antialiased bicubic filter, and mapped to [-1, 1]
(mean = std = 0.5), or standardised by ImageNet's mean and std (`normalize`, BiomedGPT's
MedMNIST recipe).

Training augmentation is a mild random resized crop (area 80-100%, aspect 3/4-4/3) drawn
from a caller-given generator, so it is deterministic per (seed, example). No flips:
left/right carries meaning in radiology.

Large files: Pillow's decompression-bomb guard is raised to `MAX_IMAGE_PIXELS` (whole-slide
pathology crops are big); anything larger is a DataError. JPEGs are decoded at a reduced
scale (draft mode) when much larger than needed, other formats are reduced by an integer
factor before the final resize.
"""

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps

from biomed_jax.data.records import DataError

# 512 megapixels, e.g. 22,000 x 22,000. Pillow's default (~89 Mpx) rejects real pathology crops.
MAX_IMAGE_PIXELS = 512 * 1024 * 1024
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# Random resized crop ranges (fraction of the image area, width/height ratio).
CROP_AREA = (0.8, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)

_DICOM_MAGIC_OFFSET = 128
MISSING_IMAGE_PROBLEM = "missing image file"


def is_dicom(source: str | bytes) -> bool:
  """True for DICOM part-10 data: "DICM" after a 128-byte preamble."""
  if isinstance(source, bytes):
    return source[_DICOM_MAGIC_OFFSET:_DICOM_MAGIC_OFFSET + 4] == b"DICM"
  try:
    with open(source, "rb") as f:
      f.seek(_DICOM_MAGIC_OFFSET)
      return f.read(4) == b"DICM"
  except OSError:
    return False


def _rescale_to_uint8(array: np.ndarray) -> np.ndarray:
  array = array.astype(np.float64)
  lo, hi = float(array.min()), float(array.max())
  if not (math.isfinite(lo) and math.isfinite(hi)):
    finite = array[np.isfinite(array)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    array = np.nan_to_num(array, nan=lo, posinf=hi, neginf=lo)
  if hi <= lo:
    return np.zeros(array.shape, np.uint8)
  return np.round((array - lo) * (255.0 / (hi - lo))).clip(0, 255).astype(np.uint8)


def _decode_dicom(source: str | bytes) -> Image.Image:
  try:
    # pylint: disable=g-import-not-at-top
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
    # pylint: enable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "reading DICOM images needs pydicom: `pip install pydicom` (optional extra)") from e
  ds = pydicom.dcmread(io.BytesIO(source) if isinstance(source, bytes) else source)
  pixels = ds.pixel_array
  frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
  if frames > 1:
    pixels = pixels[0]
  photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
  if photometric.startswith("MONOCHROME"):
    pixels = apply_modality_lut(pixels, ds)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
      pixels = apply_voi_lut(pixels, ds)
    gray = _rescale_to_uint8(pixels)
    if photometric == "MONOCHROME1":
      gray = 255 - gray
    return Image.fromarray(gray, "L")
  if pixels.ndim == 3 and pixels.shape[-1] == 3:
    if pixels.dtype != np.uint8:
      pixels = _rescale_to_uint8(pixels)
    return Image.fromarray(pixels, "RGB")
  raise ValueError(f"unsupported DICOM photometric interpretation {photometric!r}")


def _to_rgb(image: Image.Image) -> Image.Image:
  """Any Pillow mode -> RGB (see the module docstring for the rules)."""
  if image.mode == "P":
    image = image.convert("RGBA" if "transparency" in image.info else "RGB")
  if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
    return Image.fromarray(_rescale_to_uint8(np.asarray(image)), "L").convert("RGB")
  if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
  if image.mode == "RGB":
    return image
  return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _open(source: str | bytes) -> Image.Image:
  with warnings.catch_warnings():
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)


def decode_image(source: str | bytes, *, min_side: int = 0) -> Image.Image:
  """Decodes a path or encoded bytes to an RGB Pillow image (raises OSError/ValueError).

  `min_side`: the smallest side the caller needs; large JPEGs are decoded at a reduced scale
  that still leaves at least this many pixels on each side.
  """
  if isinstance(source, str) and source.lower().endswith((".dcm", ".dicom")) or (
      isinstance(source, bytes) and is_dicom(source)):
    return _to_rgb(_decode_dicom(source))
  try:
    image = _open(source)
  except Image.UnidentifiedImageError:
    if is_dicom(source):  # DICOM without the .dcm suffix
      return _to_rgb(_decode_dicom(source))
    raise
  with image:  # closes the file, also when decoding fails
    if image.width * image.height > MAX_IMAGE_PIXELS:
      raise ValueError(f"image of {image.width}x{image.height} pixels exceeds the "
                       f"{MAX_IMAGE_PIXELS}-pixel limit (images.MAX_IMAGE_PIXELS)")
    if min_side and image.format == "JPEG":
      image.draft(None, (min_side, min_side))
    image.load()  # decode now: truncated data fails here, not later
    if image.getexif().get(0x0112, 1) != 1:  # orientation tag
      image = ImageOps.exif_transpose(image)
    return _to_rgb(image)


def random_crop_box(width: int, height: int, rng: np.random.Generator,
                    area: tuple[float, float] = CROP_AREA,
                    ratio: tuple[float, float] = CROP_RATIO) -> tuple[int, int, int, int]:
  """A (left, upper, right, lower) box covering `area` of the image with aspect in `ratio`."""
  for _ in range(10):
    target_area = width * height * rng.uniform(*area)
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    w = int(round(math.sqrt(target_area * aspect)))
    h = int(round(math.sqrt(target_area / aspect)))
    if 0 < w <= width and 0 < h <= height:
      left = int(rng.integers(0, width - w + 1))
      top = int(rng.integers(0, height - h + 1))
      return left, top, left + w, top + h
  return 0, 0, width, height  # very elongated images: keep them whole


def resize(image: Image.Image, image_size: int,
           rng: np.random.Generator | None = None) -> np.ndarray:
  """RGB image -> uint8 [image_size, image_size, 3]; crops at random first if `rng`."""
  box = random_crop_box(image.width, image.height, rng) if rng is not None else None
  resized = image.resize((image_size, image_size), Image.Resampling.BICUBIC, box=box,
                         reducing_gap=3.0)
  return np.asarray(resized, np.uint8)


# How pixels become model inputs: "unit" maps to [-1, 1] (mean = std = 0.5, BiomedGPT's
# default); "imagenet" standardises by ImageNet's per-channel mean and std (its MedMNIST
# recipe).
NORMALIZATIONS = {"unit": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                  "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
DEFAULT_NORMALIZATION = "unit"


def check_normalization(name: str) -> None:
  if name not in NORMALIZATIONS:
    raise ValueError(f"image normalization {name!r} is not one of {sorted(NORMALIZATIONS)}")


def normalize(pixels: np.ndarray, normalization: str = DEFAULT_NORMALIZATION) -> np.ndarray:
  """uint8 pixels [..., 3] -> float32: (pixels / 255 - mean) / std per channel."""
  check_normalization(normalization)
  if normalization == "unit":  # the exact arithmetic of the [-1, 1] mapping
    out = pixels.astype(np.float32)
    out *= 2.0 / 255.0
    out -= 1.0
    return out
  mean, std = (np.asarray(v, np.float32) for v in NORMALIZATIONS[normalization])
  return (pixels.astype(np.float32) / 255.0 - mean) / std


def to_model_input(image: Image.Image, image_size: int,
                   rng: np.random.Generator | None = None) -> np.ndarray:
  """RGB image -> float32 [image_size, image_size, 3] in [-1, 1]; crops at random if `rng`."""
  return normalize(resize(image, image_size, rng))


def load_image(source: str | bytes, image_size: int, *, dataset: str, record_id: str,
               record_source: str, rng: np.random.Generator | None = None,
               as_uint8: bool = False,
               normalization: str = DEFAULT_NORMALIZATION) -> np.ndarray:
  """Decodes, (optionally) crops at random and resizes one image; bad files -> DataError.

  Returns float32 normalised as `normalization` says (default [-1, 1]), or the uint8 pixels
  with `as_uint8` (4x less to move between processes; `normalize` later). The error names the image file (or the record's source
  file for inline bytes).
  """
  where = record_source if isinstance(source, bytes) else source
  # A crop keeps >= sqrt(min area) of each side, so decode at least that much larger.
  min_side = image_size if rng is None else int(math.ceil(image_size / math.sqrt(CROP_AREA[0])))
  try:
    pixels = resize(decode_image(source, min_side=min_side), image_size, rng)
    return pixels if as_uint8 else normalize(pixels, normalization)
  except ImportError as e:
    raise DataError(dataset, where, record_id, str(e)) from e
  except FileNotFoundError as e:
    raise DataError(dataset, where, record_id, MISSING_IMAGE_PROBLEM) from e
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
          Image.DecompressionBombWarning) as e:
    raise DataError(dataset, where, record_id, f"unreadable image: {e}") from e
  except Exception as e:  # pylint: disable=broad-except
    # pydicom and Pillow plugins raise assorted types on corrupt data.
    raise DataError(dataset, where, record_id, f"unreadable image: {type(e).__name__}: {e}") \
        from e


def missing_image_problem(error: DataError) -> str:
  """A short category for counting: "missing_image" or "bad_image"."""
  return "missing_image" if error.problem == MISSING_IMAGE_PROBLEM else "bad_image"


__all__ = ["MAX_IMAGE_PIXELS", "NORMALIZATIONS", "DEFAULT_NORMALIZATION", "decode_image", "load_image", "to_model_input", "resize",
           "normalize",
           "random_crop_box", "is_dicom", "missing_image_problem"]
