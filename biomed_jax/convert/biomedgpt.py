r"""Converts released BiomedGPT / OFA weights into the project's pretrained format.

  python -m biomed_jax.convert.biomedgpt --checkpoint=SRC --out=OUT [--ema] [--scan_layers]

SRC is either a fairseq checkpoint (`biomedgpt_base.pt`, as released: the model in fp16 or
fp32, its flags in cfg["model"], EMA weights in extra_state) or an HF-format OFA folder
(config.json with model_type "ofa" + model.safetensors or pytorch_model.bin). `.pt` and `.bin`
files are read by biomed_jax.convert.torch_files: no PyTorch, no fairseq, no pickled code run.
`--ema` takes the EMA weights (the fp32 copy when the run kept one). Every tensor is mapped
(the ResNet's BatchNorm statistics too); a missing or unknown tensor, or a layout the model
cannot express, stops the conversion before anything is written.

The BiomedGPT tokenizer found beside SRC (vocab.json + merges.txt, or encoder.json + vocab.bpe,
and dict.txt), or in --tokenizer_dir, is checked against the checkpoint's vocabulary and ids
and saved into OUT, so OUT is also the tokenizer path (biomed_jax.data.tokenizer).
OUT loads with biomed_jax.model.from_pretrained(OUT) and as --config.init_from=OUT.
"""

import json
import os
import sys
from collections.abc import Callable

from absl import app, flags
import numpy as np

from biomed_jax.convert import ofa_layout, torch_files
from biomed_jax.data import ofa_tokenizer
from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.model.config import ModelConfig
from biomed_jax.model.pretrained import save_pretrained



def _read_fairseq(path: str, ema: bool) -> tuple[dict, dict]:
  checkpoint = torch_files.load(path)
  if not isinstance(checkpoint, dict) or "model" not in checkpoint:
    raise torch_files.CheckpointError(
        f"{path}: a torch file, but not a fairseq checkpoint (no 'model' entry; found "
        f"{sorted(checkpoint)[:6] if isinstance(checkpoint, dict) else type(checkpoint)})")
  cfg = checkpoint.get("cfg") or {}
  args = cfg.get("model") if isinstance(cfg, dict) else None
  args = args if args is not None else checkpoint.get("args")
  if args is None:
    raise torch_files.CheckpointError(f"{path}: no model arguments (cfg['model'] or args)")
  task = cfg.get("task") if isinstance(cfg, dict) else None
  hf = ofa_layout.hf_config_from_fairseq(args, task)
  state = checkpoint["model"]
  if ema:
    extra = checkpoint.get("extra_state") or {}
    state = extra.get("ema_fp32_params") or extra.get("ema")
    if state is None:
      raise torch_files.CheckpointError(f"{path}: --ema, but the checkpoint kept no EMA "
                                        "weights (extra_state has no 'ema')")
  weights = ofa_layout.fairseq_to_hf(torch_files.to_numpy(state))
  return hf, weights


def _read_hf(folder: str) -> tuple[dict, dict]:
  config_path = os.path.join(folder, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{folder}: no config.json (an HF-format OFA folder has "
                            "config.json + model.safetensors or pytorch_model.bin)")
  try:
    with open(config_path) as f:
      hf = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f"{config_path}: not valid JSON ({e})") from e
  safetensors_path = os.path.join(folder, "model.safetensors")
  bin_path = os.path.join(folder, "pytorch_model.bin")
  if os.path.exists(safetensors_path):
    from safetensors import SafetensorError  # pylint: disable=g-import-not-at-top
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    try:
      weights = load_file(safetensors_path)
    except (SafetensorError, OSError) as e:
      raise torch_files.CheckpointError(f"{safetensors_path}: unreadable ({e})") from e
  elif os.path.exists(bin_path):
    weights = torch_files.to_numpy(torch_files.load(bin_path))
  else:
    raise FileNotFoundError(f"{folder}: no model.safetensors or pytorch_model.bin")
  return hf, weights


