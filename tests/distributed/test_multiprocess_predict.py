"""`python -m biomed_jax.predict --prompts_file` under 2 processes: each answers its share of
the prompts, and process 0 alone writes them, in file order, equal to one process's answers."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp

from biomed_jax import config_lib
from biomed_jax.data.tokenizer import DEFAULT_MODEL
from biomed_jax.model import EncoderDecoder, save_pretrained
from biomed_jax.training import state as state_lib
import local_processes

IMAGES = os.path.join(local_processes.REPO, "biomed_jax", "assets", "sample", "sample_vqa",
                      "images")
PROMPTS = [
    {"id": 0, "prompt": "What abnormality is seen in the lung?", "image": "CT_small_view0.png"},
    {"id": 1, "prompt": "What is the treatment of asthma?"},
    {"id": 2, "prompt": "Which organ is shown?", "image": "MR_small_view1.png"},
    {"id": 3, "prompt": "Is this an MRI?", "image": "MR_small_view1.png"},
    {"id": 4, "prompt": "Summarize: aspirin lowered the risk of stroke in adults."},
    {"id": 5, "prompt": "Is there a fracture?", "image": "CT_small_view0.png"},
    {"id": 6, "prompt": "Where is the lesion?", "image": "CT_small_view0.png"},
    {"id": 7, "prompt": "What does the image describe?", "image": "MR_small_view1.png"},
]


def _weights(folder: str) -> None:
  model = config_lib.base_config("t5_tiny").model
  model.image_size = 64
  model_cfg = config_lib.resolve_model_config(model)
  zeros = {k: jnp.zeros(v.shape, v.dtype)
           for k, v in state_lib.example_inputs(model_cfg, 2).items()}
  variables = EncoderDecoder(model_cfg).init(
      {"params": jax.random.key(3), "dropout": jax.random.key(4)}, zeros["encoder_tokens"],
      zeros["decoder_inputs"], zeros["images"], zeros["image_mask"])
  save_pretrained(folder, model_cfg, variables, DEFAULT_MODEL)


def test_two_process_answers_equal_one_process(tmp_path):
  weights = str(tmp_path / "weights")
  _weights(weights)
  prompts = tmp_path / "prompts.jsonl"
  prompts.write_text("".join(
      json.dumps({**p, "image": os.path.join(IMAGES, p["image"])} if "image" in p else p) + "\n"
      for p in PROMPTS))
  # 4 prompts per batch: one process decodes two batches of 4, each of two processes one.
  args = [f"--checkpoint={weights}", f"--prompts_file={prompts}", "--batch_size=4",
          "--max_length=6"]

  one = tmp_path / "one.jsonl"
  result = subprocess.run([sys.executable, "-m", "biomed_jax.predict", *args,
                           f"--output={one}"], cwd=local_processes.REPO, capture_output=True,
                          text=True, timeout=600,
                          env=local_processes.process_env(0, 1, 1, 0))
  assert result.returncode == 0, result.stderr

  two = tmp_path / "two.jsonl"
  logs = tmp_path / "logs"
  local_processes.run([*args, f"--output={two}", "--multihost"], count=2, devices=1,
                      log_dir=str(logs), timeout=600, module="biomed_jax.predict")
  expected = [json.loads(line) for line in one.read_text().splitlines()]
  answers = [json.loads(line) for line in two.read_text().splitlines()]
  assert [a["id"] for a in answers] == list(range(len(PROMPTS)))
  assert answers == expected
  # Each process answered its half; process 1 wrote nothing.
  assert "process 0 of 2 answers prompts 1-4 of 8" in (logs / "p0.log").read_text()
  assert "process 1 of 2 answers prompts 5-8 of 8" in (logs / "p1.log").read_text()
  assert '"answer":' not in (logs / "p1.log").read_text()
