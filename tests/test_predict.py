"""biomed_jax.predict on a tiny checkpoint saved the way the trainer saves one.

The answers are checked against biomed_jax.decoding.decode run on the evaluation pipeline's
own batch (or on tokens built here), with the weights taken from the in-memory state, not
from the restore under test.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from biomed_jax import checkpointing, config_lib, sharding
from biomed_jax.data import pipeline
from biomed_jax.data.tasks import get_task
from biomed_jax.data.tokenizer import DEFAULT_MODEL, Tokenizer
from biomed_jax.decoding import CandidateTrie, decode
from biomed_jax.model import EncoderDecoder, save_pretrained
from biomed_jax.model.pretrained import TOKENIZER_FILE
from biomed_jax.predict import PredictError, Predictor
from biomed_jax.training import optimizer, state as state_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(REPO, "biomed_jax", "assets", "sample", "sample_vqa", "images")
CT = os.path.join(IMAGES, "CT_small_view0.png")
MR = os.path.join(IMAGES, "MR_small_view1.png")
SOURCE_LEN, TARGET_LEN, IMAGE_SIZE = 64, 12, 64
PROMPT = "What abnormality is seen in the lung?"


def _config(tokenizer: str = ""):
  config = config_lib.base_config("t5_tiny")
  # Untied output head: a tied, untrained decoder mostly repeats one token.
  config.model.update(image_size=IMAGE_SIZE, dropout_rate=0.0, tie_embeddings=False)
  config.data.update(max_source_len=SOURCE_LEN, max_target_len=TARGET_LEN, tokenizer=tokenizer)
  config.train.ema_decay = 0.999
  return config


def _save(workdir, step, state, config, copy_tokenizer=True):
  """As train.py's save(): the TrainState and its meta (without running the trainer)."""
  model_cfg = config_lib.resolve_model_config(config.model)
  ckpt = checkpointing.Checkpointer(str(workdir), every_steps=1, keep=5)
  meta = {"signature": checkpointing.resume_signature(config, model_cfg),
          "data_iterator": {}, "config": config.to_json_best_effort(), "step": step,
          "model_config": model_cfg.to_dict(), "tokenizer": TOKENIZER_FILE}
  ckpt.save(step, state, meta, force=True)
  ckpt.close()
  if copy_tokenizer:
    shutil.copyfile(DEFAULT_MODEL, os.path.join(workdir, TOKENIZER_FILE))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A workdir with step 3 (no EMA) and step 7 (EMA params distinct from params)."""
  config = _config()
  model_cfg = config_lib.resolve_model_config(config.model)
  model = EncoderDecoder(model_cfg)
  tx = optimizer.make_optimizer(config.optimizer, 10, "")
  mesh = sharding.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, jax.devices()[:1])
  # The rbg key compiles the initialisers several times faster than threefry on CPU.
  with jax.default_prng_impl("unsafe_rbg"):  # a faster init compile for the fixture
    state, _ = state_lib.create_state(model, tx, state_lib.example_inputs(model_cfg), mesh,
                                      sharding.rules_from_config(None), 0, ema=True)
  ema = jax.tree.map(lambda p: np.asarray(p) * 1.25, state.params)
  state = state.replace(ema_params=ema)
  workdir = tmp_path_factory.mktemp("run")
  _save(workdir, 3, state.replace(ema_params=None), config)
  _save(workdir, 7, state, config)
  # On the device the predictor uses, so the oracle's decode reuses its compiled programs.
  variables = jax.device_put({"params": ema, "batch_stats": state.batch_stats},
                             jax.local_devices()[0])
  return {"workdir": str(workdir), "model": model, "variables": variables, "state": state,
          "config": config, "tokenizer": Tokenizer(DEFAULT_MODEL)}


@pytest.fixture(scope="module")
def predictor(run):
  return Predictor.load(run["workdir"])


def _tokens(tokenizer, prompt):
  ids = tokenizer.encode(prompt) + [tokenizer.eos_id]
  out = np.zeros((1, SOURCE_LEN), np.int32)
  out[0, :len(ids)] = ids
  return out


def _same_tree(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_latest_step_uses_ema_params_and_step_picks_another(run, predictor):
  assert _same_tree(predictor.variables["params"], run["variables"]["params"])
  assert not _same_tree(predictor.variables["params"], run["state"].params)
  older = Predictor.load(run["workdir"], step=3)  # saved without EMA: the raw params
  assert _same_tree(older.variables["params"], run["state"].params)
  assert (predictor.max_source_len, predictor.max_target_len) == (SOURCE_LEN, TARGET_LEN)


def test_answers_equal_decoding_the_evaluation_pipeline_batch(run, predictor):
  """Same inputs as evaluation (prompt tokens, resized image), hence the same answers."""
  tokenizer = run["tokenizer"]
  iterator = pipeline.make_eval_iterator(
      "sample_vqa", tokenizer=tokenizer, batch_size=4, image_size=IMAGE_SIZE,
      max_source_len=SOURCE_LEN, max_target_len=TARGET_LEN)
  batch = next(iterator)
  iterator.close()
  records, _ = pipeline.load_records("sample_vqa", "validation", bad_records="skip")
  task = get_task("sample_vqa")
  rows = [records[int(i)] for i in batch["example_index"]]
  items = [{"prompt": task.source(r, 0), "image": r.images[0]} for r in rows]
  for item, tokens, image in zip(items, batch["encoder_tokens"], batch["images"]):
    np.testing.assert_array_equal(predictor.encode_prompt(item["prompt"]), tokens)
    np.testing.assert_array_equal(predictor.prepare_image(item["image"]), image)

  oracle = decode(run["model"], run["variables"], batch["encoder_tokens"], batch["images"],
                  batch["image_mask"], max_length=TARGET_LEN).tokens
  expected = [tokenizer.decode(np.asarray(t).tolist()) for t in oracle]
  assert all(expected)
  assert predictor.answer_batch(items) == expected


def test_image_and_text_only_answers_equal_decode(run, predictor):
  tokenizer = run["tokenizer"]
  tokens = _tokens(tokenizer, PROMPT)
  image = predictor.prepare_image(CT)[None]
  with_image = decode(run["model"], run["variables"], tokens, image, np.array([True]),
                      max_length=TARGET_LEN).tokens[0]
  text_only = decode(run["model"], run["variables"], tokens, max_length=TARGET_LEN).tokens[0]
  expected_image = tokenizer.decode(np.asarray(with_image).tolist())
  expected_text = tokenizer.decode(np.asarray(text_only).tolist())
  assert expected_image != expected_text  # the image reaches the model
  assert predictor.answer(PROMPT, image=CT) == expected_image
  with open(CT, "rb") as f:
    assert predictor.answer(PROMPT, image=f.read()) == expected_image
  assert predictor.answer(PROMPT) == expected_text


def test_candidates_constrain_the_answer_like_a_trie_decode(run, predictor):
  tokenizer = run["tokenizer"]
  candidates = ["yes", "no", "no pleural effusion", "pneumothorax"]
  # Padded edges change no answer; 16 lets the oracle share the predictor's compiled program.
  trie = CandidateTrie.from_token_lists([tokenizer.encode(c) for c in candidates],
                                        pad_edges_to=16)
  tokens = _tokens(tokenizer, PROMPT)
  image = predictor.prepare_image(MR)[None]
  for method in ("greedy", "beam"):
    oracle = decode(run["model"], run["variables"], tokens, image, np.array([True]),
                    max_length=TARGET_LEN, method=method, beam_size=3, constraint=trie).tokens
    expected = candidates[int(trie.index_of(np.asarray(oracle))[0])]
    got = predictor.answer(PROMPT, image=MR, candidates=candidates, method=method, beam_size=3)
    assert got == expected


def test_pretrained_folder_and_tokenizer_fallbacks(run, predictor, tmp_path):
  folder = tmp_path / "pretrained"
  save_pretrained(str(folder), predictor.model_config, run["variables"], DEFAULT_MODEL)
  # A pretrained folder records no data lengths: max_length is the default unless given.
  assert Predictor.load(str(folder)).answer(PROMPT, image=CT, max_length=TARGET_LEN) == \
      predictor.answer(PROMPT, image=CT)
  os.remove(folder / TOKENIZER_FILE)
  with pytest.raises(PredictError, match=r"no tokenizer.*tokenizer.model is missing"):
    Predictor.load(str(folder))
  # A run without its tokenizer copy falls back to config.data.tokenizer ("" = shipped)...
  bare = tmp_path / "bare"
  _save(bare, 7, run["state"], run["config"], copy_tokenizer=False)
  assert Predictor.load(str(bare)).tokenizer.spm_path == DEFAULT_MODEL
  # ... and names both when neither exists.
  lost = tmp_path / "lost"
  _save(lost, 7, run["state"], _config(tokenizer=str(tmp_path / "gone.model")),
        copy_tokenizer=False)
  with pytest.raises(PredictError, match=r"no tokenizer:.*lost/tokenizer.model.*gone.model"):
    Predictor.load(str(lost))


def test_bad_python_inputs_are_named(predictor):
  with pytest.raises(PredictError, match="the prompt is empty"):
    predictor.answer("   ")
  with pytest.raises(PredictError, match="candidate list is empty"):
    predictor.answer(PROMPT, candidates=[])
  with pytest.raises(PredictError, match="item 1: image .*nope.png: missing image file"):
    predictor.answer_batch([{"prompt": PROMPT}, {"prompt": PROMPT, "image": "/nope.png"}])
  with pytest.raises(PredictError, match="unknown decoding options.*'beams'"):
    predictor.answer(PROMPT, beams=2)


def _cli(*args, check=True):
  result = subprocess.run([sys.executable, "-m", "biomed_jax.predict", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  if check:
    assert result.returncode == 0, result.stderr
  return result


def test_cli_answer_is_always_a_candidate(run, predictor):
  candidates = ["yes", "no", "no pleural effusion"]
  result = _cli(f"--checkpoint={run['workdir']}", f"--image={CT}", f"--prompt={PROMPT}",
                f"--candidates={','.join(candidates)}")
  answer = result.stdout.strip()
  assert answer in candidates
  assert answer == predictor.answer(PROMPT, image=CT, candidates=candidates)


def test_cli_prompts_file(run, predictor, tmp_path):
  """Relative image paths are read from the file's folder; --candidates fills lines without
  their own; answers come back in input order with the line's other keys."""
  shutil.copy(CT, tmp_path / "ct.png")
  lines = [{"id": "a", "prompt": PROMPT, "image": "ct.png"},
           {"id": "b", "prompt": "What is the treatment of asthma?"},
           {"id": "c", "prompt": "Is this an MRI?", "image": MR, "candidates": ["yes", "no"]},
           {"id": "d", "prompt": "Which organ is shown?", "image": MR}]
  prompts = tmp_path / "prompts.jsonl"
  prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
  output = tmp_path / "answers.jsonl"
  _cli(f"--checkpoint={run['workdir']}", f"--prompts_file={prompts}", f"--output={output}",
       "--candidates=brain,lung,liver", "--batch_size=2")
  answers = [json.loads(line) for line in output.read_text().splitlines()]
  assert [a["id"] for a in answers] == ["a", "b", "c", "d"]
  assert [{k: v for k, v in a.items() if k != "answer"} for a in answers] == lines
  assert answers[2]["answer"] in ("yes", "no")
  assert all(a["answer"] in ("brain", "lung", "liver") for a in answers if a["id"] != "c")
  expected = predictor.answer_batch([
      {"prompt": PROMPT, "image": CT, "candidates": ["brain", "lung", "liver"]},
      {"prompt": lines[1]["prompt"], "candidates": ["brain", "lung", "liver"]},
      {"prompt": lines[2]["prompt"], "image": MR, "candidates": ["yes", "no"]},
      {"prompt": lines[3]["prompt"], "image": MR, "candidates": ["brain", "lung", "liver"]}])
  assert [a["answer"] for a in answers] == expected


