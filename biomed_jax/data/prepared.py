"""Random access to prepared (ArrayRecord) datasets, returning reader Records.

    source = PreparedSource("vqa_rad", "/data/prepared", "train")
    len(source); record = source[0]          # Record with images as encoded bytes

A grain RandomAccessDataSource (`__len__`, `__getitem__`) that pickles to its three arguments,
so Grain worker processes reopen the files themselves. Record i is the reader's i-th record of
the split, with each image path replaced by that file's bytes.
"""

import os

import tensorflow_datasets as tfds

from biomed_jax.data import tfds_builders
from biomed_jax.data.records import DataError, Record


class PreparedSource:
  """Records of one split of a dataset written by `python -m biomed_jax.data.prepare`."""

  def __init__(self, dataset: str, data_dir: str, split: str):
    self.dataset, self.data_dir, self.split = dataset, data_dir, split
    self._path = tfds_builders.prepared_dir(data_dir, dataset)
    if not os.path.isdir(self._path):
      raise DataError(dataset, self._path, None,
                      "not prepared; run: python -m biomed_jax.data.prepare "
                      f"--dataset={dataset} --manual_dir=<its folder> --data_dir={data_dir}")
    self._source = None
    self._length = len(self._open())

  def _open(self):
    if self._source is None:
      builder = tfds.builder_from_directory(self._path)
      if self.split not in builder.info.splits:
        raise ValueError(f"{self.dataset} was prepared with splits "
                         f"{sorted(builder.info.splits)}, not {self.split!r}")
      self._source = builder.as_data_source(self.split)
    return self._source

  def __len__(self) -> int:
    return self._length

  def __getitem__(self, index: int) -> Record:
    index = int(index)
    if index < 0:
      index += self._length
    if not 0 <= index < self._length:
      raise IndexError(f"{self.dataset}/{self.split}: index {index} out of range "
                       f"[0, {self._length})")
    return tfds_builders.from_example(self.dataset, self.split, self._open()[index])

  def __getitems__(self, indices) -> list[Record]:
    return [self[i] for i in indices]

  def __getstate__(self):
    state = self.__dict__.copy()
    state["_source"] = None  # open files stay in the process that opened them
    return state

  def __repr__(self) -> str:
    return (f"PreparedSource(dataset={self.dataset!r}, data_dir={self.data_dir!r}, "
            f"split={self.split!r}, len={self._length})")
