r"""Ahead-of-time plan of a run on a TPU topology, compiled on this machine through libtpu.

  python -m biomed_jax.plan --config=configs/xlarge_instruct.py --topology=v5p-64
  python -m biomed_jax.plan --config=configs/demo.py --topology=2xv5p-8   # two slices

Compiles the trainer's own train step (its function, state and batch shardings, donation,
remat, gradient accumulation, EMA) from abstract shapes, nothing allocated, and prints per
chip: HBM (arguments, outputs, temporaries; whether it fits the chip), the FLOPs of one step
from the compiler's cost analysis (scanned layers: extrapolated from unrolled 1-2 layer
compiles, see step_cost) beside the 6 * N * tokens estimate, and a roofline bound on
the step time, max(FLOPs / peak FLOP/s, bytes accessed / HBM bandwidth), with the MFU it
allows. Needs libtpu (`pip install -e '.[tpu]'`). `--topology` is an accelerator type as
Cloud TPU names it (v4-32, v5e-256 / v5litepod-256, v5p-64, v6e-64), `Nx` in front for N
slices (the config's mesh.dcn_data must then be N), or a libtpu topology (v5p:2x2x2).
`--search` finds the per-chip batch x remat policy x fsdp/tensor split that fits with the
best bound: estimated from shapes, the best few confirmed by compiling (plan_search.py).
"""

import dataclasses
import math
import os
import re
import sys
import time

from absl import app, flags
import flax.linen as nn
import jax
from ml_collections import config_flags
import numpy as np

from biomed_jax import config_lib, plan_search, sharding
from biomed_jax.model import EncoderDecoder, lora
from biomed_jax.training import optimizer, state as state_lib, step as step_lib


@dataclasses.dataclass(frozen=True)
class Chip:
  name: str  # libtpu's topology prefix
  cores_in_name: int  # accelerator types count TensorCores: chips = N / cores_in_name
  dims: int  # torus dimensions of a slice
  peak_bf16_flops: float  # per chip
  hbm_bytes: float
  hbm_bytes_per_s: float
  source: str
  # libtpu's chip configuration: v4 runs its two TensorCores as one device (megacore), as a
  # Cloud TPU v4 VM does; libtpu's default would make each core a device.
  chip_config_name: str | None = None


# Per-chip figures from Cloud TPU's system architecture pages.
CHIPS = {
    "v4": Chip("v4", 2, 3, 275e12, 32 * 2**30, 1228e9,
               "https://cloud.google.com/tpu/docs/v4", chip_config_name="megacore"),
    "v5e": Chip("v5e", 1, 2, 197e12, 16 * 2**30, 819e9,
                "https://cloud.google.com/tpu/docs/v5e"),
    "v5p": Chip("v5p", 2, 3, 459e12, 95 * 2**30, 2765e9,
                "https://cloud.google.com/tpu/docs/v5p"),
    "v6e": Chip("v6e", 1, 2, 918e12, 32 * 2**30, 1640e9,
                "https://cloud.google.com/tpu/docs/v6e"),
}
_ALIASES = {"v5litepod": "v5e", "v5lite": "v5e"}


@dataclasses.dataclass(frozen=True)
class Target:
  chip: Chip
  topology: str  # libtpu name, one slice: "v5p:2x4x4"
  num_slices: int
  chips: int  # all slices


# Slice shapes of the accelerator types Cloud TPU sells, by chip count.
_SHAPES = {
    3: {4: "2x2x1", 8: "2x2x2", 16: "2x2x4", 32: "2x4x4", 64: "4x4x4", 128: "4x4x8",
        256: "4x8x8", 512: "8x8x8"},
    2: {1: "1x1", 4: "2x2", 8: "2x4", 16: "4x4", 32: "4x8", 64: "8x8", 128: "8x16",
        256: "16x16"},
}


