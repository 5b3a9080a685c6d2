"""The trainer with OFA's vocabulary: tokenizer ids that differ from the model config's are
refused naming both, a missing tokenizer path names the path and flag, and a short run in OFA
ids (BiomedGPT's prev_output decoder prompt) trains, evaluates, keeps its tokenizer files and
answers through predict."""

import json
import os
import sys

import pytest

from biomed_jax import train
from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.predict import Predictor
from configs import demo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "data"))
from bpe_fixtures import make_bpe_files  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
  return make_bpe_files(tmp_path_factory.mktemp("bpe"))


def _config(tokenizer: str, **model):
  config = demo.get_config()
  config.data.tokenizer = tokenizer
  config.data.mixture = (("sample_vqa", 1.0),)
  config.data.update(batch_size=8, max_source_len=48, max_target_len=64,
                     decoder_prompt="prev_output")
  config.model.update(image_size=32, **model)
  config.train.update(num_steps=2, log_every=1, checkpoint_every=2)
  config.optimizer.warmup_steps = 1
  config.eval.update(tasks=("sample_vqa",), max_examples=8, batch_size=8)
  return config


def test_ids_that_differ_from_the_model_are_refused(bpe, tmp_path):
  vocab = tokenizer_lib.load_tokenizer(str(bpe["hf"])).padded_vocab_size()
  with pytest.raises(ValueError, match=r"tokenizer's ids \{'pad_id': 1, 'eos_id': 2, "
                     r"'bos_id': 0\} differ from the model config's \{'pad_id': 0, "
                     r"'eos_id': 1, 'bos_id': 0\}"):
    train.run(_config(str(bpe["hf"]), vocab_size=vocab), str(tmp_path / "w"), "train")
  missing = str(tmp_path / "no_such_tokenizer")
  with pytest.raises(FileNotFoundError,
                     match=f"--config.data.tokenizer={missing}: no such file or folder"):
    train.run(_config(missing), str(tmp_path / "w2"), "train")


def test_short_run_in_ofa_ids_trains_evaluates_and_predicts(bpe, tmp_path):
  tok = tokenizer_lib.load_tokenizer(str(bpe["fairseq"]))
  config = _config(str(bpe["fairseq"]), vocab_size=tok.padded_vocab_size(), pad_id=1,
                   eos_id=2, bos_id=0)
  workdir = str(tmp_path / "run")
  result = train.run(config, workdir, "train_and_evaluate")
  assert result["step"] == 2
  assert result["eval"]["sample_vqa/examples"] == 8
  saved = set(os.listdir(workdir))  # beside run.lock, checkpoints/, eval/, ...
  assert {"dict.txt", "merges.txt", "vocab.json"} <= saved and "tokenizer.model" not in saved
  rows = [json.loads(line) for line in
          open(os.path.join(workdir, "eval", "2", "sample_vqa.jsonl"))]
  assert len(rows) == 8 and all(isinstance(r["prediction"], str) for r in rows)
  predictor = Predictor.load(workdir)
  assert predictor.tokenizer.kind == "ofa_bpe" and predictor.decoder_prompt == "prev_output"
  answer = predictor.answer("Is there a fracture?", candidates=["yes", "no"])
  assert answer in ("yes", "no")
