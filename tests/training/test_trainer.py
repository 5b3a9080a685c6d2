"""The trainer end to end on the shipped sample mixture: exact resume after SIGKILL, restore
onto another mesh, non-finite guards, incompatible-config refusal."""

import json
import os
import signal
import subprocess
import sys
import time

import flax.linen as nn
import jax
import numpy as np
import pytest

from biomed_jax import checkpointing, config_lib, run_report, sharding, train
from biomed_jax.data import pipeline
from biomed_jax.model import EncoderDecoder
from biomed_jax.training import optimizer, state as state_lib
from configs import demo

# A demo run small enough for a test: tiny model, 64 px images, batch 8.
OVERRIDES = {"model.image_size": 64, "data.batch_size": 8, "data.max_source_len": 64,
             "data.max_target_len": 16, "eval.every_steps": 1000, "train.log_every": 1,
             "optimizer.warmup_steps": 2}


def _config(**extra):
  config = demo.get_config()
  for key, value in {**OVERRIDES, **extra}.items():
    section, name = key.split(".")
    config[section][name] = value
  return config


def _command(workdir, num_steps):
  flags = [f"--config.{k}={v}" for k, v in OVERRIDES.items()]
  return [sys.executable, "-m", "biomed_jax.main", "--config=configs/demo.py",
          f"--workdir={workdir}", "--mode=train", f"--config.train.num_steps={num_steps}",
          "--config.train.checkpoint_every=3", "--config.train.record_batch_fingerprints=True",
          *flags]


def _final_params(workdir, step):
  ckpt = checkpointing.Checkpointer(str(workdir), every_steps=1, keep=10)
  state = ckpt.restore_state(step, None)  # as saved: host arrays, no target shardings
  ckpt.close()
  return state["params"], state["opt_state"]


def _fingerprints(workdir):
  lines = open(os.path.join(workdir, "batch_fingerprints.txt")).read().split()
  return list(zip(map(int, lines[::2]), lines[1::2]))


def test_sigkill_then_resume_is_bitwise_identical(tmp_path):
  steps = 12
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  subprocess.run(_command(straight, steps), check=True, capture_output=True)

  process = subprocess.Popen(_command(killed, steps), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  checkpoints = killed / "checkpoints"
  deadline = time.time() + 300
  while time.time() < deadline and process.poll() is None:
    # Complete checkpoints are folders named by their step (Orbax renames them when done).
    done = [int(d) for d in os.listdir(checkpoints) if d.isdigit()] if checkpoints.exists() else []
    if any(d >= 3 for d in done):
      break
    time.sleep(0.05)
  assert process.poll() is None, "the run finished before it could be killed"
  process.send_signal(signal.SIGKILL)
  process.wait()
  killed_at = max(step for step, _ in _fingerprints(killed))
  assert killed_at < steps
  subprocess.run(_command(killed, steps), check=True, capture_output=True)

  expected_params, expected_opt = _final_params(straight, steps)
  params, opt = _final_params(killed, steps)
  jax.tree.map(np.testing.assert_array_equal, params, expected_params)
  jax.tree.map(np.testing.assert_array_equal, opt, expected_opt)
  # Every step saw the batch the uninterrupted run saw (steps after the last complete
  # checkpoint were seen twice: once before the kill, again after the resume).
  reference = dict(_fingerprints(straight))
  seen = _fingerprints(killed)
  assert all(reference[step] == fp for step, fp in seen)
  assert {step for step, _ in seen} == set(range(1, steps + 1))


def test_checkpoint_restores_onto_a_different_mesh(tmp_path):
  cfg = config_lib.resolve_model_config(_config().model)
  model = EncoderDecoder(cfg)
  tx = optimizer.make_optimizer(_config().optimizer, 10)
  inputs = state_lib.example_inputs(cfg, 8, 16, 8)
  rules = sharding.DEFAULT_RULES
  fsdp8 = sharding.make_mesh({"data": 1, "fsdp": 8, "tensor": 1})
  state, _ = state_lib.create_state(model, tx, inputs, fsdp8, rules, seed=3)
  assert state.params["embedding"]["embedding"].sharding.spec[1] == "fsdp"
  ckpt = checkpointing.Checkpointer(str(tmp_path), every_steps=1, keep=1)
  ckpt.save(1, state, {"step": 1}, force=True)
  ckpt.wait()

  mesh = sharding.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  abstract = state_lib.abstract_state(model, tx, inputs)
  shardings = state_lib.state_shardings(abstract, mesh, rules)
  restored = ckpt.restore_state(1, checkpointing.abstract_with_shardings(
      nn.meta.unbox(abstract), shardings))
  ckpt.close()
  kernel = restored.params["encoder"]["layers"]["attention"]["query"]["kernel"]
  assert kernel.sharding.mesh.shape == {"data": 2, "fsdp": 2, "tensor": 2}
  assert kernel.sharding.spec == jax.sharding.PartitionSpec(None, "fsdp", "tensor", None)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored),
               jax.device_get(state))


class _PoisonImages:
  """Wraps the train iterator: the batches at `steps` get NaN images."""

  def __init__(self, iterator, steps):
    self.iterator, self.steps, self.count = iterator, set(steps), 0

  def __next__(self):
    batch = next(self.iterator)
    self.count += 1
    if self.count in self.steps:
      batch = dict(batch, images=np.full_like(batch["images"], np.nan),
                   image_mask=np.ones_like(batch["image_mask"]))
    return batch

  def __getattr__(self, name):
    return getattr(self.iterator, name)


def _poison(monkeypatch, steps):
  make = pipeline.make_train_iterator
  monkeypatch.setattr(pipeline, "make_train_iterator",
                      lambda *a, **k: _PoisonImages(make(*a, **k), steps))


