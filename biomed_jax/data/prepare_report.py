"""What `prepare` writes next to a prepared dataset: its inputs' fingerprint and skipped records.

<data_dir>/<dataset>/<version>/prepare_report.json:
  dataset, root (the folder read), on_error
  splits: {split: {records, skipped: {kind: n},
                   sources: {path relative to root: {size, sha256}},   annotation files
                   images: {count, bytes, sha256}}}                    every image file read
  skipped: [{split, kind, file, id, problem}]   every record left out, in reader order

The fingerprint lets a later `prepare` without --overwrite reuse the output only when it was
made from the same files (a re-downloaded or edited copy is refused), and the list lets a
user see exactly which published records were left out and why.
"""

import glob
import hashlib
import json
import os
from typing import Any

from biomed_jax.data import readers
from biomed_jax.data.readers import common
from biomed_jax.data.records import DataError

REPORT_NAME = "prepare_report.json"
_CHUNK = 1 << 20


def file_digest(path: str) -> tuple[int, str]:
  """(size in bytes, sha256 hex) of a file, read in chunks."""
  digest = hashlib.sha256()
  size = 0
  with open(path, "rb") as f:
    while chunk := f.read(_CHUNK):
      digest.update(chunk)
      size += len(chunk)
  return size, digest.hexdigest()


def _relative(path: str, root: str) -> str:
  return os.path.relpath(os.path.abspath(path), os.path.abspath(root))


def fingerprint(dataset: str, root: str) -> dict[str, dict[str, Any]]:
  """Per split: the sizes and hashes of the files the reader takes `dataset` from.

  Sources are the files records (good or bad) come from and the spec's `extra_sources`;
  images are the files records name,
  folded into one digest in reader order. Image bytes held inside a source (MedMNIST) are
  covered by that source's hash.
  """
  spec = readers.get(dataset)
  result = {}
  for split in spec.splits:
    problems: list[common.BadRecord] = []
    sources: set[str] = set()
    images = hashlib.sha256()
    count = total = 0
    for record in spec.read(root, split, on_error="skip", skipped=problems):
      sources.add(record.source)
      for image in record.images:
        if isinstance(image, str):
          size, sha = file_digest(image)
          images.update(f"{_relative(image, root)}\t{size}\t{sha}\n".encode("utf-8"))
          count, total = count + 1, total + size
    sources.update(p.source for p in problems if os.path.isfile(p.source))
    for pattern in spec.extra_sources:  # files that shape the records (split lists, topics)
      sources.update(glob.glob(os.path.join(glob.escape(root), pattern)))
    entry = {"sources": {}, "images": {"count": count, "bytes": total,
                                       "sha256": images.hexdigest()}}
    for source in sorted(sources):
      size, sha = file_digest(source)
      entry["sources"][_relative(source, root)] = {"size": size, "sha256": sha}
    result[split] = entry
  return result


def build_report(dataset: str, root: str, on_error: str, sizes: dict[str, int],
                 skipped: dict[str, list[common.BadRecord]],
                 inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
  """The report of one build (see the module docstring)."""
  splits = {}
  for split, entry in inputs.items():
    kinds: dict[str, int] = {}
    for problem in skipped.get(split, []):
      kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
    splits[split] = {"records": sizes.get(split, 0), "skipped": kinds, **entry}
  listed = [{"split": split, "kind": p.kind, "file": p.source, "id": p.record_id,
             "problem": p.problem}
            for split in inputs for p in skipped.get(split, [])]
  return {"dataset": dataset, "root": os.path.abspath(root), "on_error": on_error,
          "splits": splits, "skipped": listed}


def write(target: str, report: dict[str, Any]) -> str:
  path = os.path.join(target, REPORT_NAME)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump(report, f, indent=1, ensure_ascii=False)
  os.replace(path + ".tmp", path)
  return path


def load(target: str) -> dict[str, Any] | None:
  path = os.path.join(target, REPORT_NAME)
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
  """Human-readable differences between two fingerprints."""
  changes = []
  for split in sorted(set(old) | set(new)):
    if split not in old or split not in new:
      changes.append(f"split {split} {'added' if split in new else 'gone'}")
      continue
    before, after = old[split].get("sources", {}), new[split]["sources"]
    for name in sorted(set(before) | set(after)):
      if name not in after:
        changes.append(f"{name} no longer read")
      elif name not in before:
        changes.append(f"{name} is new")
      elif before[name] != after[name]:
        changes.append(f"{name} changed (size {before[name]['size']:,} -> "
                       f"{after[name]['size']:,} bytes)")
    was, now = old[split].get("images", {}), new[split]["images"]
    if was != now:
      changes.append(f"{split} images changed ({was.get('count')} files, {was.get('bytes')} "
                     f"bytes -> {now['count']} files, {now['bytes']} bytes)")
  return changes


def check_reusable(dataset: str, target: str, inputs: dict[str, dict[str, Any]],
                   on_error: str) -> dict[str, Any]:
  """The stored report if the output in `target` was made from `inputs`; else DataError."""
  rebuild = "; rerun with --overwrite to rebuild it"
  report = load(target)
  if report is None:
    raise DataError(dataset, target, None,
                    f"already prepared, with no record of its input files{rebuild}")
  old = {split: {k: v for k, v in entry.items() if k in ("sources", "images")}
         for split, entry in report.get("splits", {}).items()}
  changes = _changes(old, inputs)
  if changes:
    raise DataError(dataset, target, None,
                    f"already prepared from other input files: {'; '.join(changes[:5])}"
                    f"{rebuild}")
  if on_error == "raise" and report.get("skipped"):
    raise DataError(dataset, target, None,
                    f"prepared with {len(report['skipped'])} records skipped, but "
                    f"--on_error=raise asks for none (listed in {REPORT_NAME}){rebuild}")
  return report


def table(reports: dict[str, dict[str, Any]]) -> str:
  """A markdown table: dataset, split, records, skipped by reason."""
  lines = ["| dataset | split | records | skipped |", "|---|---|---:|---|"]
  for name, report in reports.items():
    for split, entry in report["splits"].items():
      kinds = entry.get("skipped") or {}
      skipped = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) or "-"
      lines.append(f"| {name} | {split} | {entry['records']:,} | {skipped} |")
  return "\n".join(lines)
