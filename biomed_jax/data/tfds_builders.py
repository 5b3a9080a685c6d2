"""TFDS builders, one per registry dataset, writing ArrayRecord files of reader Records.

The classes are generated from `readers.READERS` (`builder_class(name)`), so every dataset the
readers know can be prepared and no builder repeats another. An example holds a Record:

  id, source   text
  images       the encoded image files (JPEG/PNG bytes, as on disk; MedMNIST: PNG)
  fields       the Record's fields as a JSON object

Examples keep the reader's order (shuffling is disabled), so prepared index i is the reader's
i-th record. Building needs no TensorFlow: images are bytes, never decoded arrays.
"""

from collections.abc import MutableMapping
import functools
import itertools
import json
import logging
import os
import types

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from biomed_jax.data import images
from biomed_jax.data import readers
from biomed_jax.data.readers import common
from biomed_jax.data.records import DataError, Record

PREPARED_VERSION = "1.0.0"


def record_features() -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      "id": tfds.features.Text(),
      "source": tfds.features.Text(),
      "images": tfds.features.Sequence(tfds.features.Tensor(shape=(), dtype=np.object_)),
      "fields": tfds.features.Text(),
  })


def image_bytes(record: Record, image: str | bytes) -> bytes:
  """The encoded bytes of one image of `record`; BadRecord(bad_image) if they do not decode.

  The pixels are decoded in full, as training will: PIL's `verify` only checks headers and
  chunk CRCs, so a JPEG truncated inside its image data would pass it and fail later."""
  data = image
  if isinstance(image, str):
    try:
      with open(image, "rb") as f:
        data = f.read()
    except OSError as e:
      raise common.BadRecord(record.dataset, record.source, record.id,
                             f"cannot read image {image}: {e}", common.MISSING_IMAGE) from None
  try:
    images.decode_image(data)  # the decoder training uses (JPEG, PNG, DICOM), in full
  except ImportError as e:  # pydicom absent: a setup problem, not a bad record
    raise DataError(record.dataset, record.source, record.id, str(e)) from None
  except Exception as e:  # Pillow and pydicom raise many types for a corrupt file
    name = image if isinstance(image, str) else "embedded image"
    raise common.BadRecord(record.dataset, record.source, record.id,
                           f"image does not decode ({name}): {e}", common.BAD_IMAGE) from None
  return data


def to_example(record: Record) -> dict:
  return {
      "id": record.id,
      "source": record.source,
      "images": [image_bytes(record, image) for image in record.images],
      "fields": json.dumps(record.fields, ensure_ascii=False, sort_keys=True),
  }


def from_example(dataset: str, split: str, example: dict) -> Record:
  """The Record an ArrayRecord example holds (images as bytes)."""
  def as_text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
  return Record(dataset=dataset, split=split, id=as_text(example["id"]),
                source=as_text(example["source"]),
                images=tuple(bytes(image) for image in example["images"]),
                fields=json.loads(as_text(example["fields"])))


class RecordsBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Builds one registry dataset from its manual folder; subclasses set `name`."""

  VERSION = tfds.core.Version(PREPARED_VERSION)
  RELEASE_NOTES = {PREPARED_VERSION: "Reader Records, images as encoded bytes, reader order."}

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # TFDS's own lookup of the defining file needs importlib_resources for installed packages.
    return epath.Path(__file__)

  def __init__(self, *, on_error: str = "raise",
               counter: MutableMapping[str, int] | None = None,
               skipped: MutableMapping[str, list] | None = None, **kwargs):
    """`skipped[split]`, when given, receives every BadRecord dropped under on_error="skip"."""
    self._on_error = on_error
    self._counter = counter
    self._skipped = skipped
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    spec = readers.get(self.name)
    return tfds.core.DatasetInfo(
        builder=self,
        description=f"{spec.layout_help.splitlines()[0]} Family: {spec.family}.",
        features=record_features(),
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    generators = {}
    for split in readers.get(self.name).splits:
      examples = self._generate_examples(root, split)
      first = next(examples, None)
      if first is None:  # TFDS cannot write an empty split; it is left out
        logging.warning("%s: split %s has no records and is not written", self.name, split)
        continue
      generators[split] = itertools.chain([first], examples)
    if not generators:
      raise DataError(self.name, root, None, "no records in any split")
    return generators

  def _generate_examples(self, root: str, split: str):
    skipped = None if self._skipped is None else self._skipped.setdefault(split, [])
    records = readers.read(self.name, root, split, on_error=self._on_error,
                           counter=self._counter, skipped=skipped)
    for index, record in enumerate(records):
      try:
        example = to_example(record)
      except common.BadRecord as problem:
        if self._on_error == "raise":
          raise
        if self._counter is not None:
          self._counter[problem.kind] = self._counter.get(problem.kind, 0) + 1
        if skipped is not None:
          skipped.append(problem)
        continue
      yield index, example


@functools.cache
def builder_class(dataset: str) -> type[RecordsBuilder]:
  """The builder class for a registry dataset (one class per name, made once)."""
  spec = readers.get(dataset)
  def body(namespace):
    namespace.update(name=dataset, MANUAL_DOWNLOAD_INSTRUCTIONS=spec.layout_help,
                     __module__=__name__)
  # Not registered with TFDS: registry names like "pubmedqa" must not clash with its catalog.
  return types.new_class(f"{dataset}_builder", (RecordsBuilder,),
                         {"skip_registration": True}, body)


def builder(dataset: str, data_dir: str, **kwargs) -> RecordsBuilder:
  return builder_class(dataset)(data_dir=data_dir, file_format="array_record", **kwargs)


def prepared_dir(data_dir: str, dataset: str) -> str:
  """Where `prepare` writes `dataset` under `data_dir` (TFDS layout: <name>/<version>)."""
  return os.path.join(data_dir, dataset, PREPARED_VERSION)