def test_nan_batch_is_skipped_and_counted(tmp_path, monkeypatch):
  _poison(monkeypatch, steps={3})
  result = train.run(_config(**{"train.num_steps": 5}), str(tmp_path), "train")
  assert result["step"] == 5
  assert result["skipped_nonfinite"] == 1


def test_a_stream_of_nan_batches_stops_the_run(tmp_path, monkeypatch):
  _poison(monkeypatch, steps=range(2, 100))
  with pytest.raises(FloatingPointError, match="3 consecutive steps"):
    train.run(_config(**{"train.num_steps": 20, "train.max_consecutive_nonfinite": 3}),
              str(tmp_path), "train")


def test_incompatible_checkpoint_is_refused_naming_the_difference(tmp_path):
  train.run(_config(**{"train.num_steps": 2, "train.checkpoint_every": 1}), str(tmp_path),
            "train")
  with pytest.raises(ValueError, match=r"model.d_model: checkpoint has 64, config has 32"):
    train.run(_config(**{"train.num_steps": 4, "model.d_model": 32}), str(tmp_path), "train")


def test_evaluate_mode_writes_tables_for_all_six_families(tmp_path):
  train.run(_config(**{"train.num_steps": 2}), str(tmp_path), "train")
  result = train.run(_config(**{"train.num_steps": 2, "eval.max_examples": 8}), str(tmp_path),
                     "evaluate")
  summary = json.loads((tmp_path / "eval" / "2" / "summary.json").read_text())
  assert set(summary["families"].values()) == {
      "image_classification", "vqa", "captioning", "text_understanding", "summarization",
      "question_answering"}
  assert "| vqa | sample_vqa |" in (tmp_path / "eval" / "2" / "summary.md").read_text()
  assert result["eval"]["sample_vqa/examples"] >= 8
  # Closed-set answers come from the candidate trie: an untrained model still answers with a
  # training label.
  labels = {json.loads(line)["label"] for line in open(
      "biomed_jax/assets/sample/sample_image_classification/train.jsonl")}
  rows = [json.loads(line) for line in open(
      tmp_path / "eval" / "2" / "sample_image_classification.jsonl")]
  assert rows and all(row["prediction"] in labels for row in rows)
  assert all(set(row) >= {"input", "prediction", "reference"} for row in rows)


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
  process = subprocess.Popen(_command(tmp_path, 500), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
  fingerprints = tmp_path / "batch_fingerprints.txt"
  deadline = time.time() + 300
  while time.time() < deadline and process.poll() is None:
    if fingerprints.exists() and len(fingerprints.read_text().split()) >= 8:  # step 4 begun
      break
    time.sleep(0.05)
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 0, stderr[-2000:]
  assert "exiting for preemption" in stderr
  last_step = max(step for step, _ in _fingerprints(tmp_path))
  assert 4 <= last_step < 500
  saved = [int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]
  assert max(saved) == last_step  # the step in flight was saved, not only the periodic ones


def test_keep_best_by_metric_keeps_the_best_checkpoints(tmp_path):
  ckpt = checkpointing.Checkpointer(str(tmp_path), every_steps=1, keep=2,
                                    best_metric="sample_vqa/vqa_accuracy")
  state = {"w": np.zeros(3, np.float32)}
  for step, accuracy in [(1, 10.0), (2, 40.0), (3, 20.0), (4, 30.0)]:
    ckpt.save(step, state, {"step": step}, force=True,
              metrics={"sample_vqa/vqa_accuracy": accuracy})
    ckpt.wait()
  kept = sorted(ckpt.manager.all_steps())
  ckpt.close()
  assert kept == [2, 4]


def test_init_from_another_runs_workdir(tmp_path):
  source = tmp_path / "instruct"
  train.run(_config(**{"train.num_steps": 2}), str(source), "train")
  ckpt = checkpointing.Checkpointer(str(source), every_steps=1, keep=10)
  trained = ckpt.restore_state(2, None)["params"]
  ckpt.close()
  # One step, the first of the warmup (learning rate 0 there; a configured learning rate of 0
  # is refused): the new run's checkpoint holds exactly the loaded weights.
  config = _config(**{"train.num_steps": 1, "train.checkpoint_every": 1})
  config.init_from = str(source)
  train.run(config, str(tmp_path / "finetune"), "train")
  ckpt = checkpointing.Checkpointer(str(tmp_path / "finetune"), every_steps=1, keep=10)
  loaded = ckpt.restore_state(1, None)["params"]
  ckpt.close()
  jax.tree.map(np.testing.assert_array_equal, loaded, trained)


def test_metrics_fetched_on_log_steps_still_reach_tensorboard_for_every_step(tmp_path):
  """The loop fetches metrics only every log_every steps; TensorBoard must still hold each
  step's own values, equal to those of a run that fetches every step."""
  tags = ("loss", "token_accuracy", "grad_norm", "learning_rate")
  curves = {}
  for log_every in (1, 4):
    workdir = str(tmp_path / f"log_every_{log_every}")
    train.run(_config(**{"train.num_steps": 6, "train.log_every": log_every}), workdir,
              "train")
    curves[log_every] = {tag: run_report.read_scalars(workdir, f"train/{tag}") for tag in tags}
    rates = run_report.read_scalars(workdir, "train/examples_per_s")
    assert [step for step, _ in rates] == ([1, 2, 3, 4, 5, 6] if log_every == 1 else [4, 6])
  assert [step for step, _ in curves[4]["loss"]] == [1, 2, 3, 4, 5, 6]
  assert curves[4] == curves[1]
  losses = [value for _, value in curves[4]["loss"]]
  assert len(set(losses)) == 6  # six different steps, not one value repeated
