"""Helpers of the reliability tests: a demo config small enough for a test and a sample
mixture with broken records."""

import json
import os
import shutil

from configs import demo

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(REPO, "biomed_jax", "assets", "sample")
# Tiny model, 64 px images, batch 8, a checkpoint every 2 steps.
OVERRIDES = {"model.image_size": 64, "data.batch_size": 8, "data.max_source_len": 64,
             "data.max_target_len": 16, "eval.every_steps": 1000, "train.log_every": 1,
             "optimizer.warmup_steps": 2, "train.num_steps": 2, "train.checkpoint_every": 2}
# Records the fixture run's sample_vqa train split has broken (the reader skips them).
BROKEN = {"empty_field": 2, "missing_image": 3}


def make_config(**extra):
  config = demo.get_config()
  for key, value in {**OVERRIDES, **extra}.items():
    section, name = key.split(".")
    config[section][name] = value
  return config


def broken_sample_root(folder) -> str:
  """The shipped sample mixture with BROKEN records in sample_vqa/train.jsonl."""
  os.makedirs(folder)
  for task in os.listdir(SAMPLE):
    if task != "sample_vqa" and os.path.isdir(os.path.join(SAMPLE, task)):
      os.symlink(os.path.join(SAMPLE, task), os.path.join(folder, task))
  vqa = os.path.join(folder, "sample_vqa")
  os.makedirs(vqa)
  os.symlink(os.path.join(SAMPLE, "sample_vqa", "images"), os.path.join(vqa, "images"))
  shutil.copy(os.path.join(SAMPLE, "sample_vqa", "validation.jsonl"), vqa)
  rows = [json.loads(line) for line in open(os.path.join(SAMPLE, "sample_vqa", "train.jsonl"))]
  for row in rows[:BROKEN["empty_field"]]:
    row["answer"] = " "
  for row in rows[10:10 + BROKEN["missing_image"]]:
    row["image"] = "images/no_such_file.png"
  with open(os.path.join(vqa, "train.jsonl"), "w") as f:
    f.writelines(json.dumps(row) + "\n" for row in rows)
  return folder


