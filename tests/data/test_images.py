"""Image decoding: every Pillow mode, EXIF, large images, DICOM, bad files, augmentation."""

import io
import sys

import numpy as np
from PIL import Image
import pytest

from biomed_jax.data import images
from biomed_jax.data.records import DataError

SIZE = 16


def _load(source, rng=None, size=SIZE):
  return images.load_image(source, size, dataset="ds", record_id="r1", record_source="f.json",
                           rng=rng)


def _png_bytes(image: Image.Image, fmt="PNG", **kwargs) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, fmt, **kwargs)
  return buffer.getvalue()


def test_known_rgb_colour_maps_to_expected_normalised_values(tmp_path):
  path = tmp_path / "colour.png"
  Image.new("RGB", (40, 30), (255, 0, 128)).save(path)
  out = _load(str(path))
  assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.float32
  np.testing.assert_allclose(out[..., 0], 1.0, atol=1e-6)
  np.testing.assert_allclose(out[..., 1], -1.0, atol=1e-6)
  np.testing.assert_allclose(out[..., 2], 128 / 127.5 - 1, atol=1e-6)


def _gradient(dtype, lo, hi, width=64, height=8):
  row = np.linspace(lo, hi, width).astype(dtype)
  return np.tile(row, (height, 1))


@pytest.mark.parametrize("mode, array", [
    ("L", _gradient(np.uint8, 0, 255)),
    ("I;16", _gradient(np.uint16, 1000, 4095)),  # 12-bit X-ray values in a 16-bit file
    ("I", _gradient(np.int32, -1024, 3071)),  # CT Hounsfield units
    ("F", _gradient(np.float32, -0.5, 2.5)),
])
def test_grayscale_modes_rescale_min_max_to_full_range(tmp_path, mode, array):
  image = Image.fromarray(array)
  assert image.mode == mode
  # Save losslessly in a format that keeps the mode (TIFF keeps I;16, I and F).
  path = tmp_path / f"gray_{mode.replace(';', '')}.tiff"
  image.save(path)
  with Image.open(path) as saved:
    assert saved.mode == mode
  out = _load(str(path), size=64)
  assert out.shape == (64, 64, 3)
  np.testing.assert_array_equal(out[..., 0], out[..., 1])  # gray -> equal channels
  column_means = out[..., 0].mean(axis=0)
  assert column_means[0] == pytest.approx(-1.0, abs=0.05)  # image min -> -1
  assert column_means[-1] == pytest.approx(1.0, abs=0.05)  # image max -> +1
  assert np.all(np.diff(column_means) > -1e-3)  # monotone left to right


def test_sixteen_bit_png(tmp_path):
  path = tmp_path / "xray16.png"
  Image.fromarray(_gradient(np.uint16, 0, 60000)).save(path)
  out = _load(str(path), size=64)
  assert out.min() == pytest.approx(-1.0, abs=0.05) and out.max() == pytest.approx(1.0, abs=0.05)


def test_constant_sixteen_bit_image_is_black(tmp_path):
  path = tmp_path / "flat.tiff"
  Image.fromarray(np.full((8, 8), 1234, np.uint16)).save(path)
  np.testing.assert_allclose(_load(str(path)), -1.0)


def test_alpha_modes_composite_over_white():
  transparent = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
  np.testing.assert_allclose(_load(_png_bytes(transparent)), 1.0, atol=1e-6)
  half_red = Image.new("RGBA", (10, 10), (255, 0, 0, 128))
  out = _load(_png_bytes(half_red))
  np.testing.assert_allclose(out[..., 0], 1.0, atol=1e-6)
  expected_gb = (255 - 128) / 127.5 - 1  # 50% of white left in G and B
  np.testing.assert_allclose(out[..., 1:], expected_gb, atol=0.02)
  la = Image.new("LA", (10, 10), (0, 255))  # opaque black
  np.testing.assert_allclose(_load(_png_bytes(la)), -1.0, atol=1e-6)


def test_palette_images_with_and_without_transparency():
  palette = Image.new("P", (10, 10), 1)
  palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)  # index 1 = green
  out = _load(_png_bytes(palette))
  np.testing.assert_allclose(out[..., 1], 1.0, atol=1e-6)
  np.testing.assert_allclose(out[..., [0, 2]], -1.0, atol=1e-6)
  out = _load(_png_bytes(palette, transparency=1))  # green is the transparent index
  np.testing.assert_allclose(out, 1.0, atol=1e-6)


def test_cmyk_jpeg_becomes_rgb():
  cmyk = Image.new("CMYK", (24, 24), (0, 255, 255, 0))  # red in CMYK
  out = _load(_png_bytes(cmyk, "JPEG", quality=95))
  assert out[..., 0].mean() > 0.9 and out[..., 1:].mean() < -0.9


def test_exif_orientation_is_applied():
  image = Image.new("RGB", (40, 20), (0, 0, 0))
  image.paste((255, 255, 255), (20, 0, 40, 20))  # right half white
  exif = Image.Exif()
  exif[0x0112] = 6  # stored rotated: display needs a 90-degree clockwise turn
  data = _png_bytes(image, "JPEG", quality=95, exif=exif)
  decoded = images.decode_image(data)
  assert decoded.size == (20, 40)
  pixels = np.asarray(decoded, np.float32)
  assert pixels[:15].mean() < 30 and pixels[25:].mean() > 225  # left half is now on top