def read_checkpoint(source: str, ema: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
  """(OFAConfig dict, {reference name: float array}) of a fairseq `.pt` or an HF folder."""
  if os.path.isdir(source):
    if ema:
      raise ValueError(f"--ema: {source} is an HF-format folder, which holds one set of "
                       "weights (EMA copies live only in fairseq checkpoints)")
    return _read_hf(source)
  return _read_fairseq(source, ema)


def find_tokenizer(source: str, tokenizer_dir: str | None):
  """The BiomedGPT tokenizer in --tokenizer_dir (which must hold one) or beside SRC, else
  None."""
  if tokenizer_dir:
    return tokenizer_lib.load_tokenizer(tokenizer_dir, flag="--tokenizer_dir")
  folder = source if os.path.isdir(source) else os.path.dirname(os.path.abspath(source))
  if ofa_tokenizer.find_files(folder) is None:
    return None
  return tokenizer_lib.load_tokenizer(folder, flag="--checkpoint's folder")


def convert(source: str, out: str, ema: bool = False, scan_layers: bool = True,
            tokenizer_dir: str | None = None, image_size: int | None = None,
            log: Callable[[str], None] = print) -> ModelConfig:
  if os.path.exists(os.path.join(out, "variables")):
    raise FileExistsError(f"--out={out} already holds a checkpoint; choose a new folder")
  hf, weights = read_checkpoint(source, ema)
  overrides = {"image_size": image_size} if image_size else {}
  cfg = ofa_layout.model_config_from_hf(hf, scan_layers=scan_layers, **overrides)
  tokenizer = find_tokenizer(source, tokenizer_dir)
  if tokenizer is not None:
    if tokenizer.vocab_size != cfg.logit_vocab_size:
      raise ValueError(f"the tokenizer in {tokenizer_dir or 'the checkpoint folder'} has "
                       f"{tokenizer.vocab_size} ids but the checkpoint's vocabulary "
                       f"{cfg.logit_vocab_size}: it belongs to another model")
    tokenizer_lib.check_ids(tokenizer, cfg)
  variables = ofa_layout.to_variables(weights, cfg)
  save_pretrained(out, cfg, variables)
  if tokenizer is not None:
    tokenizer_lib.save_tokenizer(tokenizer, out)
  count = sum(np.size(v) for v in _leaves(variables.get("params", {})))
  log(f"converted {source}{' (EMA weights)' if ema else ''}: {count:,} parameters, "
      f"{cfg.num_encoder_layers}/{cfg.num_decoder_layers} layers, d_model {cfg.d_model} -> {out}")
  if not tokenizer:
    log("warning: no tokenizer files (vocab.json + merges.txt + dict.txt) beside the "
        "checkpoint: the weights converted, but predict and training need them; copy them "
        f"into {out} or pass --tokenizer_dir")
  return cfg


def _leaves(tree):
  if isinstance(tree, dict):
    for value in tree.values():
      yield from _leaves(value)
  else:
    yield tree


def _define_flags():
  """Flags exist only when run as a program (importing several converters must not clash)."""
  flags.DEFINE_string("checkpoint", None, "fairseq .pt file or HF-format OFA folder.")
  flags.DEFINE_string("out", None, "Output folder (new).")
  flags.DEFINE_bool("ema", False, "Take the EMA weights of a fairseq checkpoint.")
  flags.DEFINE_bool("scan_layers", True, "Store layers stacked for nn.scan (the default "
                    "model setting); must match config.model.scan_layers where it is loaded.")
  flags.DEFINE_integer("image_size", None, "Image resolution the model is used at (default: "
                       "the checkpoint's patch_image_size, else 384).")
  flags.DEFINE_string("tokenizer_dir", None, "Folder with the tokenizer files, if not beside "
                      "the checkpoint.")


def main(argv):
  del argv
  FLAGS = flags.FLAGS  # pylint: disable=invalid-name
  try:
    convert(FLAGS.checkpoint, FLAGS.out, FLAGS.ema, FLAGS.scan_layers, FLAGS.tokenizer_dir,
            FLAGS.image_size)
  except (ValueError, FileNotFoundError, FileExistsError) as e:  # CheckpointError included
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  _define_flags()
  flags.mark_flags_as_required(["checkpoint", "out"])
  app.run(main)
