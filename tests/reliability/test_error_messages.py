"""Item 11: each fault of the issue gives a short error naming the file, key or value; the
command line prints one `error:` line and keeps the traceback in WORKDIR/error.log."""

import errno
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from biomed_jax import checkpointing, config_checks
from biomed_jax.config_checks import ConfigError
from biomed_jax.convert import hf_t5
from biomed_jax.predict import PredictError, Predictor
from biomed_jax.training import init_from
from reliability_helpers import REPO, make_config

T5_CONFIG = {"model_type": "t5", "vocab_size": 128, "d_model": 16, "num_heads": 2, "d_kv": 8,
             "d_ff": 32, "num_layers": 1, "feed_forward_proj": "relu"}


def test_unknown_task_is_named_not_blamed_on_missing_data():
  config = make_config()
  config.data.mixture = (("vqa_rda", 1.0),)
  with pytest.raises(ConfigError, match=r"unknown task\(s\) \['vqa_rda'\]") as error:
    config_checks.check(config, "train")
  assert "prepare" not in str(error.value)


def test_init_from_garbage_names_the_folder(tmp_path):
  (tmp_path / "model_config.json").write_text("\x00garbage{")
  with pytest.raises(ValueError, match=rf"init_from={tmp_path}: cannot read"):
    init_from.load_into({}, {}, str(tmp_path), None)
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(ValueError, match=rf"init_from={empty} is neither a pretrained folder"):
    init_from.load_into({}, {}, str(empty), None)


def test_hf_config_without_d_model_names_the_key(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps(
      {k: v for k, v in T5_CONFIG.items() if k != "d_model"}))
  with pytest.raises(ValueError, match=r"config.json lacks \['d_model'\]"):
    hf_t5.model_config_from_hf(json.loads((tmp_path / "config.json").read_text()))


def test_truncated_safetensors_names_the_file(tmp_path):
  from safetensors.numpy import save_file
  path = str(tmp_path / "model.safetensors")
  save_file({"shared.weight": np.zeros((128, 16), np.float32)}, path)
  data = open(path, "rb").read()
  open(path, "wb").write(data[:len(data) // 2])
  with pytest.raises(ValueError, match=rf"{path} cannot be read as safetensors"):
    hf_t5.read_hf_weights(str(tmp_path))


def test_predict_on_a_truncated_checkpoint_is_one_line(run_copy):
  # Every file under d/ holds array data (parameters, optimizer state); how the arrays are
  # split between them depends on the model's size, so all of them are cut in half.
  data_files = glob.glob(os.path.join(run_copy, "checkpoints", "2", "state", "ocdbt.process_0",
                                      "d", "*"))
  assert data_files
  for data in data_files:
    with open(data, "r+b") as f:
      f.truncate(os.path.getsize(data) // 2)
  with pytest.raises(PredictError, match=r"checkpoints/2 (cannot be read|is corrupt)") as error:
    Predictor.load(run_copy)
  assert "\n" not in str(error.value) and len(str(error.value)) < 800


def test_a_full_disk_is_named_before_writing(tmp_path, monkeypatch):
  monkeypatch.setattr(checkpointing.shutil, "disk_usage",
                      lambda path: type("Usage", (), {"free": 1000})())
  ckpt = checkpointing.Checkpointer(str(tmp_path), every_steps=1, keep=1)
  with pytest.raises(OSError, match=r"not enough disk space .* 0.0 MiB free") as error:
    ckpt.save(1, {"w": np.zeros(10_000, np.float32)}, {"step": 1}, force=True)
  ckpt.close()
  assert error.value.errno == errno.ENOSPC
  assert not glob.glob(str(tmp_path / "checkpoints" / "*"))


def _main(workdir, *flags):
  return subprocess.run(
      [sys.executable, "-m", "biomed_jax.main", "--config=configs/demo.py",
       f"--workdir={workdir}", "--mode=train", "--config.optimizer.learning_rate=-0.001",
       *flags], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_the_command_line_prints_one_error_line_and_logs_the_traceback(tmp_path):
  quiet = _main(tmp_path)
  assert quiet.returncode == 1
  assert "Traceback" not in quiet.stderr
  tail = quiet.stderr.strip().splitlines()[-3:]
  assert tail[0] == "error: the config cannot run:"
  assert tail[1].strip() == "config.optimizer.learning_rate=-0.001: must be a finite number > 0"
  assert str(tmp_path / "error.log") in tail[2]
  assert "Traceback" in (tmp_path / "error.log").read_text()
  verbose = _main(tmp_path, "--verbose")
  assert verbose.returncode == 1 and "Traceback" in verbose.stderr
