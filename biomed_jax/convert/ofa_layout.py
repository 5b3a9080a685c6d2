"""BiomedGPT/OFA checkpoints <-> the project's model: the config and every tensor, both ways.

The reference layout is the HF port's (`config.json` of model_type "ofa", state-dict names
as in modelscope's modeling_ofa.py). fairseq checkpoints (the released BiomedGPT `.pt`
files) differ only in a few names, renamed first (`fairseq_to_hf`), and in their config, a
flat argparse Namespace (`hf_config_from_fairseq`). Layouts the model cannot express are
refused with the flag named, never approximated.
"""

import math
import re
from collections.abc import Callable, Iterator

from flax import traverse_util
import numpy as np

from biomed_jax.model.config import OFA_FLAVOUR, ModelConfig

RESNET_LAYERS = {"resnet18": (2, 2, 2), "resnet34": (3, 4, 6), "resnet50": (3, 4, 6),
                 "resnet101": (3, 4, 23), "resnet152": (3, 8, 36)}
VOCAB_MULTIPLE = 128  # the embedding table is padded so the vocabulary axis shards evenly

_FAIRSEQ_RENAMES = (
    (r"^encoder\.layers\.(\d+)\.attn_ln\.", r"encoder.layers.\1.self_attn_mid_layer_norm."),
    (r"\.ffn_layernorm\.", ".ffn_layer_norm."),
    (r"^decoder\.layers\.(\d+)\.self_attn_ln\.", r"decoder.layers.\1.self_attn_mid_layer_norm."),
    (r"^decoder\.layers\.(\d+)\.encoder_attn\.", r"decoder.layers.\1.cross_attn."),
    (r"^decoder\.layers\.(\d+)\.encoder_attn_layer_norm\.",
     r"decoder.layers.\1.cross_attn_layer_norm."),
    (r"^decoder\.layers\.(\d+)\.cross_attn_ln\.", r"decoder.layers.\1.cross_attn_mid_layer_norm."),
)
# Derived buffers (rebuilt from the config, never loaded) and bookkeeping entries.
_IGNORED = re.compile(r"(_rp_bucket|image_position_idx|num_batches_tracked|\.version)$|^version$")


def fairseq_to_hf(weights: dict) -> dict:
  renamed = {}
  for name, value in weights.items():
    for pattern, replacement in _FAIRSEQ_RENAMES:
      name = re.sub(pattern, replacement, name)
    renamed[name] = value
  return renamed


def _arg(args, name, default=None):
  return args.get(name, default) if isinstance(args, dict) else getattr(args, name, default)


def hf_config_from_fairseq(args, task_args=None) -> dict:
  """OFAConfig keys from a fairseq checkpoint's flat args; refuses what cannot be expressed."""
  refusals = []
  if not _arg(args, "disable_entangle", False):
    refusals.append("trained without --disable-entangle (the decoder adds positions to its "
                    "token embeddings)")
  for flag in ("scale_resids", "entangle_position_embedding", "encoder_prompt",
               "decoder_prompt", "adapter"):
    if _arg(args, flag, False):
      refusals.append(f"trained with --{flag.replace('_', '-')}")
  for flag in ("encoder_normalize_before", "decoder_normalize_before", "layernorm_embedding",
               "patch_layernorm_embedding", "add_type_embedding", "share_all_embeddings"):
    if not _arg(args, flag, False):
      refusals.append(f"trained without --{flag.replace('_', '-')}")
  if not _arg(args, "no_scale_embedding", True):
    refusals.append("trained without --no-scale-embedding (sqrt(d) embedding scale)")
  if _arg(args, "scale_attn", False) != _arg(args, "scale_fc", False):
    refusals.append("--scale-attn and --scale-fc differ (the model has one NormFormer switch)")
  for a, b in (("encoder_embed_dim", "decoder_embed_dim"),
               ("encoder_attention_heads", "decoder_attention_heads"),
               ("encoder_ffn_embed_dim", "decoder_ffn_embed_dim"),
               ("max_source_positions", "max_target_positions"),
               ("encoder_drop_path_rate", "decoder_drop_path_rate")):
    if _arg(args, b) is not None and _arg(args, a) != _arg(args, b):
      refusals.append(f"--{a.replace('_', '-')}={_arg(args, a)} differs from "
                      f"--{b.replace('_', '-')}={_arg(args, b)}")
  if refusals:
    raise ValueError("this checkpoint's layout cannot be expressed by the BiomedGPT flavour: "
                     + "; ".join(refusals))
  config = {
      "model_type": "ofa", "d_model": _arg(args, "encoder_embed_dim"),
      "encoder_layers": _arg(args, "encoder_layers"), "decoder_layers": _arg(args, "decoder_layers"),
      "encoder_attention_heads": _arg(args, "encoder_attention_heads"),
      "decoder_attention_heads": _arg(args, "encoder_attention_heads"),
      "encoder_ffn_dim": _arg(args, "encoder_ffn_embed_dim"),
      "decoder_ffn_dim": _arg(args, "encoder_ffn_embed_dim"),
      "max_position_embeddings": _arg(args, "max_source_positions", 1024),
      "resnet_type": _arg(args, "resnet_type", "resnet101"),
      "token_bucket_size": _arg(args, "token_bucket_size", 256),
      "image_bucket_size": _arg(args, "image_bucket_size", 42),
      "attn_scale_factor": _arg(args, "attn_scale_factor", 2.0),
      "activation_function": _arg(args, "activation_fn", "gelu"),
      "dropout": _arg(args, "dropout", 0.1),
      "attention_dropout": _arg(args, "attention_dropout", 0.0),
      "activation_dropout": _arg(args, "activation_dropout", 0.0),
      "encoder_drop_path_rate": _arg(args, "encoder_drop_path_rate", 0.0),
      "resnet_drop_path_rate": _arg(args, "resnet_drop_path_rate", 0.0),
      "normformer": bool(_arg(args, "scale_attn", False)),
      "scale_heads": bool(_arg(args, "scale_heads", False)),
      "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "decoder_start_token_id": 0,
  }
  image_size = _arg(task_args or {}, "patch_image_size") or _arg(args, "patch_image_size")
  if image_size:
    config["patch_image_size"] = int(image_size)
  return config