def _slice_shape(chips: int, dims: int) -> str:
  if chips not in _SHAPES[dims]:
    raise ValueError(f"{chips} chips: not a known slice size ({sorted(_SHAPES[dims])}); "
                     "give the topology as e.g. v5p:2x2x2")
  return _SHAPES[dims][chips]


def parse_topology(text: str) -> Target:
  """"v5p-64", "2xv5p-8", "v5e-256", "v5p:2x2x2" -> Target."""
  match = re.fullmatch(r"(?:(\d+)x)?([a-z0-9]+?)(?:-(\d+)|:([\dx]+))", text.strip())
  if not match:
    raise ValueError(f"--topology={text!r}: expected e.g. v5p-64, 2xv5p-8 or v5p:2x2x2")
  slices, family, count, shape = match.groups()
  family = _ALIASES.get(family, family)
  if family not in CHIPS:
    raise ValueError(f"--topology={text!r}: unknown chip {family!r}; known: {sorted(CHIPS)}")
  chip = CHIPS[family]
  if count:
    if int(count) % chip.cores_in_name:
      raise ValueError(f"--topology={text!r}: {family} sizes count {chip.cores_in_name} "
                       "cores per chip")
    chips = int(count) // chip.cores_in_name
    shape = _slice_shape(chips, chip.dims)
  else:
    chips = math.prod(int(s) for s in shape.split("x"))
  num_slices = int(slices or 1)
  return Target(chip, f"{family}:{shape}", num_slices, chips * num_slices)


def topology_devices(target: Target) -> list:
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
  # Compiling needs no chip: let several planners (or tests) load libtpu at once.
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
  kwargs = {"num_slices": target.num_slices} if target.num_slices > 1 else {}
  if target.chip.chip_config_name:
    kwargs["chip_config_name"] = target.chip.chip_config_name
  return list(topologies.get_topology_desc(platform="tpu", topology_name=target.topology,
                                           **kwargs).devices)


@dataclasses.dataclass
class Compiled:
  compiled: object
  params: int
  lower_s: float
  compile_s: float
  mesh: dict


def compile_train_step(config, devices, compiler_options: dict | None = None) -> Compiled:
  """The trainer's train step (biomed_jax.train), lowered and compiled from abstract inputs
  for `devices` (simulated CPU devices or a TPU topology's)."""
  model_cfg = config_lib.resolve_model_config(config.model)
  mesh = sharding.make_mesh(config.mesh, devices)
  rules = sharding.rules_from_config(config.sharding.rules)
  model = EncoderDecoder(model_cfg)
  freeze = lora.frozen_pattern(model_cfg, config.train.freeze)  # as biomed_jax/train.py
  tx = optimizer.make_optimizer(config.optimizer, config.train.num_steps, freeze)
  inputs = state_lib.example_inputs(model_cfg, config.data.batch_size,
                                    config.data.max_source_len, config.data.max_target_len)
  abstract = state_lib.abstract_state(model, tx, inputs, config.train.ema_decay > 0)
  shardings = state_lib.state_shardings(abstract, mesh, rules)
  abstract_state = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                                nn.meta.unbox(abstract), shardings)
  batch_sharding = sharding.batch_sharding(mesh, rules)
  abstract_batch = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=batch_sharding)
                    for k, v in inputs.items()}
  train_step = step_lib.jit_train_step(
      step_lib.make_train_step(model, tx, config.optimizer.label_smoothing,
                               config.train.grad_accum_steps, config.train.ema_decay, freeze,
                               config.train.loss_normalization),
      shardings, batch_sharding)
  with sharding.mesh_context(mesh, rules):
    start = time.perf_counter()
    lowered = train_step.lower(abstract_state, abstract_batch)
    lowered_s = time.perf_counter() - start
    compiled = lowered.compile(compiler_options=compiler_options)
    compile_s = time.perf_counter() - start - lowered_s
  return Compiled(compiled, state_lib.count_params(abstract.params), lowered_s, compile_s,
                  dict(mesh.shape))


