"""prepare decodes every image in full: a JPEG cut short inside its image data is a bad image.

PIL's `verify()` reads only the JPEG markers, so such a file passed `prepare` and failed in
training instead (issue 14, item 7)."""

import collections
import io
import json
import os

import numpy as np
from PIL import Image
import pytest

from biomed_jax.data import prepare
from biomed_jax.data import prepared
from biomed_jax.data import readers


def _noise_jpeg(seed: int) -> bytes:
  pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
  return buffer.getvalue()


def _vqa_rad(root: str, truncated: bytes) -> None:
  images = os.path.join(root, "VQA_RAD Image Folder")
  os.makedirs(images)
  with open(os.path.join(images, "synpic1.jpg"), "wb") as f:
    f.write(_noise_jpeg(0))
  with open(os.path.join(images, "synpic2.jpg"), "wb") as f:
    f.write(truncated)
  items = [{"qid": 1, "image_name": "synpic1.jpg", "question": "Is this a CT?", "answer": "no",
            "answer_type": "CLOSED", "phrase_type": "freeform"},
           {"qid": 2, "image_name": "synpic2.jpg", "question": "Is the liver normal?",
            "answer": "yes", "answer_type": "CLOSED", "phrase_type": "freeform"},
           {"qid": 3, "image_name": "synpic1.jpg", "question": "Where is the mass?",
            "answer": "liver", "answer_type": "OPEN", "phrase_type": "test_freeform"}]
  with open(os.path.join(root, "VQA_RAD Dataset Public.json"), "w") as f:
    json.dump(items, f)


def test_jpeg_truncated_inside_its_image_data_is_a_bad_image(tmp_path):
  whole = _noise_jpeg(1)
  truncated = whole[:len(whole) // 2]  # header intact, entropy-coded data cut in the middle
  with Image.open(io.BytesIO(truncated)) as image:
    image.verify()  # the check prepare used to make: it passes
  root = str(tmp_path / "vqa_rad")
  _vqa_rad(root, truncated)

  with pytest.raises(readers.BadRecord, match="synpic2.jpg") as raised:
    prepare.prepare("vqa_rad", root, str(tmp_path / "strict"), on_error="raise")
  assert (raised.value.kind, raised.value.record_id) == ("bad_image", "2")

  counter = collections.Counter()
  sizes = prepare.prepare("vqa_rad", root, str(tmp_path / "out"), counter=counter)
  assert sizes == {"train": 1, "test": 1}  # 2 train questions, one with the cut image
  assert counter == {"bad_image": 1}
  [kept] = prepared.PreparedSource("vqa_rad", str(tmp_path / "out"), "train")
  assert kept.id == "1"