def model_config_from_hf(hf: dict, **overrides) -> ModelConfig:
  """The BiomedGPT-flavour ModelConfig of an OFAConfig dict; refuses other layouts."""
  if hf.get("model_type") != "ofa":
    raise ValueError(f"config.json model_type={hf.get('model_type')!r} is not an OFA model")
  refusals = [f"{key}={hf[key]!r}" for key, allowed in (
      ("use_ofasys", False), ("entangle_position_embedding", False), ("share_attn_bias", False),
      ("scale_embedding", False), ("use_gamma_feature", False), ("add_type_embedding", True),
      ("layernorm_embedding", True), ("patch_layernorm_embedding", True),
      ("encoder_normalize_before", True), ("decoder_normalize_before", True),
      ("share_decoder_input_output_embed", True), ("use_image_feature", True))
      if key in hf and hf[key] != allowed]
  if hf.get("activation_function", "gelu") != "gelu":
    refusals.append(f"activation_function={hf['activation_function']!r}")
  if hf.get("resnet_type", "resnet101") not in RESNET_LAYERS:
    refusals.append(f"resnet_type={hf['resnet_type']!r}")
  for a, b in (("encoder_attention_heads", "decoder_attention_heads"),
               ("encoder_ffn_dim", "decoder_ffn_dim")):
    if hf.get(a) != hf.get(b, hf.get(a)):
      refusals.append(f"{a}={hf.get(a)} != {b}={hf.get(b)}")
  if refusals:
    raise ValueError("config.json describes a layout the BiomedGPT flavour cannot express: "
                     + ", ".join(refusals))
  missing = [k for k in ("d_model", "encoder_layers", "decoder_layers",
                         "encoder_attention_heads", "encoder_ffn_dim") if k not in hf]
  if missing:
    raise ValueError(f"config.json lacks {missing}")
  d, heads = hf["d_model"], hf["encoder_attention_heads"]
  head_dim = d // heads
  vocab = hf.get("vocab_size", 59_457)
  values = dict(
      OFA_FLAVOUR, d_model=d, num_heads=heads, head_dim=head_dim, d_ff=hf["encoder_ffn_dim"],
      num_encoder_layers=hf["encoder_layers"], num_decoder_layers=hf["decoder_layers"],
      vision_layers=RESNET_LAYERS[hf.get("resnet_type", "resnet101")],
      attention_scale=(head_dim * float(hf.get("attn_scale_factor", 2.0))) ** -0.5,
      token_bucket_size=hf.get("token_bucket_size", 256),
      image_position_buckets=hf.get("image_bucket_size", 42),
      max_positions=hf.get("max_position_embeddings", 1024),
      normformer=hf.get("normformer", True), head_scale=hf.get("scale_heads", True),
      vocab_size=math.ceil(vocab / VOCAB_MULTIPLE) * VOCAB_MULTIPLE, logit_vocab_size=vocab,
      pad_id=hf.get("pad_token_id", 1), eos_id=hf.get("eos_token_id", 2),
      bos_id=hf.get("decoder_start_token_id", hf.get("bos_token_id", 0)),
      dropout_rate=hf.get("dropout", 0.1),
      attention_dropout_rate=hf.get("attention_dropout", 0.0),
      activation_dropout_rate=hf.get("activation_dropout", 0.0),
      drop_path_rate=hf.get("encoder_drop_path_rate", 0.0))
  # The training resolution is not part of OFAConfig: BiomedGPT's fairseq checkpoints carry it
  # (patch_image_size), HF folders do not; 384 px (BiomedGPT's VQA setting) where it fits.
  values["image_size"] = int(hf.get("patch_image_size") or
                             min(384, 16 * values["image_position_buckets"]))
  values.update(overrides)
  return ModelConfig.from_dict(values)


