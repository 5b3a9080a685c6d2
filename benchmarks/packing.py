r"""Sequence packing (data.packing) against unpacked batches, side by side.

  python benchmarks/packing.py [--rounds=10] [--steps=5] [--max_source_len=512]

The sample mixture's text tasks (text understanding, summarization, QA; equal weights) with
the demo's model at the given source/target widths. Two trainers' jitted steps, built as
train.run builds them, one on packed and one on unpacked batches of the same shape, run in
alternating rounds in one process; each round times --steps steps of each and counts the
real target tokens (loss weights) and the examples their batches hold. Medians and spread of
target tokens per second, and the packed/unpacked ratio, are appended to
benchmarks/results/packing.md with the machine and date.
"""

import datetime
import os
import statistics
import sys
import time

from absl import app, flags
import jax
import numpy as np

import machine  # benchmarks/machine.py

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from biomed_jax import config_lib, sharding  # pylint: disable=wrong-import-position
from biomed_jax.data import batch_contract, pipeline, tokenizer as tokenizer_lib  # pylint: disable=wrong-import-position
from biomed_jax.model import EncoderDecoder  # pylint: disable=wrong-import-position
from biomed_jax.training import optimizer, state as state_lib, step as step_lib  # pylint: disable=wrong-import-position
from configs import demo  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 10, "Alternating rounds.")
flags.DEFINE_integer("steps", 5, "Timed steps per round (each side).")
flags.DEFINE_integer("max_source_len", 512, "Source width Ls.")
flags.DEFINE_integer("max_target_len", 64, "Target width Lt.")
flags.DEFINE_integer("batch_size", 16, "Rows per batch.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "packing.md"), "Results file.")

TEXT_TASKS = (("sample_text_understanding", 1.0), ("sample_summarization", 1.0),
              ("sample_qa", 1.0))


def _config():
  config = demo.get_config()
  config.data.mixture = TEXT_TASKS
  config.data.batch_size = FLAGS.batch_size
  config.data.max_source_len = FLAGS.max_source_len
  config.data.max_target_len = FLAGS.max_target_len
  return config


class Side:
  """One trainer's state, jitted step and a stream of batches (packed or not)."""

  def __init__(self, config, packing: bool):
    model_cfg = config_lib.resolve_model_config(config.model)
    self.mesh = sharding.make_mesh(config.mesh)
    self.rules = sharding.rules_from_config(config.sharding.rules)
    model = EncoderDecoder(model_cfg)
    tx = optimizer.make_optimizer(config.optimizer, config.train.num_steps)
    inputs = state_lib.example_inputs(model_cfg, config.data.batch_size,
                                      config.data.max_source_len, config.data.max_target_len)
    shardings = state_lib.state_shardings(state_lib.abstract_state(model, tx, inputs, False),
                                          self.mesh, self.rules)
    self.state, _ = state_lib.create_state(model, tx, inputs, self.mesh, self.rules, 0)
    self.batch_sharding = sharding.batch_sharding(self.mesh, self.rules)
    self.step = step_lib.jit_train_step(
        step_lib.make_train_step(model, tx, config.optimizer.label_smoothing),
        shardings, self.batch_sharding)
    self.iterator = pipeline.make_train_iterator(
        [tuple(m) for m in config.data.mixture], batch_size=config.data.batch_size, seed=0,
        bad_records="skip", tokenizer=tokenizer_lib.load_tokenizer(config.data.tokenizer),
        image_size=model_cfg.image_size, max_source_len=config.data.max_source_len,
        max_target_len=config.data.max_target_len, packing=packing)
    self.round()  # compile

  def round(self) -> tuple[float, float, float]:
    """(seconds, real target tokens, examples) of --steps steps; batches read beforehand."""
    batches = [next(self.iterator) for _ in range(FLAGS.steps)]
    tokens = sum(float(b["decoder_loss_weights"].sum()) for b in batches)
    examples = sum(batch_contract.count_examples(b) for b in batches)
    start = time.perf_counter()
    with sharding.mesh_context(self.mesh, self.rules):
      for batch in batches:
        self.state, metrics = self.step(self.state,
                                        sharding.shard_batch(batch, self.batch_sharding))
      jax.block_until_ready(metrics)
    return time.perf_counter() - start, tokens, examples



def main(argv):
  del argv
  config = _config()
  sides = {"unpacked": Side(config, False), "packed": Side(config, True)}
  rates = {k: [] for k in sides}
  per_batch = {k: [] for k in sides}
  step_ms = {k: [] for k in sides}
  for round_index in range(FLAGS.rounds):
    for name, side in sides.items():
      seconds, tokens, examples = side.round()
      rates[name].append(tokens / seconds)
      per_batch[name].append(examples / FLAGS.steps)
      step_ms[name].append(seconds / FLAGS.steps * 1e3)
    print(f"round {round_index + 1}/{FLAGS.rounds}: " + ", ".join(
        f"{n} {rates[n][-1]:.0f} target tokens/s ({per_batch[n][-1]:.1f} examples/batch)"
        for n in sides), flush=True)
  ratios = [p / u for p, u in zip(rates["packed"], rates["unpacked"])]
  load = os.getloadavg()
  lines = [
      f"\n## {datetime.date.today().isoformat()}: Ls {FLAGS.max_source_len}, Lt "
      f"{FLAGS.max_target_len}, batch {FLAGS.batch_size}, {FLAGS.rounds} rounds x "
      f"{FLAGS.steps} steps\n",
      f"{machine.describe()}; {machine.versions()}",
      f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. Model: "
      f"configs/demo.py ({config.model.variant}); tasks: "
      f"{', '.join(t for t, _ in TEXT_TASKS)}.\n",
      "| batches | real target tokens / s | examples / batch | ms / step |",
      "|---|---|---|---|",
  ]
  for name in sides:
    lines.append(f"| {name} | {machine.spread(rates[name], '{:.0f}')} | "
                 f"{machine.spread(per_batch[name], '{:.1f}')} | "
                 f"{machine.spread(step_ms[name], '{:.0f}')} |")
  lines.append(f"\nPacked / unpacked target tokens per second: median "
               f"{statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}x)."
               "\n")
  text = "\n".join(lines)
  print(text)
  machine.append_results(
      FLAGS.results, "# Sequence packing: real target tokens per second, packed vs unpacked\n\n"
      "`python benchmarks/packing.py`: the same jitted train step on batches of the same "
      "shape, alternating rounds in one process.\n", text)


if __name__ == "__main__":
  np.set_printoptions(precision=3)
  app.run(main)