def tokens_per_step(config) -> int:
  """Encoder (image + text) and decoder positions of one global batch."""
  model_cfg = config_lib.resolve_model_config(config.model)
  return config.data.batch_size * (model_cfg.num_image_tokens + config.data.max_source_len +
                                   config.data.max_target_len)


def _cost(compiled) -> tuple[float, float]:
  """(FLOPs, bytes accessed) of one chip's program (SPMD), as the compiler counts them."""
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", 0.0)), float(cost.get("bytes accessed", 0.0))


# XLA:TPU turns an FSDP all-gather (or reduce-scatter) feeding a matmul into a loop of
# collective permutes, each step multiplying one shard (a "windowed einsum"); its cost
# analysis counts that loop's body once, so above 4 chips the FLOPs of every FSDP matmul
# read 4/chips of the truth (seen with libtpu on v5p:2x4x4: 0.13 of a plain matmul's FLOPs).
# The cost is therefore taken from a compile without them: the same arithmetic, unlooped.
COUNTING_OPTIONS = {"xla_tpu_enable_windowed_einsum_for_all_gather": False,
                    "xla_tpu_enable_windowed_einsum_for_reduce_scatter": False}


def step_cost(config, devices) -> tuple[float, float, str]:
  """(FLOPs, bytes accessed, how counted) of one whole train step per chip.

  XLA's cost analysis counts a loop's body once, not once per iteration: the compiler's own
  loops (windowed einsums, see COUNTING_OPTIONS) are switched off for counting, and a step
  with scanned layers (or gradient accumulation) is compiled unrolled at depths (1, 1),
  (2, 1) and (1, 2), one micro-batch, and the cost, linear in each depth, is extrapolated
  to the real depths and micro-batches (the optimizer update then counts once per
  micro-batch: a slight overestimate).
  """
  accum = config.train.grad_accum_steps
  model = config_lib.resolve_model_config(config.model)
  count = lambda c: np.array(_cost(compile_train_step(c, devices, COUNTING_OPTIONS).compiled))
  if not model.scan_layers and accum == 1:
    return (*count(config), "compiler, windowed einsums off")
  costs = {}
  for depths in ((1, 1), (2, 1), (1, 2)):
    shallow = config.copy_and_resolve_references()
    with shallow.unlocked():
      shallow.model.scan_layers = False
      shallow.model.num_encoder_layers, shallow.model.num_decoder_layers = depths
      shallow.train.grad_accum_steps = 1
      shallow.data.batch_size = config.data.batch_size // accum
    costs[depths] = count(shallow)
  per_encoder_layer = costs[2, 1] - costs[1, 1]
  per_decoder_layer = costs[1, 2] - costs[1, 1]
  total = accum * (costs[1, 1] + (model.num_encoder_layers - 1) * per_encoder_layer +
                   (model.num_decoder_layers - 1) * per_decoder_layer)
  return float(total[0]), float(total[1]), "compiler, depth extrapolated from 1-2 layers"


def report(config, target: Target, result: Compiled,
           cost: tuple[float, float, str] | None = None) -> dict:
  """Per-chip memory, FLOPs and the roofline bound of one compiled step; `cost` from
  step_cost (default: the compiled step's own count)."""
  memory = result.compiled.memory_analysis()
  hbm = (memory.argument_size_in_bytes + memory.output_size_in_bytes +
         memory.temp_size_in_bytes - memory.alias_size_in_bytes)
  flops, accessed, counted = cost or (*_cost(result.compiled), "compiler")
  estimate = 6 * result.params * tokens_per_step(config) / target.chips
  chip = target.chip
  step_s = max(flops / chip.peak_bf16_flops, accessed / chip.hbm_bytes_per_s)
  return {
      "variant": config.model.variant, "topology": target.topology,
      "slices": target.num_slices, "chips": target.chips, "mesh": result.mesh,
      "params": result.params, "tokens_per_step": tokens_per_step(config),
      "hbm_arguments_gib": memory.argument_size_in_bytes / 2**30,
      "hbm_outputs_gib": memory.output_size_in_bytes / 2**30,
      "hbm_temporaries_gib": memory.temp_size_in_bytes / 2**30,
      "hbm_aliased_gib": memory.alias_size_in_bytes / 2**30,
      "hbm_total_gib": hbm / 2**30, "hbm_chip_gib": chip.hbm_bytes / 2**30,
      "fits": hbm <= chip.hbm_bytes, "flops_per_chip": flops, "flops_counted": counted,
      "flops_6nt_per_chip": estimate, "bytes_accessed_per_chip": accessed,
      "roofline_step_s": step_s,
      "mfu_bound": estimate / chip.peak_bf16_flops / step_s if step_s else float("nan"),
      "lower_s": result.lower_s, "compile_s": result.compile_s, "chip_source": chip.source,
  }


