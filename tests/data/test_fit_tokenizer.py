"""Fitting a SentencePiece model to a mixture's training text (data/fit_tokenizer.py)."""

import hashlib

from biomed_jax import config_lib
from biomed_jax.data import fit_tokenizer, pipeline
from biomed_jax.data.tokenizer import Tokenizer
from biomed_jax.data.tasks import get_task


def _config():
  config = config_lib.base_config("t5_tiny")
  config.data.mixture = config_lib.SAMPLE_MIXTURE
  return config


def test_fits_the_training_split_only_and_round_trips_held_out_text(tmp_path, monkeypatch):
  splits = []
  load = pipeline.load_records
  monkeypatch.setattr(pipeline, "load_records",
                      lambda task, split, **kw: (splits.append(split), load(task, split, **kw))[1])
  out = str(tmp_path / "mixture.model")
  counts = fit_tokenizer.fit(_config(), 1000, out)
  assert set(splits) == {"train"}
  assert sorted(counts) == sorted(name for name, _ in config_lib.SAMPLE_MIXTURE)
  # Every template rendering and the target of each training record: the text task has
  # 1,000 training abstracts.
  text_task = get_task("sample_text_understanding")
  assert counts["sample_text_understanding"] == 1000 * (len(text_task.templates) + 1)

  tokenizer = Tokenizer(out)
  assert tokenizer.sp_size == 1000
  assert (tokenizer.pad_id, tokenizer.eos_id, tokenizer.unk_id) == (0, 1, 2)
  records, _ = pipeline.load_records("sample_summarization", "validation")
  for record in list(records)[:20]:  # text the fit never saw decodes back exactly
    for text in get_task("sample_summarization").render(record):
      ids = tokenizer.encode(text)
      assert tokenizer.unk_id not in ids
      assert tokenizer.decode(ids) == text


def test_the_fit_is_reproducible_byte_for_byte(tmp_path):
  digests = []
  for name in ("a", "b"):
    out = str(tmp_path / name / "mixture.model")
    fit_tokenizer.fit(_config(), 500, out)
    digests.append(hashlib.sha256(open(out, "rb").read()).hexdigest())
  assert digests[0] == digests[1]
