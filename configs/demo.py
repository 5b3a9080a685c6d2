"""Tiny model on the shipped real sample mixture (six task families), CPU, a few minutes.

The recipe is measured in benchmarks/results/demo_recipe.md: a vocabulary fitted to the
sample's training text (the output layer is a sixth of the 33k one), 64 px images, no
dropout or label smoothing (a tiny model underfits this budget), 1,600 steps, and mixture
weights toward the short-answer tasks, whose few target tokens carry little of a token-mean
loss.
"""

from biomed_jax import config_lib
from biomed_jax.data import tokenizer


def get_config():
  c = config_lib.base_config("t5_tiny")
  c.model.image_size = 64
  c.model.dropout_rate = 0.0
  c.model.vocab_size = 5120  # sample_unigram_4k: 4,000 pieces + location tokens + <mask>
  c.data.tokenizer = tokenizer.SAMPLE_MODEL
  c.data.mixture = (("sample_image_classification", 2.0), ("sample_vqa", 2.0),
                    ("sample_captioning", 1.0), ("sample_text_understanding", 3.0),
                    ("sample_summarization", 1.0), ("sample_qa", 3.0))
  c.data.batch_size = 16
  c.data.max_source_len = 128
  c.data.max_target_len = 32
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 50
  c.optimizer.label_smoothing = 0.0
  c.train.num_steps = 1600
  c.train.checkpoint_every = 400
  c.eval.every_steps = 1600
  return c
