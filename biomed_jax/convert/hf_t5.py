r"""Converts a Hugging Face T5 / Flan-T5 / SciFive-style checkpoint into the project's format.

  python -m biomed_jax.convert.hf_t5 --hf_dir=DIR --out=OUT [--scan_layers=true]

DIR holds config.json and model.safetensors (or a sharded model.safetensors.index.json, or
pytorch_model.bin, which needs PyTorch). OUT is readable by biomed_jax.model.from_pretrained
and by the trainer's --config.init_from. The import is text-only: the vision encoder is
initialised fresh when a config with images starts from these weights.
"""

import json
import os
from collections.abc import Callable

from absl import app, flags
import jax
import numpy as np

from biomed_jax.model.config import VARIANTS, ModelConfig
from biomed_jax.model.pretrained import save_pretrained

FFN_FROM_HF = {"relu": "relu", "gelu": "gelu", "gated-gelu": "gated-gelu",
               "gated-silu": "gated-silu"}


def model_config_from_hf(hf: dict, scan_layers: bool = True,
                         vision_variant: str = "t5_base",
                         tied_weights: bool = True) -> ModelConfig:
  if hf.get("model_type", "t5") not in ("t5", "mt5", "umt5"):
    raise ValueError(f"config.json model_type={hf.get('model_type')!r} is not a T5 model")
  ffn = hf.get("feed_forward_proj", "relu")
  if ffn not in FFN_FROM_HF:
    raise ValueError(f"config.json feed_forward_proj={ffn!r} is not supported; "
                     f"supported: {sorted(FFN_FROM_HF)}")
  # Transformers 4 marks T5 v1.1 with tie_word_embeddings=false (separate lm_head, no logit
  # scaling); transformers 5 always ties the weights and says scale_decoder_outputs instead.
  scale = hf.get("scale_decoder_outputs", hf.get("tie_word_embeddings", True))
  missing = [k for k in ("vocab_size", "d_model", "num_heads", "d_kv", "d_ff", "num_layers")
             if k not in hf]
  if missing:
    raise ValueError(f"config.json lacks {missing}: not a complete T5 config")
  vision = VARIANTS[vision_variant]
  return ModelConfig(
      vocab_size=hf["vocab_size"], d_model=hf["d_model"], num_heads=hf["num_heads"],
      head_dim=hf["d_kv"], d_ff=hf["d_ff"], num_encoder_layers=hf["num_layers"],
      num_decoder_layers=hf.get("num_decoder_layers") or hf["num_layers"],
      ffn_type=FFN_FROM_HF[ffn], norm_type="rms", use_bias=False,
      layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-6),
      tie_embeddings=tied_weights, scale_tied_logits=bool(scale), attention_scale=None,
      relative_attention_num_buckets=hf.get("relative_attention_num_buckets", 32),
      relative_attention_max_distance=hf.get("relative_attention_max_distance", 128),
      dropout_rate=hf.get("dropout_rate", 0.1), vision_layers=vision["vision_layers"],
      vision_width=vision["vision_width"], scan_layers=scan_layers)


def read_hf_weights(hf_dir: str) -> dict[str, np.ndarray]:
  """All tensors of the checkpoint as float32 numpy arrays, by their HF names."""
  single = os.path.join(hf_dir, "model.safetensors")
  index = os.path.join(hf_dir, "model.safetensors.index.json")
  torch_bin = os.path.join(hf_dir, "pytorch_model.bin")
  if os.path.exists(single) or os.path.exists(index):
    from safetensors.numpy import load_file
    files = [single] if os.path.exists(single) else sorted(
        {os.path.join(hf_dir, f) for f in json.load(open(index))["weight_map"].values()})
    weights = {}
    for f in files:
      try:
        weights.update(load_file(f))
      except Exception as e:  # truncated or not a safetensors file
        raise ValueError(f"{f} cannot be read as safetensors ({e})") from e
  elif os.path.exists(torch_bin):
    try:
      import torch
    except ImportError as e:
      raise ImportError(f"{torch_bin} is a PyTorch pickle: install PyTorch to read it "
                        "(pip install -e '.[torch]'), or save the model as safetensors") from e
    state = torch.load(torch_bin, map_location="cpu", weights_only=True)
    weights = {k: v.float().numpy() for k, v in state.items()}
  else:
    raise FileNotFoundError(f"no weights in {hf_dir}: expected model.safetensors, "
                            "model.safetensors.index.json or pytorch_model.bin")
  return {k: np.asarray(v, np.float32) for k, v in weights.items()}


def _linear(w: np.ndarray) -> np.ndarray:
  return w.T  # torch Linear stores [out, in]; Flax kernels are [in, out]


