"""`python -m biomed_jax.plan --search`: the per-chip batch x remat policy x fsdp/tensor split
that fits a TPU topology with the best roofline bound, with few compiles.

Every candidate is first *estimated* from shapes alone (no compile): the train state and its
gradients spread over all chips, plus each chip's activations for its examples under the
remat policy, plus the output layer's logits and the ResNet's feature maps. Candidates are
ranked by the bound they allow: the compute a policy recomputes (full remat redoes the
forward pass; `dots_with_no_batch_dims` the attention scores) raises the step time per token;
at equal cost, more examples per chip and less tensor parallelism (its collectives are not in
the roofline) come first. Then the best estimated-to-fit candidates are *confirmed* by
compiling the real train step, best first, until one fits (at most `max_compiles`); the
estimate and the compiled figure are printed side by side, so the estimate's error is seen.
"""

import dataclasses
import math
import re

import flax.linen as nn
import jax

from biomed_jax import config_lib
from biomed_jax.model import EncoderDecoder, lora
from biomed_jax.training import optimizer, state as state_lib

POLICIES = ("none", "dots_with_no_batch_dims", "full")
BATCHES = (1, 2, 4, 8, 16, 32, 64)  # examples per chip (per data-parallel rank)
TENSOR = (1, 2, 4, 8)
HEADROOM = 0.9  # an estimate must leave 10% of HBM free to be tried


@dataclasses.dataclass
class Candidate:
  per_chip_batch: int
  remat_policy: str
  tensor: int
  global_batch: int
  estimate_gib: float
  recompute: float  # step FLOPs / FLOPs without remat
  compiled_gib: float | None = None
  bound_ms: float | None = None  # recompute x 6 N tokens / chips / peak FLOP/s

  def overrides(self) -> list[str]:
    return [f"--config.data.batch_size={self.global_batch}",
            f"--config.model.remat_policy={self.remat_policy}",
            f"--config.mesh.tensor={self.tensor}", "--config.mesh.fsdp=-1"]


def _bytes(dtype: str) -> int:
  return 2 if "16" in dtype else 4


def _state_bytes(config) -> float:
  """Parameters, optimizer state (EMA included) and a gradient per trained parameter."""
  model_cfg = config_lib.resolve_model_config(config.model)
  freeze = lora.frozen_pattern(model_cfg, config.train.freeze)
  tx = optimizer.make_optimizer(config.optimizer, config.train.num_steps, freeze)
  abstract = nn.meta.unbox(state_lib.abstract_state(
      EncoderDecoder(model_cfg), tx, state_lib.example_inputs(model_cfg, 1),
      config.train.ema_decay > 0))
  size = lambda x: math.prod(x.shape) * x.dtype.itemsize
  frozen = re.compile(freeze) if freeze else None
  gradients = sum(size(x) for path, x in jax.tree_util.tree_flatten_with_path(abstract.params)[0]
                  if not (frozen and frozen.fullmatch(optimizer.param_path(path))))
  return sum(size(x) for x in jax.tree.leaves(abstract)) + gradients


