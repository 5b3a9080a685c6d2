"""Building blocks for the config files in configs/.

A config file composes three choices: model size (`config.model.variant`), task or mixture
(`config.data`), and scale (`config.mesh`, batch size). Every key exists in the base config, so
a mistyped `--config.foo=...` is an error that names the key.
"""

import dataclasses

import ml_collections
from ml_collections import config_dict

from biomed_jax.model.config import ModelConfig, model_config


def model_section(variant: str) -> ml_collections.ConfigDict:
  """`variant` picks a row of biomed_jax.model.config.VARIANTS; any other field left None
  takes the variant's (or the default) value, e.g. --config.model.dtype=bfloat16."""
  section = ml_collections.ConfigDict({"variant": variant})
  for field in dataclasses.fields(ModelConfig):
    kind = {"vision_layers": tuple, "attention_scale": float}.get(field.name,
                                                                   type(field.default))
    section[field.name] = config_dict.placeholder(kind)
  return section


def resolve_model_config(section: ml_collections.ConfigDict) -> ModelConfig:
  overrides = {k: v for k, v in section.items() if k != "variant" and v is not None}
  return model_config(section.variant, **overrides)


# The shipped real sample mixture: all six task families, no download needed.
SAMPLE_MIXTURE = (("sample_image_classification", 1.0), ("sample_vqa", 1.0),
                  ("sample_captioning", 1.0), ("sample_text_understanding", 1.0),
                  ("sample_summarization", 1.0), ("sample_qa", 1.0))

def parse_arg(arg: str | None, **defaults) -> dict:
  """"dataset=slake,variant=large" -> {"dataset": "slake", "variant": "large"}; keys must be
  among `defaults` (a typo is an error naming it)."""
  values = dict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, sep, value = item.partition("=")
    if not sep or key not in defaults:
      raise ValueError(f"config argument {item!r}: expected key=value with key in "
                       f"{sorted(defaults)}")
    values[key] = value
  return values


def use_task_lengths(c: ml_collections.ConfigDict) -> None:
  """Batch widths = the longest source/target any task of the mixture needs."""
  from biomed_jax.data.tasks import get_task  # pylint: disable=g-import-not-at-top
  tasks = [get_task(name) for name, _ in c.data.mixture]
  c.data.max_source_len = max(t.max_source_len for t in tasks)
  c.data.max_target_len = max(t.max_target_len for t in tasks)


def task_splits(name: str) -> tuple[str, ...]:
  """The splits task `name`'s dataset is published with."""
  from biomed_jax.data import readers  # pylint: disable=g-import-not-at-top
  from biomed_jax.data.tasks import get_task  # pylint: disable=g-import-not-at-top
  return readers.get(get_task(name).dataset).splits


def held_out_split(name: str) -> str:
  """"validation" where the dataset has one, else "test" (VQA-RAD, PMC-VQA, PEIR Gross)."""
  return "validation" if "validation" in task_splits(name) else "test"


def base_config(variant: str = "t5_tiny") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = model_section(variant)
  # Mesh axis sizes; -1 fills the remaining devices. Pods: raise fsdp first, tensor for
  # models whose layers no longer fit one chip's share.
  # dcn_data > 1: that many slices (TPU multislice) joined by the data-center network, each
  # holding a data x fsdp x tensor mesh (biomed_jax.sharding).
  c.mesh = ml_collections.ConfigDict({"data": 1, "fsdp": -1, "tensor": 1, "dcn_data": 1})
  # [logical axis, mesh axis or axes or None] pairs; empty = biomed_jax.sharding.DEFAULT_RULES.
  c.sharding = ml_collections.ConfigDict({"rules": config_dict.placeholder(tuple)})

  c.data = ml_collections.ConfigDict()
  c.data.mixture = ()  # ((task, weight), ...); task names from biomed_jax/data/tasks.py
  c.data.batch_size = 8  # global, over all hosts
  c.data.max_source_len = 128
  c.data.max_target_len = 64
  c.data.data_dir = ""  # prepared ArrayRecord datasets (python -m biomed_jax.data.prepare)
  c.data.sample_root = ""  # the shipped sample mixture; "" = the packaged copy
  # A SentencePiece .model, or a folder with vocab.json + merges.txt [+ dict.txt] (OFA /
  # BiomedGPT's GPT-2 BPE); "" = the shipped biomedical SentencePiece model.
  c.data.tokenizer = ""
  c.data.decoder_prompt = "none"  # none | src | prev_output (biomed_jax.data.prompts)
  c.data.image_normalization = "unit"  # [-1, 1]; or "imagenet" (mean/std)
  # Training only: several text-only examples per row (biomed_jax/data/packing.py), for
  # mixtures of short texts; evaluation batches stay unpacked.
  c.data.packing = False
  c.data.worker_count = 0  # Grain worker processes per host
  c.data.bad_records_train = "skip"  # or "fail"
  c.data.bad_records_eval = "fail"

  c.optimizer = ml_collections.ConfigDict(dict(
      learning_rate=1e-4, warmup_steps=100, decay="linear", end_learning_rate_factor=0.0,
      b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01, grad_clip_norm=1.0,
      label_smoothing=0.1))

  c.train = ml_collections.ConfigDict(dict(
      num_steps=1000,
      grad_accum_steps=1,  # micro-batches per step (same update, less activation memory)
      # "tokens": the loss is the mean over target tokens; "examples": over examples, each
      # its own token mean, so short answers weigh as much as long captions.
      loss_normalization="tokens",
      ema_decay=0.0,  # > 0 keeps an EMA of the parameters (evaluated instead of the raw ones)
      freeze="",  # regex over parameter paths ("vision/.*") that get no update
      log_every=20,
      checkpoint_every=200,
      keep_checkpoints=3,
      keep_best_by="",  # an eval metric name, e.g. "sample_vqa/accuracy": keep the best ones
      max_consecutive_nonfinite=10,  # then stop: the run is diverging
      record_batch_fingerprints=False,  # audit: WORKDIR/batch_fingerprints.txt
  ))

  c.eval = ml_collections.ConfigDict(dict(
      every_steps=200,
      tasks=(),  # () = every task of the mixture
      split="validation",
      batch_size=16,
      max_examples=0,  # per task, 0 = all
      decode_method="greedy",  # or "beam"
      beam_size=4,
      length_penalty=1.0,
      no_repeat_ngram_size=0,  # > 0: fairseq's n-gram blocking while decoding
  ))
  c.init_from = ""  # a pretrained folder (python -m biomed_jax.convert.hf_t5 ...)
  return c
