"""Item 2: a checkpoint whose bytes changed on disk is refused by resume and by predict,
naming the checkpoint; an intact one restores (the check itself does not misfire)."""

import glob
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from biomed_jax import integrity, train
from biomed_jax.predict import PredictError, Predictor
from reliability_helpers import REPO, make_config


def _flip_bytes(workdir: str, step: int = 2) -> int:
  """XORs 64 bytes every 256 KiB of every large OCDBT data file of the checkpoint (the files
  holding the arrays: parameters, read by predict, and optimizer state); returns how many
  files were changed."""
  changed = 0
  for path in glob.glob(os.path.join(workdir, "checkpoints", str(step), "state",
                                     "ocdbt.process_0", "d", "*")):
    data = bytearray(open(path, "rb").read())
    if len(data) < 2**20:
      continue
    for offset in range(len(data) // 64, len(data) - 64, 2**18):
      for i in range(offset, offset + 64):
        data[i] ^= 0x5A
    open(path, "wb").write(data)
    changed += 1
  return changed


def test_flipped_bytes_are_refused_by_resume_and_predict(run_copy):
  Predictor.load(run_copy)  # intact: loads
  assert _flip_bytes(run_copy) >= 1
  where = os.path.join(run_copy, "checkpoints", "2")
  with pytest.raises(integrity.CheckpointCorrupt, match=rf"{where}(:| is corrupt)"):
    train.run(make_config(**{"train.num_steps": 4}), run_copy, "train")
  with pytest.raises(PredictError, match=rf"{where}(:| is corrupt| cannot be read)"):
    Predictor.load(run_copy)
  cli = subprocess.run([sys.executable, "-m", "biomed_jax.predict", f"--checkpoint={run_copy}",
                        "--prompt=What modality is this image?"], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
  assert cli.returncode == 1
  assert "Traceback" not in cli.stderr
  assert re.match(rf"error: checkpoint {where}(:| is corrupt| cannot be read)",
                  cli.stderr.strip().splitlines()[-1])


def test_checksums_do_not_depend_on_the_sharding():
  x = np.arange(8 * 6, dtype=np.float32).reshape(8, 6)
  mesh = jax.make_mesh((8,), ("d",))
  sharded = jax.device_put(x, jax.NamedSharding(mesh, jax.sharding.PartitionSpec("d")))
  assert integrity.checksums({"x": sharded}) == integrity.checksums({"x": x})
  y = x.copy()
  y[3, 2] = np.nextafter(y[3, 2], np.inf)  # one bit of one element
  assert integrity.checksums({"x": y}) != integrity.checksums({"x": x})
