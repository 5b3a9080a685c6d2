"""--mode=evaluate under 2 processes x 4 devices: the metrics of 1 process x 8 devices, every
example once in the files (each process read its shard; process 0 wrote)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biomed_jax import config_lib, train
from biomed_jax.data.tokenizer import DEFAULT_MODEL
from biomed_jax.model import EncoderDecoder, save_pretrained
from biomed_jax.training import state as state_lib
from configs import demo
import local_processes

TASK = "sample_vqa"  # closed answers decoded in the trie, open ones freely
EXAMPLES = 32  # two global batches of 16
OVERRIDES = {"model.image_size": 64, "data.max_source_len": 64, "data.max_target_len": 16,
             "eval.batch_size": 16, "eval.max_examples": EXAMPLES, "mesh.data": 2,
             "mesh.fsdp": 2, "mesh.tensor": 2}


def _config(weights):
  config = demo.get_config()
  for key, value in {**OVERRIDES, "init_from": weights}.items():
    section, _, name = key.rpartition(".")
    (config[section] if section else config)[name] = value
  config.eval.tasks = (TASK,)
  return config


@pytest.fixture
def weights(tmp_path):
  """Random weights, saved once: both runs evaluate exactly these."""
  model_cfg = config_lib.resolve_model_config(_config("").model)
  zeros = {k: jnp.zeros(v.shape, v.dtype)
           for k, v in state_lib.example_inputs(model_cfg, 2).items()}
  variables = EncoderDecoder(model_cfg).init(
      {"params": jax.random.key(1), "dropout": jax.random.key(2)}, zeros["encoder_tokens"],
      zeros["decoder_inputs"], zeros["images"], zeros["image_mask"])
  folder = str(tmp_path / "weights")
  save_pretrained(folder, model_cfg, variables, DEFAULT_MODEL)
  return folder


def test_two_process_evaluation_equals_one_process(tmp_path, weights):
  one = train.run(_config(weights), str(tmp_path / "one"), "evaluate")["eval"]

  two = tmp_path / "two"
  args = ["--config=configs/demo.py", f"--workdir={two}", "--mode=evaluate",
          f"--config.init_from={weights}", f"--config.eval.tasks=('{TASK}',)",
          *[f"--config.{k}={v}" for k, v in OVERRIDES.items()]]
  local_processes.run(args, count=2, devices=4, log_dir=str(tmp_path / "logs"))
  summary = json.loads((two / "eval" / "0" / "summary.json").read_text())["tasks"][TASK]

  assert summary["examples"] == one[f"{TASK}/examples"] == EXAMPLES
  for key, value in summary.items():
    np.testing.assert_allclose(value, one[f"{TASK}/{key}"], rtol=1e-5, err_msg=key)
  lines = [json.loads(line) for line in open(two / "eval" / "0" / f"{TASK}.jsonl")]
  expected = [json.loads(line)
              for line in open(tmp_path / "one" / "eval" / "0" / f"{TASK}.jsonl")]
  assert sorted(r["id"] for r in lines) == sorted(r["id"] for r in expected)
  assert len({r["id"] for r in lines}) == EXAMPLES  # each example once
  by_id = {r["id"]: r["prediction"] for r in expected}
  assert all(r["prediction"] == by_id[r["id"]] for r in lines)