def format_table(row: dict) -> str:
  lines = [
      f"{row['variant']} on {row['topology']} x {row['slices']} slice(s) = {row['chips']} "
      f"chips, mesh {row['mesh']}, {row['params']:,} parameters, "
      f"{row['tokens_per_step']:,} tokens per step",
      "| per chip | value |", "|---|---|",
      f"| HBM arguments / outputs / temporaries (aliased) | {row['hbm_arguments_gib']:.2f} / "
      f"{row['hbm_outputs_gib']:.2f} / {row['hbm_temporaries_gib']:.2f} "
      f"({row['hbm_aliased_gib']:.2f}) GiB |",
      f"| HBM total / chip | {row['hbm_total_gib']:.2f} / {row['hbm_chip_gib']:.0f} GiB: "
      f"{'fits' if row['fits'] else 'does NOT fit'} |",
      f"| FLOPs per step ({row['flops_counted']}) | {row['flops_per_chip']:.3e} |",
      f"| FLOPs per step (6 N tokens / chips) | {row['flops_6nt_per_chip']:.3e} |",
      f"| bytes accessed per step | {row['bytes_accessed_per_chip']:.3e} |",
      f"| roofline step time | {row['roofline_step_s'] * 1e3:.1f} ms |",
      f"| MFU bound (6 N tokens / roofline) | {row['mfu_bound']:.1%} |",
      f"| lower + compile on this machine | {row['lower_s']:.1f} + {row['compile_s']:.1f} s |",
      f"chip figures: {row['chip_source']}",
  ]
  return "\n".join(lines)


def plan(config, topology: str) -> dict:
  target = parse_topology(topology)
  devices = topology_devices(target)
  if len(devices) != target.chips:
    raise ValueError(f"--topology={topology}: libtpu gave {len(devices)} devices, expected "
                     f"{target.chips}")
  result = compile_train_step(config, devices)
  return report(config, target, result, step_cost(config, devices))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    if flags.FLAGS.search:
      target = parse_topology(flags.FLAGS.topology)
      best, tried, considered = plan_search.search(
          flags.FLAGS.config, target, topology_devices(target), compile_train_step,
          flags.FLAGS.search_compiles)
      print(plan_search.format_search(best, tried, considered, target))
      return
    row = plan(flags.FLAGS.config, flags.FLAGS.topology)
  except ValueError as e:
    sys.exit(f"error: {e}")
  print(format_table(row))


if __name__ == "__main__":
  # Defined here, not on import: biomed_jax.main defines --config too.
  config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
  flags.DEFINE_string("topology", None, "e.g. v5p-64, 2xv5p-8, v6e-64, v5p:2x2x2")
  flags.DEFINE_bool("search", False, "Find the per-chip batch, remat policy and fsdp/tensor "
                    "split that fits with the best bound (biomed_jax/plan_search.py).")
  flags.DEFINE_integer("search_compiles", 4, "With --search: compiles at most.")
  flags.mark_flags_as_required(["config", "topology"])
  app.run(main)
