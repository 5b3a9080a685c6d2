r"""Writes datasets from their publisher's layout to TFDS ArrayRecord files.

  python -m biomed_jax.data.prepare --dataset=vqa_rad --manual_dir=DIR --data_dir=OUT
  python -m biomed_jax.data.prepare --dataset=all --manual_dir=DATA --data_dir=OUT

One dataset: DIR is its folder (or a data root holding it under its folder name, e.g.
DATA/vqa_rad). `all`: every registry dataset whose folder exists under DATA (folder names are
in each dataset's layout help, first line); absent ones are skipped with a line each, and the
run fails if none is found. Output: OUT/<dataset>/1.0.0/<dataset>-<split>.array_record-*,
read back with `biomed_jax.data.prepared.PreparedSource`.

Bad records: published files have some (an empty answer in SLAKE's train.json, ...). By
default (--on_error=skip) each is left out, counted by kind and listed by file and id in
OUT/<dataset>/1.0.0/prepare_report.json, which also holds the sizes and sha256 of the input
files; the terminal gets the counts. --on_error=raise stops at the first one, for strict runs.
A dataset already prepared is reused only if its report shows the same input files (and, under
raise, no skipped records); otherwise the run stops and asks for --overwrite.
"""

import collections
from collections.abc import Sequence
import functools
import os
import shutil
import sys

from absl import app
from absl import flags
import tensorflow_datasets as tfds

from biomed_jax.data import prepare_report
from biomed_jax.data import readers
from biomed_jax.data import tfds_builders
from biomed_jax.data.readers import common
from biomed_jax.data.records import DataError

_DATASET = flags.DEFINE_string("dataset", None, "Registry name, comma-separated names, or 'all'.")
_MANUAL_DIR = flags.DEFINE_string(
    "manual_dir", None, "Dataset folder, or a data root with one folder per dataset.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Where to write the prepared datasets.")
_ON_ERROR = flags.DEFINE_enum(
    "on_error", "skip", ["raise", "skip"],
    "Bad records: skip, count and list them in prepare_report.json, or fail on the first.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Rebuild datasets already prepared.")


def dataset_root(dataset: str, manual_dir: str | None) -> str:
  """The folder to read `dataset` from, given --manual_dir (see the module docstring)."""
  spec = readers.get(dataset)
  if manual_dir is None:
    if spec.name in readers.SAMPLE_TASKS:
      return readers.sample_default_root()
    raise app.UsageError(f"--manual_dir is required for {dataset}.\n{spec.layout_help}")
  nested = os.path.join(manual_dir, spec.folder)
  return nested if os.path.isdir(nested) else manual_dir


def check_present(dataset: str, root: str) -> None:
  """Raises MissingData if a file of any split is absent, before TFDS writes anything."""
  spec = readers.get(dataset)
  for split in spec.splits:
    next(spec.read(root, split, on_error="skip"), None)


def prepare(dataset: str, root: str, data_dir: str, *, on_error: str = "skip",
            counter: collections.Counter | None = None,
            overwrite: bool = False) -> dict[str, int]:
  """Builds `dataset` from `root` into `data_dir`; returns the number of records per split.

  Writes prepare_report.json next to the data (see the module docstring); `counter` gets the
  skipped records by kind. An existing output is reused only when made from the same files.
  """
  check_present(dataset, root)
  target = tfds_builders.prepared_dir(data_dir, dataset)
  if overwrite and os.path.isdir(target):
    shutil.rmtree(target)
  inputs = prepare_report.fingerprint(dataset, root)
  if os.path.isdir(target):
    report = prepare_report.check_reusable(dataset, target, inputs, on_error)
    if counter is not None:
      for entry in report["splits"].values():
        counter.update(entry.get("skipped", {}))
    return {split: entry["records"] for split, entry in report["splits"].items()
            if entry["records"]}
  skipped: dict[str, list] = {}
  builder = tfds_builders.builder(dataset, data_dir, on_error=on_error, counter=counter,
                                  skipped=skipped)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=root))
  sizes = {split: info.num_examples for split, info in builder.info.splits.items()}
  prepare_report.write(target, prepare_report.build_report(dataset, root, on_error, sizes,
                                                           skipped, inputs))
  return sizes


