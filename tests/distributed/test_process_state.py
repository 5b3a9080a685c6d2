"""The per-process checkpoint item: each process's own file, and a different process count
refused naming both counts (1 -> 2 and 2 -> 1)."""

from unittest import mock

from etils import epath
import jax
import pytest

from biomed_jax import process_state


def _as_process(index, count):
  return mock.patch.multiple(jax, process_index=lambda: index, process_count=lambda: count)


def _save(directory, index, count, value):
  with _as_process(index, count):
    process_state.PerProcessJsonHandler().save(directory, process_state.PerProcessJsonSave(value))


def _restore(directory, index, count):
  with _as_process(index, count):
    return process_state.PerProcessJsonHandler().restore(directory)


def test_each_process_restores_its_own_state(tmp_path):
  directory = epath.Path(tmp_path)
  states = [{"grain": {"next_index": 4}, "counts": {"sample_vqa": {"missing_image": n}}}
            for n in (1, 3)]
  for index, state in enumerate(states):
    _save(directory, index, 2, state)
  assert sorted(p.name for p in directory.iterdir()) == ["process_0-of-2.json",
                                                         "process_1-of-2.json"]
  assert [_restore(directory, index, 2) for index in range(2)] == states


@pytest.mark.parametrize("saved,restoring", [(2, 1), (1, 2)])
def test_another_process_count_is_refused(tmp_path, saved, restoring):
  directory = epath.Path(tmp_path) / "data"
  directory.mkdir()
  for index in range(saved):
    _save(directory, index, saved, {"next_index": index})
  with pytest.raises(process_state.ProcessCountMismatch,
                     match=f"written by {saved} process.*this run has {restoring}"):
    _restore(directory, 0, restoring)


def test_a_missing_file_is_named(tmp_path):
  directory = epath.Path(tmp_path)
  _save(directory, 0, 2, {})
  with pytest.raises(FileNotFoundError, match="process_1-of-2.json is missing"):
    _restore(directory, 1, 2)
