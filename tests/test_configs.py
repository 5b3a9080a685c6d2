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
  config = finetune.get_config("dataset=slake,variant=large")
  assert config.data.mixture == (("slake", 1.0),)
  assert config_lib.resolve_model_config(config.model).d_model == 1024
  assert (config.data.max_source_len, config.data.max_target_len) == (80, 40)
  with pytest.raises(ValueError, match="datset=slake"):
    finetune.get_config("datset=slake")


def test_zeroshot_tasks_are_held_out_of_the_instruct_mixture():
  from configs import zeroshot
  config = zeroshot.get_config()
  assert config.eval.tasks
  assert not set(config.eval.tasks) & {name for name, _ in config.data.mixture}
