r"""The trainer's loop against the bare jitted train step, side by side.

  python benchmarks/train_loop_overhead.py [--rounds=10] [--steps=20]

Each round runs, in one process and alternating:
  * the trainer (`train.run`, the demo config at a test size, --mode=train) for 2 x --steps
    steps with log_every = --steps, and takes the second window's seconds per step from its
    TensorBoard `train/examples_per_s` (the first window holds the compile). That window
    includes everything the loop does: reading and checking batches, sending them, the step,
    the metrics' fetch, logging;
  * the bare step: the same jitted function over --steps batches read beforehand, blocked
    on once at the end.
Medians and spread over the rounds, and the loop's overhead in percent, are appended to
benchmarks/results/train_loop.md with the machine and date.
"""

import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time

from absl import app, flags
import jax

import machine  # benchmarks/machine.py

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from biomed_jax import config_lib, run_report, sharding, train  # pylint: disable=wrong-import-position
from biomed_jax.data import pipeline, tokenizer as tokenizer_lib  # pylint: disable=wrong-import-position
from biomed_jax.model import EncoderDecoder  # pylint: disable=wrong-import-position
from biomed_jax.training import optimizer, state as state_lib, step as step_lib  # pylint: disable=wrong-import-position
from configs import demo  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 10, "Alternating rounds.")
flags.DEFINE_integer("steps", 20, "Timed steps per round (each side).")
flags.DEFINE_integer("image_size", 64, "Image size (px) of the demo config.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "train_loop.md"), "Results file.")


def _config():
  config = demo.get_config()
  config.model.image_size = FLAGS.image_size
  config.train.num_steps = 2 * FLAGS.steps
  config.train.log_every = FLAGS.steps
  config.train.checkpoint_every = 10 ** 6  # the final step's save is outside the window
  config.optimizer.warmup_steps = 2
  return config


def _trainer_seconds_per_step(config) -> float:
  workdir = tempfile.mkdtemp(prefix="loop_overhead_")
  try:
    train.run(config, workdir, "train")
    rates = dict(run_report.read_scalars(workdir, "train/examples_per_s"))
    return config.data.batch_size / rates[2 * FLAGS.steps]
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


class BareStep:
  """The trainer's jitted step and state, built as train.run builds them."""

  def __init__(self, config):
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
    iterator = pipeline.make_train_iterator(
        [tuple(m) for m in config.data.mixture], batch_size=config.data.batch_size, seed=0,
        bad_records="skip", tokenizer=tokenizer_lib.load_tokenizer(config.data.tokenizer),
        image_size=model_cfg.image_size, max_source_len=config.data.max_source_len,
        max_target_len=config.data.max_target_len)
    self.batches = [next(iterator) for _ in range(FLAGS.steps + 1)]
    self.run(self.batches[:1])  # compile

  def run(self, batches) -> None:
    with sharding.mesh_context(self.mesh, self.rules):
      for batch in batches:
        self.state, metrics = self.step(self.state,
                                        sharding.shard_batch(batch, self.batch_sharding))
    jax.block_until_ready(metrics)

  def seconds_per_step(self) -> float:
    start = time.perf_counter()
    self.run(self.batches[1:])
    return (time.perf_counter() - start) / FLAGS.steps


def _spread(values) -> str:
  return f"{statistics.median(values) * 1e3:.0f} ms ({min(values) * 1e3:.0f}-{max(values) * 1e3:.0f})"


def main(argv):
  del argv
  config = _config()
  bare = BareStep(config)
  trainer, bare_times = [], []
  for round_index in range(FLAGS.rounds):
    trainer.append(_trainer_seconds_per_step(config))
    bare_times.append(bare.seconds_per_step())
    print(f"round {round_index + 1}/{FLAGS.rounds}: trainer {trainer[-1] * 1e3:.0f} ms/step, "
          f"bare step {bare_times[-1] * 1e3:.0f} ms/step", flush=True)
  overheads = [t / b - 1 for t, b in zip(trainer, bare_times)]
  load = os.getloadavg()
  lines = [
      f"\n## {datetime.date.today()}: demo config at {FLAGS.image_size} px, batch "
      f"{config.data.batch_size}, {FLAGS.rounds} rounds x {FLAGS.steps} steps\n",
      f"Machine: {machine.describe()}; jax {jax.__version__}; load average "
      f"{load[0]:.1f} at the end.\n",
      "| | seconds per step, median (min-max) |", "|---|---|",
      f"| trainer loop (`train.run`, second log window) | {_spread(trainer)} |",
      f"| bare jitted step, batches read beforehand | {_spread(bare_times)} |",
      f"\nLoop overhead per round, median: **{statistics.median(overheads) * 100:+.1f}%** "
      f"(rounds: {', '.join(f'{o * 100:+.1f}%' for o in overheads)}).\n"]
  with open(FLAGS.results, "a") as f:
    f.write("\n".join(lines))
  print("\n".join(lines))


if __name__ == "__main__":
  app.run(main)
