"""Reads PyTorch checkpoint files without PyTorch and without running pickled code.

A torch file (fairseq `.pt`, HF `pytorch_model.bin`) is a zip archive: `*/data.pkl`, a pickle of
the object tree, and `*/data/<key>`, one raw file per tensor storage. Unpickling normally
imports and calls whatever the pickle names; here `find_class` resolves only an allow-list:
the tensor rebuilders (replaced by numpy views of the storage bytes), OrderedDict, numpy
scalars and dtypes, `_codecs.encode` (how protocol 2 stores bytes), and inert records for
`argparse.Namespace` and fairseq / omegaconf classes (their fields are kept, no code of
theirs is imported). Any other global, e.g. `os.system`, refuses the file before anything
runs. Tensors are read lazily, so the optimizer state of a large checkpoint is never loaded.
"""

import codecs
import collections
import os
import pickle
import zipfile

import ml_dtypes
import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_INERT_MODULE_PREFIXES = ("fairseq.", "omegaconf.")


class CheckpointError(ValueError):
  """The file is not a checkpoint this reader can use; the message names it and why."""


class Record:
  """A stand-in for an allowed class (argparse.Namespace, fairseq/omegaconf objects): it only
  stores the fields the pickle gives it."""

  def __init__(self, *args, **kwargs):
    self.args_, self.kwargs_ = args, kwargs

  def __setstate__(self, state):
    if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
      state = {**(state[0] or {}), **(state[1] or {})}
    if isinstance(state, dict):
      self.__dict__.update(state)
    else:
      self.state_ = state

  def get(self, key, default=None):
    return self.__dict__.get(key, default)


def _namespace_class(module: str, name: str) -> type:
  return type(name, (Record,), {"__module__": f"inert.{module}"})


class _StorageType:
  def __init__(self, name: str):
    self.dtype = np.dtype(_STORAGE_DTYPES[name])


class LazyTensor:
  """A tensor of a torch file, read from the archive on `numpy()`."""

  def __init__(self, archive, member, dtype, offset, shape, stride):
    self._archive, self._member, self.dtype = archive, member, np.dtype(dtype)
    self._offset, self.shape, self._stride = offset, tuple(shape), tuple(stride)

  def numpy(self) -> np.ndarray:
    storage = np.frombuffer(self._archive.read(self._member), self.dtype)
    if not self.shape:
      return storage[self._offset].copy()
    itemsize = self.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[self._offset:], self.shape, tuple(s * itemsize for s in self._stride))
    return np.array(view)


def _rebuild_tensor(storage, offset, shape, stride, *unused):
  archive, member, dtype = storage
  return LazyTensor(archive, member, dtype, offset, shape, stride)


def _rebuild_parameter(data, *unused):
  return data


def _numpy_scalar(dtype, data=None):
  return np.frombuffer(data, dtype)[0] if data is not None else dtype.type()


class _Unpickler(pickle.Unpickler):

  def __init__(self, file, archive, prefix, path):
    super().__init__(file)
    self._archive, self._prefix, self._path = archive, prefix, path

  def find_class(self, module, name):
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
      return _rebuild_tensor
    if module == "torch._utils" and name in ("_rebuild_parameter",
                                             "_rebuild_parameter_with_state"):
      return _rebuild_parameter
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name)
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    if (module, name) == ("_codecs", "encode"):
      return codecs.encode
    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "scalar":
      return _numpy_scalar
    if (module, name) == ("numpy", "dtype"):
      return np.dtype
    if (module, name) == ("argparse", "Namespace") or module.startswith(
        _INERT_MODULE_PREFIXES):
      return _namespace_class(module, name)
    raise CheckpointError(f"{self._path}: the pickle names {module}.{name}, which a checkpoint "
                          "has no reason to contain; refusing it (nothing was executed)")

  def persistent_load(self, pid):
    kind, storage_type, key, _, _ = pid
    if kind != "storage" or not isinstance(storage_type, _StorageType):
      raise CheckpointError(f"{self._path}: unsupported storage record {pid!r}")
    return self._archive, f"{self._prefix}/data/{key}", storage_type.dtype


def load(path: str):
  """The object tree of a torch file, tensors as LazyTensor. Raises CheckpointError naming
  the file when it is missing, truncated, not a torch zip archive, or names a global
  outside the allow-list."""
  if not os.path.isfile(path):
    raise CheckpointError(f"{path}: no such file")
  if not zipfile.is_zipfile(path):
    raise CheckpointError(
        f"{path}: not a PyTorch zip checkpoint (truncated, or saved by torch < 1.6 with "
        "_use_new_zipfile_serialization=False: re-save it with a current torch)")
  try:
    archive = zipfile.ZipFile(path)
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
    if len(pickles) != 1:
      raise CheckpointError(f"{path}: a zip archive, but not a torch checkpoint "
                            f"(no single */data.pkl among {archive.namelist()[:5]})")
    prefix = pickles[0][:-len("/data.pkl")]
    with archive.open(pickles[0]) as f:
      return _Unpickler(f, archive, prefix, path).load()
  except CheckpointError:
    raise
  except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, KeyError, ValueError,
          TypeError, OSError) as e:
    raise CheckpointError(f"{path}: unreadable torch checkpoint ({type(e).__name__}: "
                          f"{e})") from e


def to_numpy(state_dict) -> dict[str, np.ndarray]:
  """{name: array} of a state dict's tensors (other entries, e.g. `version`, included)."""
  return {name: value.numpy() if isinstance(value, LazyTensor) else np.asarray(value)
          for name, value in state_dict.items()}
