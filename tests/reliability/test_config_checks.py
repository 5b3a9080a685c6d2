"""Items 1, 3, 6: a config that cannot run is refused before anything is read, compiled or
written, naming the key and the value; the checkpoint is saved before the evaluation runs."""

import glob
import importlib
import os

import pytest

from biomed_jax import config_checks, evaluation, train
from biomed_jax.config_checks import ConfigError
from configs import finetune
from reliability_helpers import make_config

CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob("configs/*.py"))


def test_an_eval_split_a_task_lacks_is_refused_before_anything_runs(tmp_path):
  workdir = tmp_path / "run"
  with pytest.raises(ConfigError, match=r"eval.split='test': task 'sample_vqa' has only"):
    train.run(make_config(**{"eval.split": "test", "eval.every_steps": 1}), str(workdir),
              "train_and_evaluate")
  assert not workdir.exists()  # refused before the workdir was even made


@pytest.mark.parametrize("name", CONFIGS)
def test_every_shipped_config_passes_the_check(name):
  config = importlib.import_module(f"configs.{name}").get_config()
  config.data.data_dir = "/prepared"  # the benchmark configs read prepared datasets
  mode = "evaluate" if name == "zeroshot" else "train_and_evaluate"
  config_checks.check(config, mode)


@pytest.mark.parametrize("dataset", ["vqa_rad", "pmc_vqa", "peir_gross", "slake", "pathmnist"])
def test_finetune_evaluates_on_a_split_the_dataset_has(dataset):
  config = finetune.get_config(f"dataset={dataset}")
  config.data.data_dir = "/prepared"
  config_checks.check(config, "train_and_evaluate")


def test_a_dataset_with_only_a_train_split_cannot_be_evaluated():
  config = finetune.get_config("dataset=llava_med")
  config.data.data_dir = "/prepared"
  config_checks.check(config, "train")
  with pytest.raises(ConfigError, match=r"task 'llava_med' has only \('train',\)"):
    config_checks.check(config, "train_and_evaluate")


def test_the_checkpoint_is_saved_before_a_failing_evaluation(tmp_path, monkeypatch):
  def broken(self, variables, step):
    raise RuntimeError("evaluation met a bad image")
  monkeypatch.setattr(evaluation.Evaluator, "run", broken)
  with pytest.raises(RuntimeError, match="bad image"):
    train.run(make_config(**{"eval.every_steps": 2}), str(tmp_path), "train_and_evaluate")
  assert os.path.isdir(tmp_path / "checkpoints" / "2")  # the final step survived


def test_keep_checkpoints_zero_is_refused_and_deletes_nothing(run_copy):
  before = sorted(os.listdir(os.path.join(run_copy, "checkpoints")))
  assert "2" in before
  with pytest.raises(ConfigError, match=r"train.keep_checkpoints=0: must be >= 1"):
    train.run(make_config(**{"train.keep_checkpoints": 0, "train.num_steps": 4}), run_copy,
              "train")
  assert sorted(os.listdir(os.path.join(run_copy, "checkpoints"))) == before


@pytest.mark.parametrize("key,value", [
    ("optimizer.learning_rate", -1e-3), ("optimizer.learning_rate", float("nan")),
    ("train.num_steps", 0), ("train.num_steps", -5), ("train.checkpoint_every", 0),
    ("train.log_every", 0), ("eval.every_steps", 0), ("train.grad_accum_steps", 0)])
def test_nonsense_numbers_are_refused_naming_key_and_value(tmp_path, key, value):
  with pytest.raises(ConfigError) as error:
    train.run(make_config(**{key: value}), str(tmp_path / "run"), "train")
  assert f"config.{key}={value!r}" in str(error.value)
  assert not (tmp_path / "run").exists()


def test_every_problem_is_listed_at_once(tmp_path):
  with pytest.raises(ConfigError) as error:
    train.run(make_config(**{"optimizer.learning_rate": -1.0, "train.log_every": 0}),
              str(tmp_path), "train")
  assert "learning_rate=-1.0" in str(error.value) and "log_every=0" in str(error.value)


def test_num_steps_below_the_latest_checkpoint_is_refused(run_copy):
  with pytest.raises(ConfigError, match=r"num_steps=1 is below the latest checkpoint, step 2"):
    train.run(make_config(**{"train.num_steps": 1}), run_copy, "train")
