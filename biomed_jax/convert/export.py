r"""Exports a model tuned here back to PyTorch users.

  python -m biomed_jax.convert.export --checkpoint=RUN_OR_FOLDER [--step=N] \
      --format=hf_ofa --out=DIR        # BiomedGPT flavour: the HF OFA port's folder
  python -m biomed_jax.convert.export --checkpoint=... --format=hf_t5 --out=DIR

--checkpoint is a training workdir (latest checkpoint or --step; the EMA weights when the run
kept them) or a pretrained folder. DIR gets config.json + model.safetensors and the tokenizer
files saved with the weights: `OFAModel.from_pretrained(DIR)` (modelscope's port) or
`T5ForConditionalGeneration.from_pretrained(DIR)` gives the same logits as the model here.
The T5 export is text-only (transformers' T5 has no vision encoder; it is left out, said so).
A LoRA model's adapters are merged into its kernels first (biomed_jax.model.lora.merge);
`--format=lora_adapters` writes the adapters alone instead (lora.save_adapters).
"""

import json
import os
import shutil
import sys

from absl import app, flags
import jax
import numpy as np

from biomed_jax import weights as weights_lib
from biomed_jax.convert import ofa_layout
from biomed_jax.model import ModelConfig, lora

FORMATS = ("hf_ofa", "hf_t5", "lora_adapters")
TOKENIZER_FILES = ("vocab.json", "merges.txt", "encoder.json", "vocab.bpe", "dict.txt",
                   "tokenizer.model")
_FFN_TO_HF = {"relu": "relu", "gelu": "gelu", "gated-gelu": "gated-gelu",
              "gated-silu": "gated-silu"}


def _numpy(tree):
  return jax.tree.map(lambda x: np.asarray(x, np.float32), tree)


def t5_config(cfg: ModelConfig) -> dict:
  wrong = [f"{k}={getattr(cfg, k)!r}" for k, want in (
      ("position_bias", "t5"), ("norm_type", "rms"), ("use_bias", False), ("normformer", False),
      ("head_scale", False), ("type_embedding", False), ("embedding_norm", False),
      ("attention_scale", None), ("pad_id", 0), ("eos_id", 1), ("bos_id", 0))
      if getattr(cfg, k) != want]
  if wrong:
    raise ValueError("this model is not in the T5 layout transformers loads: " + ", ".join(wrong))
  return {
      "model_type": "t5", "architectures": ["T5ForConditionalGeneration"],
      "vocab_size": cfg.vocab_size, "d_model": cfg.d_model, "d_kv": cfg.head_dim,
      "d_ff": cfg.d_ff, "num_layers": cfg.num_encoder_layers,
      "num_decoder_layers": cfg.num_decoder_layers, "num_heads": cfg.num_heads,
      "relative_attention_num_buckets": cfg.relative_attention_num_buckets,
      "relative_attention_max_distance": cfg.relative_attention_max_distance,
      "dropout_rate": cfg.dropout_rate, "layer_norm_epsilon": cfg.layer_norm_epsilon,
      "feed_forward_proj": _FFN_TO_HF[cfg.ffn_type],
      "tie_word_embeddings": cfg.tie_embeddings and cfg.scale_tied_logits,
      "is_encoder_decoder": True, "pad_token_id": 0, "eos_token_id": 1,
      "decoder_start_token_id": 0,
  }