def hf_config(cfg: ModelConfig) -> dict:
  """The OFAConfig (config.json) of a BiomedGPT-flavour model, for export."""
  resnet = {layers: name for name, layers in RESNET_LAYERS.items() if name != "resnet34"}
  return {
      "model_type": "ofa", "architectures": ["OFAModel"],
      "vocab_size": cfg.logit_vocab_size or cfg.vocab_size, "d_model": cfg.d_model,
      "encoder_layers": cfg.num_encoder_layers, "decoder_layers": cfg.num_decoder_layers,
      "encoder_attention_heads": cfg.num_heads, "decoder_attention_heads": cfg.num_heads,
      "encoder_ffn_dim": cfg.d_ff, "decoder_ffn_dim": cfg.d_ff,
      "max_position_embeddings": cfg.max_positions, "resnet_type": resnet[cfg.vision_layers],
      "token_bucket_size": cfg.token_bucket_size, "image_bucket_size": cfg.image_position_buckets,
      "attn_scale_factor": 1.0 / (cfg.attention_scale ** 2 * cfg.head_dim),
      "normformer": cfg.normformer, "activation_function": "gelu",
      "dropout": cfg.dropout_rate, "attention_dropout": cfg.attention_dropout,
      "activation_dropout": cfg.activation_dropout,
      "encoder_drop_path_rate": cfg.drop_path_rate, "decoder_drop_path_rate": cfg.drop_path_rate,
      "pad_token_id": cfg.pad_id, "bos_token_id": cfg.bos_id, "eos_token_id": cfg.eos_id,
      "decoder_start_token_id": cfg.bos_id, "forced_eos_token_id": cfg.eos_id,
      "patch_image_size": cfg.image_size, "use_cache": False,
  }


def check_expressible(cfg: ModelConfig) -> None:
  """Export needs the reference's layout: the OFA flavour with every BiomedGPT switch on."""
  wrong = [f"{k}={getattr(cfg, k)!r}" for k, v in OFA_FLAVOUR.items()
           if k in ("position_bias", "norm_type", "use_bias", "type_embedding", "embedding_norm",
                    "ffn_type", "tie_embeddings", "scale_tied_logits")
           and getattr(cfg, k) != v]
  if not cfg.head_scale:
    wrong.append("head_scale=False (the HF port always has per-head scales)")
  if cfg.vision_layers not in RESNET_LAYERS.values():
    wrong.append(f"vision_layers={cfg.vision_layers}")
  if cfg.vision_width != 64:
    wrong.append(f"vision_width={cfg.vision_width}")
  if wrong:
    raise ValueError("this model is not in the BiomedGPT layout the PyTorch reference loads: "
                     + ", ".join(wrong))


# ------------------------------------------------------------------ the tensor-by-tensor map
# Each entry: (reference name, our "collection/path", to_ours, to_reference); "{i}" is a
# layer index (our path then names the stacked "layers" or "layers_{i}").

def _heads_in(cfg):
  h, dh = cfg.num_heads, cfg.head_dim
  return (lambda w: w.T.reshape(w.shape[1], h, dh), lambda k: k.reshape(k.shape[0], -1).T,
          lambda b: b.reshape(h, dh), lambda b: b.reshape(-1))


