"""Pre-training objectives (data/objectives.py): text infilling over a task's own text."""

import numpy as np
import pytest

from biomed_jax import config_checks, config_lib
from biomed_jax.config_checks import ConfigError
from biomed_jax.data import objectives, pipeline, tokenizer as tokenizer_lib
from biomed_jax.data.tasks import evaluated_by_default, get_task


def _runs(masked_flags):
  return sum(1 for i, m in enumerate(masked_flags) if m and (i == 0 or not masked_flags[i - 1]))


@pytest.mark.parametrize("n", [1, 7, 40, 200])
def test_span_masking_hides_thirty_percent_of_the_words_one_mask_per_span(n):
  words = [f"w{i}" for i in range(n)]
  for seed in range(20):
    out = objectives.mask_spans(words, np.random.default_rng(seed))
    kept = [w for w in out if w != objectives.MASK]
    assert kept == [w for w in words if w in kept]  # the rest, in order
    flags = [w not in kept for w in words]
    assert sum(flags) == max(1, round(0.3 * n))
    assert out.count(objectives.MASK) == _runs(flags)  # one <mask> per masked span
    assert objectives.mask_spans(words, np.random.default_rng(seed)) == out


def test_span_lengths_follow_poisson_three():
  words = [f"w{i}" for i in range(100_000)]
  out = objectives.mask_spans(words, np.random.default_rng(0))
  kept = set(w for w in out if w != objectives.MASK)
  flags = [w not in kept for w in words]
  mean_span = sum(flags) / _runs(flags)
  # Spans of max(1, Poisson(3)) words; neighbouring spans merge into longer runs.
  assert 3.0 < mean_span < 4.5


def test_infill_batches_restore_a_window_of_the_training_text():
  tok = tokenizer_lib.load_tokenizer(tokenizer_lib.SAMPLE_MODEL)
  name = "text_infill:sample_summarization"
  task = get_task(name)
  assert (task.dataset, task.objective, task.uses_image) == (
      "sample_summarization", "text_infill", False)
  records, _ = pipeline.load_records(task, "train")
  documents = {" ".join(r.fields["document"].split()) for r in records}
  iterator = pipeline.make_train_iterator(
      [(name, 1.0), ("sample_summarization", 1.0)], tokenizer=tok, batch_size=8, image_size=32,
      max_source_len=128, max_target_len=32, seed=0)
  seen = 0
  for _ in range(4):
    batch = next(iterator)
    for row in np.flatnonzero(batch["task_id"] == 0):
      weights = batch["decoder_loss_weights"][row]
      target_ids = batch["decoder_targets"][row][weights > 0].tolist()
      assert target_ids[-1] == tok.eos_id and len(target_ids) <= 32
      window = tok.decode(target_ids)
      assert any(window in d for d in documents)  # a contiguous piece of one abstract
      source = batch["encoder_tokens"][row].tolist()
      assert tok.mask_id in source
      text = tok.decode(source)
      assert text.startswith('what is the complete text of "')
      # Every unmasked word of the window is in the source, in order.
      pieces = [p.strip() for p in text[len('what is the complete text of "'):-2].split(
          objectives.MASK)]
      position = 0
      for piece in (p for p in pieces if p):
        position = window.index(piece, position) + len(piece)
      seen += 1
  iterator.close()
  assert seen >= 8


def test_objectives_train_only_and_bad_names_are_refused():
  config = config_lib.base_config("t5_tiny")
  config.data.mixture = (("text_infill:sample_qa", 1.0), ("sample_qa", 1.0))
  assert evaluated_by_default(n for n, _ in config.data.mixture) == ["sample_qa"]
  config_checks.check(config, "train_and_evaluate")
  config.eval.tasks = ("text_infill:sample_qa",)
  with pytest.raises(ConfigError, match="are pre-training objectives, not evaluation tasks"):
    config_checks.check(config, "train_and_evaluate")
  config.eval.tasks = ()
  config.data.mixture = (("unmask:sample_qa", 1.0),)
  with pytest.raises(ConfigError, match=r"unknown task\(s\) \['unmask:sample_qa'\]"):
    config_checks.check(config, "train")
  with pytest.raises(KeyError, match="unknown objective 'unmask'; objectives: text_infill"):
    get_task("unmask:sample_qa")
