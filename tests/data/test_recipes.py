"""Instruction-tuning mixture recipes: subsets, weights, templates, held-out tasks."""

import math

import pytest

from biomed_jax.data import families
from biomed_jax.data import prepare
from biomed_jax.data import prepared
from biomed_jax.data import recipes
from biomed_jax.data import tasks
import native_fixtures as nf


def test_subset_with_weights_templates_and_held_out_tasks():
  recipe = recipes.InstructRecipe(
      tasks=("slake", "path_vqa", "llava_med", "box", "mednli"),
      weights={"slake": 0.8, "llava_med": 2.0}, weighting="equal",
      templates={"path_vqa": (0, 2)}, held_out=("vqa_rad",),
      held_out_families=(families.TEXT_UNDERSTANDING,))
  mixture, evaluate = recipe.build()
  assert mixture == (("slake", 0.8), ("path_vqa@0,2", 1.0), ("llava_med", 2.0), ("box", 1.0))
  assert evaluate == ("mednli", "vqa_rad")  # recipe order: tasks, then held_out
  restricted = tasks.get_task("path_vqa@0,2")
  full = tasks.get_task("path_vqa").templates
  assert restricted.templates == (full[0], full[2]) and restricted.dataset == "path_vqa"


def test_sqrt_weights_follow_the_prepared_training_sizes(tmp_path):
  nf.write_chatdoctor(str(tmp_path / "chatdoctor"))
  nf.write_mednli(str(tmp_path / "mednli"))
  out = str(tmp_path / "out")
  prepare.prepare("healthcaremagic", str(tmp_path / "chatdoctor"), out)
  prepare.prepare("mednli", str(tmp_path / "mednli"), out)
  recipe = recipes.InstructRecipe(tasks=("healthcaremagic", "mednli", "meqsum"),
                                  reference_size=4, floor=0.1, cap=10.0)
  weights = dict(recipe.build(data_dir=out)[0])
  for name in ("healthcaremagic", "mednli"):
    records = len(prepared.PreparedSource(name, out, "train"))
    assert weights[name] == pytest.approx(math.sqrt(records / 4), abs=1e-3)
  assert weights["meqsum"] == 1.0  # not prepared: no size to weigh by
  capped = recipes.InstructRecipe(tasks=("healthcaremagic",), reference_size=1, cap=2.0)
  assert dict(capped.build(data_dir=out)[0]) == {"healthcaremagic": 2.0}


def test_a_trained_task_may_not_read_a_held_out_dataset():
  with pytest.raises(ValueError, match=r"\['vqa_rad'\] read the dataset of a held-out task"):
    recipes.InstructRecipe(tasks=("vqa_rad", "slake"), held_out=("vqa_rad@1",)).build()
  with pytest.raises(ValueError, match="outside the recipe"):
    recipes.InstructRecipe(tasks=("slake",), weights={"slak": 1.0}).build()
  with pytest.raises(KeyError, match="templates are indices"):
    recipes.InstructRecipe(tasks=("slake",), templates={"slake": (9,)}).build()


def test_the_shipped_recipe_covers_every_family_and_holds_zero_shot_datasets_out():
  from configs import xlarge_instruct  # pylint: disable=g-import-not-at-top
  from configs import zeroshot  # pylint: disable=g-import-not-at-top
  mixture, held_out = recipes.BIOMEDGPT_INSTRUCT.build()
  trained = [tasks.get_task(name) for name, _ in mixture]
  assert {t.family for t in trained} == set(families.FAMILIES)
  assert not {t.dataset for t in trained} & {tasks.get_task(h).dataset for h in held_out}
  assert {"llava_med", "bioinstruct", "box"} <= {t.name for t in trained}
  assert "rsna_pneumonia" in held_out
  assert xlarge_instruct.get_config().data.mixture == mixture
  assert zeroshot.get_config().eval.tasks == held_out