@pytest.mark.parametrize("case", ["missing image", "unreadable image", "empty prompt",
                                  "no checkpoint", "empty candidates", "missing file image"])
def test_cli_bad_input_is_one_line_naming_it(run, tmp_path, case):
  broken = tmp_path / "broken.png"
  broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
  empty = tmp_path / "empty"
  empty.mkdir()
  prompts = tmp_path / "prompts.jsonl"
  prompts.write_text(json.dumps({"prompt": PROMPT}) + "\n" +
                     json.dumps({"prompt": PROMPT, "image": "absent.png"}) + "\n")
  checkpoint = f"--checkpoint={run['workdir']}"
  args, message = {
      "missing image": ([checkpoint, f"--prompt={PROMPT}", "--image=/nope/x.png"],
                        "/nope/x.png: missing image file"),
      "unreadable image": ([checkpoint, f"--prompt={PROMPT}", f"--image={broken}"],
                           "broken.png: unreadable image"),
      "empty prompt": ([checkpoint, "--prompt= ", f"--image={CT}"], "the prompt is empty"),
      "no checkpoint": ([f"--checkpoint={empty}", f"--prompt={PROMPT}"],
                        re.escape(f"{empty} is neither a pretrained folder")),
      "empty candidates": ([checkpoint, f"--prompt={PROMPT}", "--candidates="],
                           "candidate list is empty"),
      "missing file image": ([checkpoint, f"--prompts_file={prompts}"],
                             "prompts.jsonl line 2: image .*absent.png: missing image file"),
  }[case]
  result = _cli(*args, check=False)
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith("error: ")
  assert re.search(message, lines[0]), lines[0]
  assert result.stdout == ""