_LISTED_SKIPS = 5  # on the terminal; the report lists all


def _action(dataset: str, data_dir: str, overwrite: bool) -> str:
  exists = os.path.isdir(tfds_builders.prepared_dir(data_dir, dataset))
  return "checking the prepared copy against" if exists and not overwrite else "preparing from"


def _summary(dataset: str, sizes: dict[str, int], counter: collections.Counter,
             data_dir: str) -> str:
  target = tfds_builders.prepared_dir(data_dir, dataset)
  parts = ", ".join(f"{split} {count:,}" for split, count in sizes.items())
  lines = [f"{dataset}: {parts} records -> {target}"]
  if counter:
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(counter.items()))
    lines.append(f"  skipped {sum(counter.values()):,} records ({kinds}), listed in "
                 f"{os.path.join(target, prepare_report.REPORT_NAME)}")
    report = prepare_report.load(target) or {"skipped": []}
    for item in report["skipped"][:_LISTED_SKIPS]:
      lines.append(f"    {item['split']}: {item['file']} record {item['id']!r}: "
                   f"{item['problem']} ({item['kind']})")
  return "\n".join(lines)


def prepare_all(manual_dir: str, data_dir: str, *, on_error: str = "skip",
                overwrite: bool = False, log=None) -> dict[str, dict[str, int]]:
  """Prepares every registry dataset whose folder exists under `manual_dir`."""
  log = log or functools.partial(print, flush=True)
  folder_users = collections.Counter(spec.folder for spec in readers.READERS.values())
  done: dict[str, dict[str, int]] = {}
  names = sorted(readers.READERS)
  for number, name in enumerate(names, start=1):
    spec = readers.READERS[name]
    root = os.path.join(manual_dir, spec.folder)
    prefix = f"[{number}/{len(names)}] {name}"
    if not os.path.isdir(root):
      log(f"{prefix}: skipped, no folder {root}")
      continue
    try:
      check_present(name, root)
    except common.MissingData as e:
      if folder_users[spec.folder] == 1:
        raise  # its own folder is there but incomplete: a layout mistake, not an absence
      log(f"{prefix}: skipped, no {e.source} in the shared folder {root}")
      continue
    log(f"{prefix}: {_action(name, data_dir, overwrite)} {root}")
    counter = collections.Counter()
    done[name] = prepare(name, root, data_dir, on_error=on_error, counter=counter,
                         overwrite=overwrite)
    log(f"[{number}/{len(names)}] {_summary(name, done[name], counter, data_dir)}")
  if not done:
    raise FileNotFoundError(
        f"no dataset found under {manual_dir}; expected folders like "
        f"{sorted(set(folder_users))} (see each dataset's layout help)")
  reports = {name: prepare_report.load(tfds_builders.prepared_dir(data_dir, name))
             for name in done}
  log(prepare_report.table({name: r for name, r in reports.items() if r}))
  return done


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  if not _DATASET.value or not _DATA_DIR.value:
    raise app.UsageError("--dataset and --data_dir are required")
  try:
    if _DATASET.value == "all":
      if not _MANUAL_DIR.value:
        raise app.UsageError("--dataset=all needs --manual_dir (a data root)")
      prepare_all(_MANUAL_DIR.value, _DATA_DIR.value, on_error=_ON_ERROR.value,
                  overwrite=_OVERWRITE.value)
      return
    for name in _DATASET.value.split(","):
      root = dataset_root(name, _MANUAL_DIR.value)
      print(f"{name}: {_action(name, _DATA_DIR.value, _OVERWRITE.value)} {root}", flush=True)
      counter = collections.Counter()
      sizes = prepare(name, root, _DATA_DIR.value, on_error=_ON_ERROR.value, counter=counter,
                      overwrite=_OVERWRITE.value)
      print(_summary(name, sizes, counter, _DATA_DIR.value), flush=True)
  except (DataError, FileNotFoundError, KeyError) as e:
    sys.exit(f"prepare failed: {e}")


if __name__ == "__main__":
  app.run(main)