def convert_params(weights: dict[str, np.ndarray], cfg: ModelConfig) -> dict:
  """HF tensor names -> the EncoderDecoder parameter tree (text parts only)."""
  h, dh, d = cfg.num_heads, cfg.head_dim, cfg.d_model
  used = set()

  def take(name):
    if name not in weights:
      raise KeyError(f"checkpoint has no tensor {name!r} (config says "
                     f"{cfg.num_encoder_layers}/{cfg.num_decoder_layers} layers, "
                     f"ffn={cfg.ffn_type})")
    used.add(name)
    return weights[name]

  def attention(prefix):
    return {"query": {"kernel": _linear(take(f"{prefix}.q.weight")).reshape(d, h, dh)},
            "key": {"kernel": _linear(take(f"{prefix}.k.weight")).reshape(d, h, dh)},
            "value": {"kernel": _linear(take(f"{prefix}.v.weight")).reshape(d, h, dh)},
            "out": {"kernel": _linear(take(f"{prefix}.o.weight")).reshape(h, dh, d)}}

  def mlp(prefix):
    names = ("wi_0", "wi_1", "wo") if cfg.ffn_type.startswith("gated") else ("wi", "wo")
    return {n: {"kernel": _linear(take(f"{prefix}.DenseReluDense.{n}.weight"))} for n in names}

  norm = lambda name: {"norm": {"scale": take(name)}}
  encoder_layers = []
  for i in range(cfg.num_encoder_layers):
    p = f"encoder.block.{i}.layer"
    encoder_layers.append({"attention_norm": norm(f"{p}.0.layer_norm.weight"),
                           "attention": attention(f"{p}.0.SelfAttention"),
                           "mlp_norm": norm(f"{p}.1.layer_norm.weight"), "mlp": mlp(f"{p}.1")})
  decoder_layers = []
  for i in range(cfg.num_decoder_layers):
    p = f"decoder.block.{i}.layer"
    decoder_layers.append({
        "self_attention_norm": norm(f"{p}.0.layer_norm.weight"),
        "self_attention": attention(f"{p}.0.SelfAttention"),
        "cross_attention_norm": norm(f"{p}.1.layer_norm.weight"),
        "cross_attention": attention(f"{p}.1.EncDecAttention"),
        "mlp_norm": norm(f"{p}.2.layer_norm.weight"), "mlp": mlp(f"{p}.2")})

  embedding_name = "shared.weight" if "shared.weight" in weights else "encoder.embed_tokens.weight"
  params = {
      "embedding": {"embedding": take(embedding_name)},
      "encoder": {
          "relative_position_bias": {"embedding": take(
              "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")},
          "final_norm": norm("encoder.final_layer_norm.weight"),
          **_layers(encoder_layers, cfg.scan_layers)},
      "decoder": {
          "relative_position_bias": {"embedding": take(
              "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")},
          "final_norm": norm("decoder.final_layer_norm.weight"),
          **_layers(decoder_layers, cfg.scan_layers)},
  }
  if not cfg.tie_embeddings:
    params["lm_head"] = {"kernel": _linear(take("lm_head.weight"))}
  # Copies of the shared embedding that some checkpoints store under other names.
  aliases = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"}
  unused = sorted(set(weights) - used - aliases)
  if unused:
    raise ValueError(f"checkpoint tensors not understood (not a plain T5?): {unused[:8]}")
  return params


def _layers(layers: list[dict], scan: bool) -> dict:
  if scan:  # one stacked tree with a leading layer axis, as nn.scan stores it
    return {"layers": jax.tree.map(lambda *xs: np.stack(xs), *layers)}
  return {f"layers_{i}": layer for i, layer in enumerate(layers)}


def _has_separate_lm_head(weights: dict[str, np.ndarray]) -> bool:
  head, shared = weights.get("lm_head.weight"), weights.get("shared.weight")
  return head is not None and (shared is None or not np.array_equal(head, shared))


def convert(hf_dir: str, out: str, scan_layers: bool = True,
            vision_variant: str = "t5_base",
            log: Callable[[str], None] = print) -> ModelConfig:
  config_path = os.path.join(hf_dir, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{config_path} not found: --hf_dir must be a Hugging Face model "
                            "folder (config.json + weights)")
  with open(config_path) as f:
    try:
      hf_config = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{config_path} is not valid JSON ({e})") from e
  weights = read_hf_weights(hf_dir)
  cfg = model_config_from_hf(hf_config, scan_layers, vision_variant,
                             tied_weights=not _has_separate_lm_head(weights))
  params = convert_params(weights, cfg)
  spiece = os.path.join(hf_dir, "spiece.model")
  save_pretrained(out, cfg, {"params": params},
                  tokenizer_path=spiece if os.path.exists(spiece) else None)
  count = sum(int(np.prod(w.shape)) for w in jax.tree.leaves(params))
  log(f"converted {hf_dir} -> {out}: {count:,} parameters, ffn={cfg.ffn_type}, "
      f"tied={cfg.tie_embeddings}, scan_layers={scan_layers}")
  return cfg


FLAGS = flags.FLAGS
flags.DEFINE_string("hf_dir", None, "Hugging Face model folder (config.json + weights).")
flags.DEFINE_string("out", None, "Output folder (must not hold a checkpoint yet).")
flags.DEFINE_bool("scan_layers", True, "Store layers stacked for nn.scan (the default model).")
flags.DEFINE_enum("vision_variant", "t5_base", sorted(VARIANTS),
                  "Size of the (freshly initialised) vision encoder recorded in the config.")


def main(argv):
  del argv
  if not FLAGS.hf_dir or not FLAGS.out:
    raise app.UsageError("--hf_dir and --out are required")
  convert(FLAGS.hf_dir, FLAGS.out, FLAGS.scan_layers, FLAGS.vision_variant)


if __name__ == "__main__":
  app.run(main)
