"""Every shipped config loads, composes and names real tasks."""

import glob
import importlib
import os

import pytest

from biomed_jax import config_lib
from biomed_jax.data.tasks import get_task

CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob("configs/*.py")
                 if not p.endswith("__init__.py"))


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads_with_known_tasks_and_model(name):
  config = importlib.import_module(f"configs.{name}").get_config()
  config_lib.resolve_model_config(config.model)
  assert config.data.mixture
  for task, weight in config.data.mixture:
    get_task(task)
    assert weight > 0
  for task in config.eval.tasks:
    get_task(task)


def test_finetune_argument_string_composes_dataset_and_size():
  from configs import finetune
  config = finetune.get_config("dataset=slake,variant=biomedgpt_large")
  assert config.data.mixture == (("slake", 1.0),)
  assert config_lib.resolve_model_config(config.model).d_model == 1024
  # BiomedGPT's VQA recipe: 80 source tokens; the decoder holds the question and the answer.
  assert (config.data.max_source_len, config.data.max_target_len) == (80, 80 + 40)
  with pytest.raises(ValueError, match="datset=slake"):
    finetune.get_config("datset=slake")


def test_finetune_selects_biomedgpt_recipes_per_dataset():
  from configs import finetune
  vqa = finetune.get_config("dataset=vqa_rad,variant=t5_tiny")
  assert vqa.data.decoder_prompt == "prev_output" and vqa.train.ema_decay == 0.9999
  assert vqa.train.freeze == "embedding/embedding" and vqa.optimizer.learning_rate == 5e-5
  assert vqa.train.num_steps == 100 * -(-3_064 // vqa.data.batch_size)
  assert vqa.optimizer.warmup_steps == round(0.04 * vqa.train.num_steps)
  mnist = finetune.get_config("dataset=pathmnist,variant=t5_tiny")
  assert mnist.data.image_normalization == "imagenet" and mnist.data.decoder_prompt == "none"
  assert (mnist.data.max_source_len, mnist.data.max_target_len) == (128, 64)
  nli = finetune.get_config("dataset=mednli,variant=t5_tiny")
  assert nli.data.decoder_prompt == "src" and nli.optimizer.label_smoothing == 0.0
  assert nli.data.max_target_len == 512 + 30 and nli.optimizer.learning_rate == 7e-5
  summary = finetune.get_config("dataset=meqsum,variant=t5_tiny")
  assert (summary.eval.decode_method, summary.eval.beam_size) == ("beam", 5)
  assert (summary.eval.length_penalty, summary.eval.no_repeat_ngram_size) == (0.7, 3)
  caption = finetune.get_config("dataset=peir_gross,variant=t5_tiny")
  assert config_lib.resolve_model_config(caption.model).image_size == 480
  assert caption.optimizer.learning_rate == 1e-5 and caption.eval.no_repeat_ngram_size == 3
  other = finetune.get_config("dataset=roco,variant=t5_tiny")  # no published recipe: family's
  assert other.data.decoder_prompt == "none" and other.train.num_steps == 10_000


def test_zeroshot_tasks_are_held_out_of_the_instruct_mixture():
  from configs import zeroshot
  config = zeroshot.get_config()
  assert config.eval.tasks
  assert not set(config.eval.tasks) & {name for name, _ in config.data.mixture}