def _entries(cfg: ModelConfig) -> Iterator[tuple[str, str, Callable, Callable]]:
  same = (lambda x: x, lambda x: x)
  linear = (lambda w: w.T, lambda k: k.T)
  w_in, k_in, b_in, bias_in = _heads_in(cfg)
  h, dh, d = cfg.num_heads, cfg.head_dim, cfg.d_model
  out = (lambda w: w.T.reshape(h, dh, d), lambda k: k.reshape(h * dh, d).T)
  conv = (lambda w: w.transpose(2, 3, 1, 0), lambda k: k.transpose(3, 2, 0, 1))
  vocab = cfg.logit_vocab_size or cfg.vocab_size
  embedding = (lambda w: np.pad(w, ((0, cfg.vocab_size - w.shape[0]), (0, 0))),
               lambda e: e[:vocab])

  def norm(ref, ours):
    yield f"{ref}.weight", f"params/{ours}/norm/scale", *same
    yield f"{ref}.bias", f"params/{ours}/norm/bias", *same

  def dense(ref, ours, kind=linear):
    yield f"{ref}.weight", f"params/{ours}/kernel", *kind
    yield f"{ref}.bias", f"params/{ours}/bias", *same

  def heads(ref, ours):  # a d -> (heads, head_dim) projection
    yield f"{ref}.weight", f"params/{ours}/kernel", w_in, k_in
    yield f"{ref}.bias", f"params/{ours}/bias", b_in, bias_in

  def attention(ref, ours):
    for p, q in (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value")):
      yield from heads(f"{ref}.{p}", f"{ours}/{q}")
    yield from dense(f"{ref}.out_proj", f"{ours}/out", out)
    if cfg.head_scale:
      yield f"{ref}.c_attn", f"params/{ours}/head_scale", *same

  def mlp(ref, ours):
    yield from dense(f"{ref}.fc1", f"{ours}/mlp/wi")
    yield from dense(f"{ref}.fc2", f"{ours}/mlp/wo")
    yield from norm(f"{ref}.final_layer_norm", f"{ours}/mlp_norm")
    if cfg.normformer:
      yield from norm(f"{ref}.ffn_layer_norm", f"{ours}/mlp/hidden_norm")

  def positions(side):
    yield f"{side}.embed_positions.weight", f"params/{side}/positions/text", *same
    yield f"{side}.embed_image_positions.weight", f"params/{side}/positions/image", *same
    yield from norm(f"{side}.pos_ln", f"{side}/positions/text_norm")
    yield from norm(f"{side}.image_pos_ln", f"{side}/positions/image_norm")

  def tables(side):
    yield (f"{side}.token_rel_pos_table_list.{{i}}.weight",
           f"params/{side}/{{layer}}/token_relative_bias", *same)
    yield (f"{side}.image_rel_pos_table_list.{{i}}.weight",
           f"params/{side}/{{layer}}/image_relative_bias", *same)

  yield "encoder.embed_tokens.weight", "params/embedding/embedding", *embedding
  yield "encoder.type_embedding.weight", "params/encoder/type_embedding", *same
  yield from norm("encoder.layernorm_embedding", "encoder/token_norm")
  yield from norm("encoder.patch_layernorm_embedding", "encoder/patch_norm")
  yield from dense("encoder.image_proj", "vision/projection")
  yield from positions("encoder")
  yield from heads("encoder.pos_q_linear", "encoder/position_bias/query")
  yield from heads("encoder.pos_k_linear", "encoder/position_bias/key")
  yield from norm("encoder.layer_norm", "encoder/final_norm")
  yield from tables("encoder")
  layer = "encoder.layers.{i}"
  yield from norm(f"{layer}.self_attn_layer_norm", "encoder/{layer}/attention_norm")
  yield from attention(f"{layer}.self_attn", "encoder/{layer}/attention")
  if cfg.normformer:
    yield from norm(f"{layer}.self_attn_mid_layer_norm", "encoder/{layer}/attention_post_norm")
  yield from mlp(layer, "encoder/{layer}")

  yield from norm("decoder.layernorm_embedding", "decoder/token_norm")
  yield from norm("decoder.code_layernorm_embedding", "decoder/code_token_norm")
  yield from positions("decoder")
  for kind in ("self", "cross"):
    for qk in ("q", "k"):
      yield from heads(f"decoder.{kind}_pos_{qk}_linear",
                       f"decoder/{kind}_position_bias/{dict(q='query', k='key')[qk]}")
  yield from norm("decoder.layer_norm", "decoder/final_norm")
  yield from tables("decoder")
  layer = "decoder.layers.{i}"
  for ref, ours in (("self_attn", "self_attention"), ("cross_attn", "cross_attention")):
    yield from norm(f"{layer}.{ref}_layer_norm", f"decoder/{{layer}}/{ours}_norm")
    yield from attention(f"{layer}.{ref}", f"decoder/{{layer}}/{ours}")
    if cfg.normformer:
      yield from norm(f"{layer}.{ref}_mid_layer_norm", f"decoder/{{layer}}/{ours}_post_norm")
  yield from mlp(layer, "decoder/{layer}")

  # ResNet stages 1-3: torchvision's names (conv1/bn1 stem, layerS.B.convK/bnK, downsample).
  def conv_bn(ref_conv, ref_bn, ours):
    yield f"{ref_conv}.weight", f"params/vision/{ours}/conv/kernel", *conv
    yield f"{ref_bn}.weight", f"params/vision/{ours}/bn/scale", *same
    yield f"{ref_bn}.bias", f"params/vision/{ours}/bn/bias", *same
    yield f"{ref_bn}.running_mean", f"batch_stats/vision/{ours}/bn/mean", *same
    yield f"{ref_bn}.running_var", f"batch_stats/vision/{ours}/bn/var", *same

  resnet = "encoder.embed_images"
  yield from conv_bn(f"{resnet}.conv1", f"{resnet}.bn1", "stem")
  for stage, blocks in enumerate(cfg.vision_layers, start=1):
    for block in range(blocks):
      ref, ours = f"{resnet}.layer{stage}.{block}", f"stage{stage}_block{block}"
      for k in (1, 2, 3):
        yield from conv_bn(f"{ref}.conv{k}", f"{ref}.bn{k}", f"{ours}/conv{k}")
      if block == 0:
        yield from conv_bn(f"{ref}.downsample.0", f"{ref}.downsample.1", f"{ours}/shortcut")


def _expand(cfg: ModelConfig):
  """(reference name, our path, layer index or None, to_ours, to_reference) per tensor."""
  for ref, ours, to_ours, to_ref in _entries(cfg):
    if "{i}" not in ref and "{layer}" not in ours:
      yield ref, ours, None, to_ours, to_ref
      continue
    side = ref.split(".")[0]
    count = cfg.num_encoder_layers if side == "encoder" else cfg.num_decoder_layers
    for i in range(count):
      layer = "layers" if cfg.scan_layers else f"layers_{i}"
      yield ref.format(i=i), ours.format(layer=layer), i if cfg.scan_layers else None, (
          to_ours), to_ref


# Tied copies of the shared embedding in the reference's state dict.
TIED_COPIES = ("decoder.embed_tokens.weight", "decoder.output_projection.weight")


def to_variables(weights: dict[str, np.ndarray], cfg: ModelConfig) -> dict:
  """Reference state dict (HF names, numpy) -> {"params": ..., "batch_stats": ...}. Every
  tensor must be used and every parameter found; both lists are named on failure."""
  weights = {k: v for k, v in weights.items() if not _IGNORED.search(k)}
  shared = weights.get("encoder.embed_tokens.weight")
  for copy in TIED_COPIES:
    if copy in weights:
      if shared is not None and not np.array_equal(weights[copy], shared):
        raise ValueError(f"{copy} differs from encoder.embed_tokens.weight: the checkpoint "
                         "does not share its embeddings, which the BiomedGPT layout requires")
      weights.pop(copy)
  flat, stacked, missing = {}, {}, []
  for ref, ours, index, to_ours, _ in _expand(cfg):
    if ref not in weights:
      missing.append(ref)
      continue
    value = to_ours(np.asarray(weights.pop(ref), np.float32))
    if index is None:
      flat[ours] = value
    else:
      stacked.setdefault(ours, {})[index] = value
  if missing or weights:
    raise ValueError(
        "the checkpoint does not match the BiomedGPT layout of its config: "
        + (f"missing {len(missing)} tensors, e.g. {missing[:6]}" if missing else "")
        + ("; " if missing and weights else "")
        + (f"{len(weights)} tensors not understood, e.g. {sorted(weights)[:6]}"
           if weights else ""))
  for ours, layers in stacked.items():
    flat[ours] = np.stack([layers[i] for i in range(len(layers))])
  return traverse_util.unflatten_dict(flat, sep="/")


def from_variables(variables: dict, cfg: ModelConfig) -> dict[str, np.ndarray]:
  """{"params", "batch_stats"} -> the reference's state dict (HF names), tied copies
  included."""
  def get(path):
    node = variables
    for key in path.split("/"):
      node = node[key]
    return np.asarray(node, np.float32)

  weights = {}
  for ref, ours, index, _, to_ref in _expand(cfg):
    value = get(ours)
    weights[ref] = np.ascontiguousarray(to_ref(value if index is None else value[index]))
  for copy in TIED_COPIES:
    weights[copy] = weights["encoder.embed_tokens.weight"]
  return weights