def test_large_jpeg_is_decoded_at_reduced_scale_but_big_enough():
  big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), np.uint8))
  data = _png_bytes(big, "JPEG", quality=80)
  decoded = images.decode_image(data, min_side=384)
  assert decoded.size[0] <= 2000 and min(decoded.size) >= 384
  assert _load(data, size=384).shape == (384, 384, 3)


def test_pixel_limit_is_raised_and_enforced(monkeypatch):
  assert Image.MAX_IMAGE_PIXELS == images.MAX_IMAGE_PIXELS > 89_478_485  # Pillow's default
  data = _png_bytes(Image.new("L", (200, 200)))
  monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 10_000)
  with pytest.raises(DataError, match="exceeds"):
    _load(data)
  monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 10**9)
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)  # Pillow's own guard trips first
  with pytest.raises(DataError, match="unreadable image"):
    _load(data)


def test_bad_files_raise_data_error_naming_dataset_file_and_record(tmp_path):
  missing = str(tmp_path / "nope.png")
  with pytest.raises(DataError) as info:
    _load(missing)
  assert info.value.dataset == "ds" and info.value.source == missing
  assert info.value.record_id == "r1" and "missing image file" in str(info.value)
  assert images.missing_image_problem(info.value) == "missing_image"

  garbage = tmp_path / "garbage.jpg"
  garbage.write_bytes(b"this is not an image at all" * 10)
  with pytest.raises(DataError) as info:
    _load(str(garbage))
  assert str(garbage) in str(info.value) and "r1" in str(info.value)
  assert images.missing_image_problem(info.value) == "bad_image"

  truncated = tmp_path / "truncated.png"
  full = _png_bytes(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3),
                                                                      np.uint8)))
  truncated.write_bytes(full[:len(full) // 2])
  with pytest.raises(DataError, match="unreadable image"):
    _load(str(truncated))

  with pytest.raises(DataError) as info:  # inline bytes: the record's file is named
    _load(full[:100])
  assert info.value.source == "f.json"


def _write_dicom(path, pixels: np.ndarray, photometric="MONOCHROME2"):
  pydicom = pytest.importorskip("pydicom")
  # pylint: disable=import-outside-toplevel
  from pydicom.dataset import FileMetaDataset
  from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
  meta = FileMetaDataset()
  meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
  meta.MediaStorageSOPInstanceUID = generate_uid()
  meta.TransferSyntaxUID = ExplicitVRLittleEndian
  ds = pydicom.Dataset()
  ds.file_meta = meta
  ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
  ds.Modality = "CR"
  ds.Rows, ds.Columns = pixels.shape
  ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
  ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
  ds.PixelData = pixels.astype(np.uint16).tobytes()
  ds.save_as(path, enforce_file_format=True)


def test_dicom_monochrome2_and_monochrome1(tmp_path):
  pixels = _gradient(np.uint16, 100, 4000, width=32, height=32)
  _write_dicom(tmp_path / "a.dcm", pixels)
  out = _load(str(tmp_path / "a.dcm"), size=32)
  assert out[:, 0, 0].mean() == pytest.approx(-1, abs=0.05)
  assert out[:, -1, 0].mean() == pytest.approx(1, abs=0.05)
  _write_dicom(tmp_path / "inverted", pixels, "MONOCHROME1")  # no suffix: found by magic
  inverted = _load(str(tmp_path / "inverted"), size=32)
  np.testing.assert_allclose(inverted, -out, atol=0.02)  # MONOCHROME1: high values are dark
  raw = (tmp_path / "a.dcm").read_bytes()
  np.testing.assert_allclose(_load(raw, size=32), out)


def test_dicom_without_pydicom_names_the_extra(tmp_path, monkeypatch):
  # A part-10 header is enough to be recognised as DICOM (no pydicom needed to write it).
  (tmp_path / "a.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\2\0\0\0" * 8)
  (tmp_path / "scan").write_bytes(b"\0" * 128 + b"DICM" + b"\2\0\0\0" * 8)
  monkeypatch.setitem(sys.modules, "pydicom", None)
  with pytest.raises(DataError, match="pip install pydicom"):
    _load(str(tmp_path / "scan"))
  with pytest.raises(DataError, match="pip install pydicom"):
    _load(str(tmp_path / "a.dcm"))


def test_random_crop_is_deterministic_mild_and_never_flips():
  image = Image.new("RGB", (64, 48), (255, 0, 0))
  image.paste((0, 0, 255), (32, 0, 64, 48))  # left red, right blue
  data = _png_bytes(image)
  a = _load(data, rng=np.random.default_rng([3, 7]), size=32)
  b = _load(data, rng=np.random.default_rng([3, 7]), size=32)
  np.testing.assert_array_equal(a, b)
  outputs = [_load(data, rng=np.random.default_rng([3, i]), size=32) for i in range(20)]
  assert any(not np.array_equal(outputs[0], o) for o in outputs[1:])
  for out in outputs:
    assert out[:, 0, 0].mean() > 0.9 and out[:, 0, 2].mean() < -0.9  # left edge stays red
    assert out[:, -1, 2].mean() > 0.9 and out[:, -1, 0].mean() < -0.9  # right edge blue
  rng = np.random.default_rng(0)
  for _ in range(200):
    left, top, right, bottom = images.random_crop_box(640, 480, rng)
    assert 0 <= left < right <= 640 and 0 <= top < bottom <= 480
    area = (right - left) * (bottom - top) / (640 * 480)
    assert 0.78 <= area <= 1.0
