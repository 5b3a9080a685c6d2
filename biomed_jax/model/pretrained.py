"""The project's pretrained-weights format: a folder that from_pretrained and init_from read.

  DIR/model_config.json   the ModelConfig (biomed_jax.model.config)
  DIR/variables/          an Orbax checkpoint of {"params": ..., ["batch_stats": ...]}
  DIR/tokenizer.model     the SentencePiece model the vocabulary came from, or
  DIR/vocab.json, merges.txt [, dict.txt]   BiomedGPT's GPT-2 BPE (optional either way;
                          biomed_jax.data.tokenizer.load_tokenizer(DIR) reads both)
"""

import json
import os
import shutil
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from biomed_jax.model.config import ModelConfig
from biomed_jax.model.transformer import EncoderDecoder

CONFIG_FILE = "model_config.json"
VARIABLES_DIR = "variables"
TOKENIZER_FILE = "tokenizer.model"


def save_pretrained(directory: str, config: ModelConfig, variables: dict[str, Any],
                    tokenizer_path: str | None = None) -> None:
  directory = os.path.abspath(directory)
  if os.path.exists(os.path.join(directory, VARIABLES_DIR)):
    raise FileExistsError(f"{directory} already holds a checkpoint; choose a new folder")
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, CONFIG_FILE), "w") as f:
    json.dump(config.to_dict(), f, indent=2)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(os.path.join(directory, VARIABLES_DIR), nn.meta.unbox(variables))
  checkpointer.wait_until_finished()
  if tokenizer_path:
    shutil.copyfile(tokenizer_path, os.path.join(directory, TOKENIZER_FILE))


def _require_checkpoint(directory: str) -> None:
  missing = [name for name in (CONFIG_FILE, VARIABLES_DIR)
             if not os.path.exists(os.path.join(directory, name))]
  if missing:
    raise FileNotFoundError(
        f"{directory} is not a biomed_jax pretrained folder: missing {', '.join(missing)} "
        f"(expected {CONFIG_FILE} and {VARIABLES_DIR}/, as written by "
        "python -m biomed_jax.convert.hf_t5 or the trainer)")


def load_config(directory: str) -> ModelConfig:
  _require_checkpoint(directory)
  with open(os.path.join(directory, CONFIG_FILE)) as f:
    return ModelConfig.from_dict(json.load(f))


def load_variables(directory: str, target: Any = None) -> dict[str, Any]:
  """Restores the variables; `target` (a tree of jax.ShapeDtypeStruct with shardings) places
  them directly onto a mesh."""
  _require_checkpoint(directory)
  path = os.path.join(os.path.abspath(directory), VARIABLES_DIR)
  return ocp.StandardCheckpointer().restore(path, target)


class PretrainedModel:
  """A model with its weights: logits = model(encoder_tokens, decoder_tokens, images=None)."""

  def __init__(self, config: ModelConfig, variables: dict[str, Any],
               tokenizer_path: str | None = None):
    self.config = config
    self.module = EncoderDecoder(config)
    self.variables = variables
    self.tokenizer_path = tokenizer_path
    self._apply = jax.jit(self.module.apply)

  def __call__(self, encoder_tokens, decoder_tokens, images=None, image_mask=None):
    encoder_tokens = jnp.asarray(encoder_tokens, jnp.int32)
    decoder_tokens = jnp.asarray(decoder_tokens, jnp.int32)
    if images is not None and "vision" not in self.variables["params"]:
      raise ValueError("these weights have no vision encoder (a text-only import): call "
                       "without images, or fine-tune with images first")
    return self._apply(self.variables, encoder_tokens, decoder_tokens, images, image_mask)


def from_pretrained(directory: str) -> PretrainedModel:
  """The model of a pretrained folder; `.tokenizer_path` is the folder when it holds
  tokenizer files (give it to biomed_jax.data.tokenizer.load_tokenizer), else None."""
  from biomed_jax.data.tokenizer import tokenizer_kind  # pylint: disable=g-import-not-at-top
  config = load_config(directory)
  return PretrainedModel(config, load_variables(directory),
                         directory if tokenizer_kind(directory) else None)