def activation_bytes_per_example(model_cfg, source_len: int, target_len: int,
                                 policy: str) -> float:
  """What one example keeps alive for the backward pass, summed over the stacks."""
  d, f = model_cfg.d_model, model_cfg.d_ff
  inner = model_cfg.num_heads * model_cfg.head_dim
  g = 2 if model_cfg.ffn_type.startswith("gated") else 1
  act = _bytes(model_cfg.dtype)
  encoder_len = model_cfg.num_image_tokens + source_len

  def per_layer(tokens: int, keys: int, cross: bool) -> tuple[float, float]:
    """(saved elements under `policy`, all elements of the layer) for one example."""
    dots = tokens * (3 * inner + d + g * f + d) + (keys * 2 * inner + tokens * 2 * inner
                                                   if cross else 0)
    scores = 3 * model_cfg.num_heads * tokens * (tokens + (keys if cross else 0))
    everything = dots + tokens * (6 * d + 2 * g * f) + scores
    saved = {"full": tokens * d, "dots_with_no_batch_dims": dots + tokens * d,
             "dots": dots + tokens * d + scores, "none": everything}[policy]
    return saved, everything

  enc_saved, enc_all = per_layer(encoder_len, encoder_len, False)
  dec_saved, dec_all = per_layer(target_len, encoder_len, True)
  layers = (model_cfg.num_encoder_layers * enc_saved + model_cfg.num_decoder_layers * dec_saved
            + max(enc_all, dec_all))  # one layer fully alive while its backward runs
  logits = target_len * (model_cfg.logit_vocab_size or model_cfg.vocab_size) * 4 * 3
  # ResNet stages 1-3 (no remat): each bottleneck keeps its three conv outputs, normalised
  # and activated, at the stage's resolution (stride 4, 8, 16).
  width, size = model_cfg.vision_width, model_cfg.image_size
  vision = width * (size // 2) ** 2 * 3
  for stage, blocks in enumerate(model_cfg.vision_layers):
    w = width * 2 ** stage
    vision += blocks * (w + w + 4 * w) * (size // 2 ** (stage + 2)) ** 2 * 3
  return layers * act + logits + vision * act


def recompute_factor(model_cfg, source_len: int, policy: str) -> float:
  """Step FLOPs with `policy` over those without remat, from one encoder layer."""
  d, f = model_cfg.d_model, model_cfg.d_ff
  inner = model_cfg.num_heads * model_cfg.head_dim
  g = 2 if model_cfg.ffn_type.startswith("gated") else 1
  tokens = model_cfg.num_image_tokens + source_len
  dense = 2 * (4 * d * inner + (g + 1) * d * f)  # forward FLOPs per token
  attention = 4 * inner * tokens
  base = 3 * (dense + attention)
  extra = {"none": 0, "dots": 0, "dots_with_no_batch_dims": attention,
           "full": dense + attention}[policy]
  return (base + extra) / base


def candidates(config, chips: int, hbm_bytes: float) -> list[Candidate]:
  """Every split and policy, estimated and ranked best first; those estimated not to fit
  are left out."""
  model_cfg = config_lib.resolve_model_config(config.model)
  src, tgt = config.data.max_source_len, config.data.max_target_len
  data = config.mesh.data * config.mesh.get("dcn_data", 1)
  state_per_chip = _state_bytes(config) / chips
  found = []
  for tensor in TENSOR:
    if chips % (tensor * data) or model_cfg.num_heads % tensor or model_cfg.d_ff % tensor:
      continue
    for policy in POLICIES:
      per_example = activation_bytes_per_example(model_cfg, src, tgt, policy) / tensor
      for batch in BATCHES:
        estimate = state_per_chip + batch * per_example
        if estimate > HEADROOM * hbm_bytes:
          continue
        found.append(Candidate(batch, policy, tensor, batch * chips // tensor,
                               estimate / 2**30, recompute_factor(model_cfg, src, policy)))
  return sorted(found, key=lambda c: (round(c.recompute, 3), -c.per_chip_batch, c.tensor))


def apply(config, candidate: Candidate):
  out = config.copy_and_resolve_references()
  with out.unlocked():
    out.data.batch_size = candidate.global_batch
    out.model.remat_policy = candidate.remat_policy
    out.mesh.tensor = candidate.tensor
    out.mesh.fsdp = -1
  return out


def search(config, target, devices, compile_fn, max_compiles: int = 4):
  """(the best candidate that compiles and fits or None, the candidates compiled in order).
  compile_fn(config, devices) -> plan.Compiled."""
  ranked = candidates(config, target.chips, target.chip.hbm_bytes)
  tried = []
  for candidate in ranked[:max_compiles]:
    shaped = apply(config, candidate)
    result = compile_fn(shaped, devices)
    memory = result.compiled.memory_analysis()
    tokens = candidate.global_batch * (shaped.data.max_source_len + shaped.data.max_target_len
                                       + config_lib.resolve_model_config(
                                           shaped.model).num_image_tokens)
    candidate.bound_ms = (candidate.recompute * 6 * result.params * tokens / target.chips /
                          target.chip.peak_bf16_flops * 1e3)
    candidate.compiled_gib = (memory.argument_size_in_bytes + memory.output_size_in_bytes +
                              memory.temp_size_in_bytes - memory.alias_size_in_bytes) / 2**30
    tried.append(candidate)
    if candidate.compiled_gib * 2**30 <= target.chip.hbm_bytes:
      return candidate, tried, len(ranked)
  return None, tried, len(ranked)


def format_search(best, tried, considered: int, target) -> str:
  lines = [f"search on {target.topology} x {target.num_slices} slice(s): {considered} "
           f"candidates estimated to fit, {len(tried)} compiled",
           "| per-chip batch | remat | tensor | global batch | recompute | compute bound | "
           "estimate GiB | compiled GiB | fits |", "|---|---|---|---|---|---|---|---|---|"]
  for c in tried:
    fits = c.compiled_gib * 2**30 <= target.chip.hbm_bytes
    lines.append(f"| {c.per_chip_batch} | {c.remat_policy} | {c.tensor} | {c.global_batch} | "
                 f"{c.recompute:.2f}x | {c.bound_ms:.1f} ms | {c.estimate_gib:.2f} | {c.compiled_gib:.2f} | "
                 f"{'yes' if fits else 'no'} |")
  if best is None:
    lines.append("no candidate fits: fewer examples per chip than 1, LoRA, or more chips")
  else:
    lines.append("best: " + " ".join(best.overrides()))
  return "\n".join(lines)
