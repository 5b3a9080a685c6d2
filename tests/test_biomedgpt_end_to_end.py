"""End to end with released-format weights: a tiny random PyTorch OFA reference in an HF
release folder (with its BPE files) -> convert.biomedgpt -> fine-tune a few steps on the
sample VQA task with BiomedGPT's VQA recipe (decoder prompt = question, EMA, frozen token
embeddings, label smoothing 0.1) -> evaluate -> predict from the command line."""

import json
import os
import subprocess
import sys

import pytest

from biomed_jax import train
from biomed_jax.data import tokenizer as tokenizer_lib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "model"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
import ofa_fixtures as fx  # pylint: disable=g-import-not-at-top,wrong-import-position
from bpe_fixtures import make_bpe_files  # pylint: disable=g-import-not-at-top,wrong-import-position

pytest.importorskip("torch")


@pytest.mark.slow  # 3 minutes; its parts (conversion, recipe, evaluation, predict) have own tests
def test_convert_finetune_evaluate_predict(tmp_path):
  files = make_bpe_files(tmp_path)
  tok = tokenizer_lib.load_tokenizer(str(files["hf"]))
  reference = fx.reference_model("small", seed=0, vocab_size=tok.vocab_size,
                                 max_position_embeddings=128)
  release = fx.save_hf_folder(reference, str(files["hf"]))
  converted = str(tmp_path / "converted")
  subprocess.run([sys.executable, "-m", "biomed_jax.convert.biomedgpt",
                  f"--checkpoint={release}", f"--out={converted}", "--image_size=64"],
                 check=True, capture_output=True, timeout=300)

  from configs import finetune  # pylint: disable=g-import-not-at-top
  config = finetune.get_config("dataset=vqa_rad,variant=biomedgpt_tiny")
  assert config.data.decoder_prompt == "prev_output" and config.train.ema_decay > 0
  assert config.train.freeze and config.optimizer.label_smoothing == 0.1
  small = fx.CONFIGS["small"]
  heads = small["encoder_attention_heads"]
  config.model.update(  # the converted checkpoint's sizes
      d_model=small["d_model"], num_heads=heads, head_dim=small["d_model"] // heads,
      d_ff=small["encoder_ffn_dim"], num_encoder_layers=small["encoder_layers"],
      num_decoder_layers=small["decoder_layers"], vision_layers=(2, 2, 2),
      token_bucket_size=small["token_bucket_size"],
      image_position_buckets=small["image_bucket_size"],
      max_positions=128, vocab_size=tok.padded_vocab_size(),
      logit_vocab_size=tok.vocab_size, attention_scale=(small["d_model"] // heads * 2) ** -0.5,
      image_size=64)
  config.init_from = converted  # its tokenizer comes with it
  config.data.mixture = (("sample_vqa", 1.0),)
  config.data.update(batch_size=8, max_source_len=40, max_target_len=56, data_dir="")
  config.optimizer.warmup_steps = 1
  config.train.update(num_steps=3, log_every=1, checkpoint_every=3)
  config.eval.update(tasks=("sample_vqa",), max_examples=8, batch_size=8, every_steps=3,
                     split="validation")
  workdir = str(tmp_path / "run")
  result = train.run(config, workdir, "train_and_evaluate")
  assert result["step"] == 3 and result["eval"]["sample_vqa/examples"] == 8
  assert {"vocab.json", "merges.txt"} <= set(os.listdir(workdir))
  rows = [json.loads(line) for line in
          open(os.path.join(workdir, "eval", "3", "sample_vqa.jsonl"))]
  assert len(rows) == 8

  answer = subprocess.run(
      [sys.executable, "-m", "biomed_jax.predict", f"--checkpoint={workdir}",
       "--prompt=Is there a fracture in this image?", "--candidates=yes,no"],
      capture_output=True, text=True, timeout=300)
  assert answer.returncode == 0, answer.stderr
  assert answer.stdout.strip().splitlines()[-1] in ("yes", "no")