def t5_weights(params: dict, cfg: ModelConfig) -> dict[str, np.ndarray]:
  """The inverse of biomed_jax.convert.hf_t5.convert_params (text parts)."""
  h, dh, d = cfg.num_heads, cfg.head_dim, cfg.d_model
  out = {}

  def layer(side, i):
    stack = params[side]
    if cfg.scan_layers:
      return jax.tree.map(lambda x: x[i], stack["layers"])
    return stack[f"layers_{i}"]

  def attention(prefix, p):
    for ours, theirs in (("query", "q"), ("key", "k"), ("value", "v")):
      out[f"{prefix}.{theirs}.weight"] = p[ours]["kernel"].reshape(d, h * dh).T
    out[f"{prefix}.o.weight"] = p["out"]["kernel"].reshape(h * dh, d).T

  def mlp(prefix, p):
    for name, value in p.items():
      out[f"{prefix}.DenseReluDense.{name}.weight"] = value["kernel"].T

  for i in range(cfg.num_encoder_layers):
    p, prefix = layer("encoder", i), f"encoder.block.{i}.layer"
    out[f"{prefix}.0.layer_norm.weight"] = p["attention_norm"]["norm"]["scale"]
    attention(f"{prefix}.0.SelfAttention", p["attention"])
    out[f"{prefix}.1.layer_norm.weight"] = p["mlp_norm"]["norm"]["scale"]
    mlp(f"{prefix}.1", p["mlp"])
  for i in range(cfg.num_decoder_layers):
    p, prefix = layer("decoder", i), f"decoder.block.{i}.layer"
    out[f"{prefix}.0.layer_norm.weight"] = p["self_attention_norm"]["norm"]["scale"]
    attention(f"{prefix}.0.SelfAttention", p["self_attention"])
    out[f"{prefix}.1.layer_norm.weight"] = p["cross_attention_norm"]["norm"]["scale"]
    attention(f"{prefix}.1.EncDecAttention", p["cross_attention"])
    out[f"{prefix}.2.layer_norm.weight"] = p["mlp_norm"]["norm"]["scale"]
    mlp(f"{prefix}.2", p["mlp"])
  for side in ("encoder", "decoder"):
    out[f"{side}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = (
        params[side]["relative_position_bias"]["embedding"])
    out[f"{side}.final_layer_norm.weight"] = params[side]["final_norm"]["norm"]["scale"]
  out["shared.weight"] = params["embedding"]["embedding"]
  out["encoder.embed_tokens.weight"] = out["decoder.embed_tokens.weight"] = out["shared.weight"]
  out["lm_head.weight"] = (params["lm_head"]["kernel"].T if not cfg.tie_embeddings
                           else out["shared.weight"])
  return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}


def export(checkpoint: str, out: str, fmt: str, step: int | None = None, log=print) -> None:
  if fmt not in FORMATS:
    raise ValueError(f"--format={fmt!r}: use one of {FORMATS}")
  if os.path.exists(os.path.join(out, "config.json")):
    raise FileExistsError(f"--out={out} already holds a model; choose a new folder")
  weights = weights_lib.load(checkpoint, step)
  cfg, variables = weights.model_config, _numpy(weights.variables)
  if fmt == "lora_adapters":
    lora.save_adapters(out, cfg, variables["params"])
    log(f"saved the LoRA adapters of {checkpoint} -> {out}")
    return
  if cfg.lora_rank:
    variables = {**variables, "params": lora.merge(variables["params"], cfg)}
    cfg = lora.base_config(cfg)
    log("note: LoRA adapters merged into the exported weights")
  if fmt == "hf_ofa":
    ofa_layout.check_expressible(cfg)
    config, tensors = ofa_layout.hf_config(cfg), ofa_layout.from_variables(variables, cfg)
  else:
    config, tensors = t5_config(cfg), t5_weights(variables["params"], cfg)
    if "vision" in variables["params"]:
      log("note: the vision encoder is not exported (transformers' T5 is text-only)")
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  os.makedirs(out, exist_ok=True)
  save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
  with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
  copied = [name for name in TOKENIZER_FILES if weights.file(name)]
  for name in copied:
    shutil.copyfile(weights.file(name), os.path.join(out, name))
  where = f"step {weights.step}{' EMA' if weights.ema else ''}" if weights.kind == "run" else (
      "pretrained folder")
  log(f"exported {checkpoint} ({where}) as {fmt}: {len(tensors)} tensors"
      f"{', tokenizer ' + ', '.join(copied) if copied else ''} -> {out}")


def _define_flags():
  """Flags exist only when run as a program (importing several converters must not clash)."""
  flags.DEFINE_string("checkpoint", None, "Training workdir or pretrained folder.")
  flags.DEFINE_integer("step", None, "A workdir's checkpoint step (default: the latest).")
  flags.DEFINE_enum("format", "hf_ofa", FORMATS,
                    "hf_ofa (BiomedGPT flavour), hf_t5, or lora_adapters (adapters alone).")
  flags.DEFINE_string("out", None, "Output folder (new).")


def main(argv):
  del argv
  FLAGS = flags.FLAGS  # pylint: disable=invalid-name
  try:
    export(FLAGS.checkpoint, FLAGS.out, FLAGS.format, FLAGS.step)
  except (ValueError, FileNotFoundError, FileExistsError) as e:  # WeightsError included
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  _define_flags()
  flags.mark_flags_as_required(["checkpoint", "out"])
  app.run(main)
