r"""CPU train-step time and state size: LoRA vs full fine-tuning, side by side.

  python benchmarks/lora_step_time.py [--variant=biomedgpt_tiny --rank=16 --rounds=7]

Both train steps are compiled first; then rounds alternate full / LoRA (`--steps` steps
each, timed after block_until_ready), so machine load drifts over both alike. Medians per
step, and the train state's parameter and optimizer bytes, are appended to
benchmarks/results/lora.md with the machine and date.
"""

import datetime
import os
import statistics
import time

from absl import app, flags
import jax
import ml_collections
import numpy as np

import machine  # benchmarks/machine.py
from biomed_jax import sharding
from biomed_jax.model import EncoderDecoder, lora, model_config
from biomed_jax.training import optimizer, state as state_lib, step as step_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("variant", "biomedgpt_tiny", "Model variant.")
flags.DEFINE_integer("rank", 16, "LoRA rank.")
flags.DEFINE_integer("batch", 8, "Batch size.")
flags.DEFINE_integer("source_len", 64, "Encoder text tokens.")
flags.DEFINE_integer("target_len", 16, "Decoder tokens.")
flags.DEFINE_integer("image_size", 128, "Image size (px).")
flags.DEFINE_integer("rounds", 7, "Alternating timed rounds.")
flags.DEFINE_integer("steps", 3, "Steps per round.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results", "lora.md"),
                    "Results file.")


def _setup(cfg, opt_cfg, batch):
  mesh = sharding.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, jax.devices()[:1])
  rules = sharding.DEFAULT_RULES
  model = EncoderDecoder(cfg)
  freeze = lora.frozen_pattern(cfg)
  tx = optimizer.make_optimizer(opt_cfg, 1000, freeze)
  inputs = state_lib.example_inputs(cfg, FLAGS.batch, FLAGS.source_len, FLAGS.target_len)
  state, shardings = state_lib.create_state(model, tx, inputs, mesh, rules, seed=0)
  step = step_lib.jit_train_step(step_lib.make_train_step(model, tx, 0.1, freeze=freeze),
                                 shardings, sharding.batch_sharding(mesh, rules))
  nbytes = lambda tree: sum(x.nbytes for x in jax.tree.leaves(tree))
  sizes = (nbytes(state.params), nbytes(state.opt_state))
  return mesh, rules, step, state, sizes


def main(argv):
  del argv

  opt_cfg = ml_collections.ConfigDict(dict(
      learning_rate=1e-4, warmup_steps=10, decay="linear", end_learning_rate_factor=0.0,
      b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01, grad_clip_norm=1.0))
  rng = np.random.default_rng(0)
  b, ls, lt = FLAGS.batch, FLAGS.source_len, FLAGS.target_len
  batch = {"encoder_tokens": rng.integers(4, 1000, (b, ls)).astype(np.int32),
           "decoder_inputs": rng.integers(4, 1000, (b, lt)).astype(np.int32),
           "decoder_targets": rng.integers(4, 1000, (b, lt)).astype(np.int32),
           "decoder_loss_weights": np.ones((b, lt), np.float32),
           "images": rng.uniform(-1, 1, (b, FLAGS.image_size, FLAGS.image_size, 3)).astype(
               np.float32),
           "image_mask": np.ones((b,), bool)}
  runs = {}
  for name, rank in (("full", 0), (f"LoRA r={FLAGS.rank}", FLAGS.rank)):
    cfg = model_config(FLAGS.variant, image_size=FLAGS.image_size, lora_rank=rank)
    mesh, rules, step, state, sizes = _setup(cfg, opt_cfg, batch)
    with sharding.mesh_context(mesh, rules):
      sharded = sharding.shard_batch(batch, sharding.batch_sharding(mesh, rules))
      start = time.perf_counter()
      state, metrics = step(state, sharded)
      jax.block_until_ready(metrics)
      compile_s = time.perf_counter() - start
    runs[name] = dict(mesh=mesh, rules=rules, step=step, state=state, batch=sharded,
                      sizes=sizes, compile_s=compile_s, times=[])
  for _ in range(FLAGS.rounds):
    for run in runs.values():
      with sharding.mesh_context(run["mesh"], run["rules"]):
        start = time.perf_counter()
        for _ in range(FLAGS.steps):
          run["state"], metrics = run["step"](run["state"], run["batch"])
        jax.block_until_ready(metrics)
        run["times"].append((time.perf_counter() - start) / FLAGS.steps)

  when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  new_file = not os.path.exists(FLAGS.results)
  with open(FLAGS.results, "a") as f:
    if new_file:
      f.write("# LoRA vs full fine-tuning\n\n")
    f.write(f"\n## CPU train step, {FLAGS.variant}, batch {b} x {ls}/{lt} tokens, "
            f"{FLAGS.image_size} px images, 1 device\n\n"
            f"{machine.describe()}, jax {jax.__version__}, {when}; {FLAGS.rounds} alternating "
            f"rounds of {FLAGS.steps} steps.\n\n"
            "| run | median step | min | max | first step (compile) | params MiB | "
            "optimizer state MiB |\n|---|---|---|---|---|---|---|\n")
    for name, run in runs.items():
      t = run["times"]
      line = (f"| {name} | {statistics.median(t):.3f} s | {min(t):.3f} s | {max(t):.3f} s | "
              f"{run['compile_s']:.1f} s | {run['sizes'][0] / 2**20:.1f} | "
              f"{run['sizes'][1] / 2**20:.2f} |")
      print(line, flush=True)
      f.write(line + "\n")


if __name__ == "__main__":
  app.run(main)
