r"""Fits a SentencePiece model to the training text of a config's mixture.

    python -m biomed_jax.data.fit_tokenizer --config=configs/demo.py --vocab_size=4000 \
        --out=/tmp/mixture_4k.model

The corpus is every training record of every task in `config.data.mixture` rendered as the
pipeline renders it (each instruction template, and the target), so the prompts' words get
pieces too. Only the training split is read: a tokenizer fitted on held-out text would leak
it. Use the result with --config.data.tokenizer=OUT --config.model.vocab_size=N (the run's
error names N if it is too small).

A small vocabulary fitted to the task is a speed and sample-efficiency lever for small
models: the output layer is vocab x d_model, and each piece is seen more often. The model
follows the conventions `data.tokenizer.Tokenizer` checks (pad 0, eos 1, unk 2, no bos;
byte fallback; identity normalisation, so decoding gives the text back exactly), and one
training thread with a fixed seed makes the file reproducible byte for byte.
"""

import collections
import os
import re
import tempfile
import time

from absl import app
from absl import flags
from ml_collections import config_flags

SEED = 17

_FLAGS = {}


def _define_flags() -> None:
  """Command-line flags, defined only when run as a program: the module is also a library
  imported beside other commands that have an --out of their own."""
  _FLAGS["config"] = config_flags.DEFINE_config_file("config", None,
                                                     "The run config whose mixture to fit.")
  _FLAGS["vocab_size"] = flags.DEFINE_integer(
      "vocab_size", 4000, "SentencePiece pieces (before the location tokens and specials the "
      "Tokenizer adds).")
  _FLAGS["out"] = flags.DEFINE_string("out", None, "The .model file to write.")
  flags.mark_flag_as_required("config")


def train_sentencepiece(corpus: str, out: str, vocab_size: int, name: str) -> None:
  """Trains a unigram model on `corpus` (one text a line) and writes it to `out`; the
  recorded training paths are replaced by `name` so the bytes depend on the corpus only."""
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  from sentencepiece import sentencepiece_model_pb2  # pylint: disable=g-import-not-at-top
  spm.set_random_generator_seed(SEED)
  with tempfile.TemporaryDirectory() as tmp:
    prefix = os.path.join(tmp, "spm")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, model_type="unigram", vocab_size=vocab_size,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, byte_fallback=True,
        character_coverage=0.9995, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        input_sentence_size=0, shuffle_input_sentence=False, max_sentence_length=16384,
        num_threads=1, minloglevel=2)
    proto = sentencepiece_model_pb2.ModelProto()
    with open(prefix + ".model", "rb") as f:
      proto.ParseFromString(f.read())
  del proto.trainer_spec.input[:]
  proto.trainer_spec.input.append("corpus.txt")
  proto.trainer_spec.model_prefix = name
  if os.path.dirname(out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, "wb") as f:
    f.write(proto.SerializeToString())


def mixture_lines(mixture, *, data_dir: str | None = None, sample_root: str | None = None):
  """Yields (task name, text) for every template rendering and target of every usable
  training record; records a task cannot render are left out (as training skips them)."""
  from biomed_jax.data import objectives, pipeline  # pylint: disable=g-import-not-at-top
  from biomed_jax.data.records import DataError  # pylint: disable=g-import-not-at-top
  from biomed_jax.data.tasks import get_task  # pylint: disable=g-import-not-at-top
  for name, _ in mixture:
    task = get_task(name)
    records, _ = pipeline.load_records(task, "train", data_dir=data_dir,
                                       sample_root=sample_root, bad_records="skip")
    for index in range(len(records)):
      record = records[index]
      try:
        if task.objective:  # the text it masks and restores
          texts = [objectives.longest_text(task, record)]
        else:
          texts = [task.source(record, t) for t in range(len(task.templates))]
          texts.append(task.target(record))
      except DataError:
        continue
      for text in texts:
        yield name, text


def fit(config, vocab_size: int, out: str) -> collections.Counter:
  """Writes the corpus of `config`'s mixture, fits the model to it; returns lines per task."""
  counts = collections.Counter()
  with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
      for task, text in mixture_lines(config.data.mixture,
                                      data_dir=config.data.data_dir or None,
                                      sample_root=config.data.sample_root or None):
        text = re.sub(r"\s+", " ", text).strip()
        if text:
          f.write(text + "\n")
          counts[task] += 1
    if not counts:
      raise ValueError("config.data.mixture has no training text to fit a tokenizer to")
    train_sentencepiece(corpus, out, vocab_size, os.path.splitext(os.path.basename(out))[0])
  return counts


def main(argv) -> None:
  del argv
  out = _FLAGS["out"].value
  if out is None:
    raise app.UsageError("--out is required (the .model file to write)")
  start = time.time()
  counts = fit(_FLAGS["config"].value, _FLAGS["vocab_size"].value, out)
  from biomed_jax.data.tokenizer import Tokenizer  # pylint: disable=g-import-not-at-top
  tokenizer = Tokenizer(out)
  for task, n in sorted(counts.items()):
    print(f"  {task}: {n} lines")
  print(f"{out}: {tokenizer.sp_size} pieces, {tokenizer.vocab_size} ids with location "
        f"tokens and specials (--config.model.vocab_size={tokenizer.padded_vocab_size()}), "
        f"{time.time() - start:.0f} s")


if __name__ == "__main__":
  _define_flags()
  app.run(main)
