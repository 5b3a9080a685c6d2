"""Fine-tuning on one benchmark dataset: BiomedGPT's own recipe where it published one, else
its family's recipe.

  --config=configs/finetune.py:dataset=vqa_rad,variant=biomedgpt_base
Datasets: any task name of biomed_jax/data/tasks.py (vqa_rad, slake, path_vqa, pmc_vqa,
pathmnist ..., iu_xray, mimic_cxr, roco, peir_gross, mednli, meqsum, pubmedqa, medqa,
medmcqa, ...), prepared first with python -m biomed_jax.data.prepare (data_dir below).
Start from weights with --config.init_from=DIR (e.g. a converted BiomedGPT or T5, or an
instruct run); for released BiomedGPT weights also pass their tokenizer folder,
--config.data.tokenizer=DIR (vocab.json + merges.txt [+ dict.txt]).

BiomedGPT's recipes (taokz/BiomedGPT run scripts, reference/ofa.md): Adam(0.9, 0.999),
eps 1e-8, weight decay 0.01, clip 1.0; learning rate, epochs, warmup share, image size,
source/target lengths, label smoothing, decoder prompt, EMA, frozen token embeddings, image
normalisation and decoding per dataset as in BIOMEDGPT_RECIPES. Epochs become steps through
the training-split sizes in TRAIN_EXAMPLES (published sizes, for this conversion only:
override --config.train.num_steps for another split). The learning rate decays linearly to 0
after warmup (fairseq's polynomial decay with power 1).
"""

import math

from biomed_jax import config_lib
from biomed_jax.data.tasks import MEDMNIST_SUBSETS, get_task

# Per family: (learning rate, steps, batch) in BiomedGPT's range for Base-size fine-tuning.
RECIPES = {
    "vqa": (5e-5, 10_000, 64),
    "image_classification": (5e-5, 5_000, 64),
    "captioning": (5e-5, 10_000, 32),
    "text_understanding": (3e-5, 5_000, 32),
    "summarization": (3e-5, 5_000, 16),
    "question_answering": (3e-5, 5_000, 16),
    "instruction": (3e-5, 5_000, 16),
}

# BiomedGPT's published per-dataset settings. lengths: (source, answer) tokens; with a decoder
# prompt the decoder holds source + answer. freeze_embeddings: the shared token table.
_VQA = dict(lr=5e-5, epochs=100, warmup=0.04, image_size=384, lengths=(80, 40),
            label_smoothing=0.1, decoder_prompt="prev_output", ema_decay=0.9999,
            freeze_embeddings=True)
_MEDMNIST = dict(lr=5e-5, epochs=5, warmup=0.6, image_size=384, lengths=(128, 64),
                 label_smoothing=0.1, image_normalization="imagenet")
BIOMEDGPT_RECIPES = {
    "vqa_rad": _VQA, "slake": _VQA, "path_vqa": _VQA,
    "peir_gross": dict(lr=1e-5, epochs=100, warmup=0.06, image_size=480, lengths=(80, 20),
                       label_smoothing=0.1, beam_size=5, no_repeat_ngram_size=3,
                       keep_best_by="peir_gross/cider"),
    **{name: _MEDMNIST for name in MEDMNIST_SUBSETS},
    "mednli": dict(lr=7e-5, epochs=200, warmup=0.06, lengths=(512, 30), label_smoothing=0.0,
                   decoder_prompt="src"),
    "meqsum": dict(lr=1e-3, epochs=300, warmup=0.06, lengths=(512, 128), label_smoothing=0.1,
                   beam_size=5, length_penalty=0.7, no_repeat_ngram_size=3),
}

# Training-split sizes as published (VQA-RAD, SLAKE English, PathVQA, PEIR Gross (approx.),
# MedMNIST v2, MedNLI, MeQSum), used only to turn epochs into steps.
TRAIN_EXAMPLES = {
    "vqa_rad": 3_064, "slake": 4_919, "path_vqa": 19_755, "peir_gross": 6_000,
    "pathmnist": 89_996, "chestmnist": 78_468, "dermamnist": 7_007, "octmnist": 97_477,
    "pneumoniamnist": 4_708, "retinamnist": 1_080, "breastmnist": 546, "bloodmnist": 11_959,
    "tissuemnist": 165_466, "organamnist": 34_581, "organcmnist": 13_000,
    "organsmnist": 13_940, "mednli": 11_232, "meqsum": 500,
}
TOKEN_EMBEDDINGS = "embedding/embedding"  # train.freeze regex: the shared token table


def _family_recipe(c, task) -> None:
  lr, steps, batch = RECIPES[task.family]
  c.optimizer.learning_rate = lr
  c.optimizer.warmup_steps = steps // 20
  c.train.num_steps = steps
  c.data.batch_size = batch
  c.train.ema_decay = 0.9999 if task.family == "vqa" else 0.0  # BiomedGPT's VQA recipe
  c.eval.every_steps = steps // 5


def _biomedgpt_recipe(c, task, recipe: dict) -> None:
  _, _, batch = RECIPES[task.family]
  c.data.batch_size = batch
  steps = recipe["epochs"] * math.ceil(TRAIN_EXAMPLES[task.name] / batch)
  c.train.num_steps = steps
  c.optimizer.update(learning_rate=recipe["lr"], warmup_steps=round(recipe["warmup"] * steps),
                     decay="linear", end_learning_rate_factor=0.0, b1=0.9, b2=0.999,
                     eps=1e-8, weight_decay=0.01, grad_clip_norm=1.0,
                     label_smoothing=recipe["label_smoothing"])
  source, answer = recipe["lengths"]
  prompt = recipe.get("decoder_prompt", "none")
  c.data.max_source_len = source
  c.data.max_target_len = answer + (source if prompt != "none" else 0)
  c.data.decoder_prompt = prompt
  c.data.image_normalization = recipe.get("image_normalization", "unit")
  if "image_size" in recipe:
    c.model.image_size = recipe["image_size"]
  c.train.ema_decay = recipe.get("ema_decay", 0.0)
  c.train.freeze = TOKEN_EMBEDDINGS if recipe.get("freeze_embeddings") else ""
  c.train.keep_best_by = recipe.get("keep_best_by", "")
  c.eval.decode_method = "beam" if "beam_size" in recipe else "greedy"
  c.eval.beam_size = recipe.get("beam_size", c.eval.beam_size)
  c.eval.length_penalty = recipe.get("length_penalty", 1.0)
  c.eval.no_repeat_ngram_size = recipe.get("no_repeat_ngram_size", 0)
  c.eval.every_steps = max(steps // 10, 1)


def get_config(arg=None):
  args = config_lib.parse_arg(arg, dataset="vqa_rad", variant="biomedgpt_base")
  task = get_task(args["dataset"])
  c = config_lib.base_config(args["variant"])
  c.data.mixture = ((task.name, 1.0),)
  config_lib.use_task_lengths(c)
  if task.name in BIOMEDGPT_RECIPES:
    _biomedgpt_recipe(c, task, BIOMEDGPT_RECIPES[task.name])
  else:
    _family_recipe(c, task)
  c.eval.split = config_lib.held_out_split(task.name)
  return c
