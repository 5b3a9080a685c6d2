r"""bfloat16 compute against float32 on the demo: the training loss curve and the step time.

  python benchmarks/bf16_demo.py [--steps=400]

Trains configs/demo.py twice from the same seed, for --steps steps (the schedule scaled to
them), with model.dtype float32 and bfloat16 (parameters, optimizer state and the loss stay
float32 in both), and reads every step's loss back from the TensorBoard files. Appends the
loss averaged over windows of --window steps, the final window's difference, and each run's
steps per second (its last log window, after the compile) to benchmarks/results/bf16_demo.md
with the machine.
"""

import datetime
import os
import shutil
import sys
import tempfile

from absl import app, flags
import numpy as np

import machine  # benchmarks/machine.py

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from biomed_jax import run_report, train  # pylint: disable=wrong-import-position
from configs import demo  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 400, "Training steps of each run.")
flags.DEFINE_integer("window", 50, "Steps per averaged loss window.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "bf16_demo.md"), "Results file.")
DTYPES = ("float32", "bfloat16")


def _run(dtype: str) -> tuple[np.ndarray, float]:
  """(loss of every step, steps/s of the last log window)."""
  config = demo.get_config()
  config.model.dtype = dtype
  config.train.num_steps = FLAGS.steps
  config.train.checkpoint_every = FLAGS.steps
  config.train.log_every = FLAGS.window
  config.eval.every_steps = 10 ** 6
  workdir = tempfile.mkdtemp(prefix=f"bf16_demo_{dtype}_")
  try:
    train.run(config, workdir, "train")
    losses = np.array([v for _, v in run_report.read_scalars(workdir, "train/loss")])
    rate = dict(run_report.read_scalars(workdir, "train/examples_per_s"))[FLAGS.steps]
    return losses, rate / config.data.batch_size
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


def main(argv):
  del argv
  runs = {dtype: _run(dtype) for dtype in DTYPES}
  windows = FLAGS.steps // FLAGS.window
  means = {d: runs[d][0][:windows * FLAGS.window].reshape(windows, -1).mean(1) for d in DTYPES}
  lines = [f"\n## {datetime.date.today().isoformat()}: configs/demo.py, {FLAGS.steps} steps\n",
           f"{machine.describe()}; {machine.versions()}. Load average at the end: "
           f"{os.getloadavg()[0]:.1f}.\n",
           "| steps | " + " | ".join(f"{d} loss" for d in DTYPES) + " | difference |",
           "|---|" + "---|" * (len(DTYPES) + 1)]
  for w in range(windows):
    a, b = (means[d][w] for d in DTYPES)
    lines.append(f"| {w * FLAGS.window + 1}-{(w + 1) * FLAGS.window} | {a:.3f} | {b:.3f} | "
                 f"{b - a:+.3f} |")
  lines.append("\nSteps per second (last window): " + ", ".join(
      f"{d} {runs[d][1]:.2f}" for d in DTYPES) + ".\n")
  text = "\n".join(lines)
  print(text)
  machine.append_results(
      FLAGS.results, "# bfloat16 compute on the demo: loss curve and step time\n\n"
      "`python benchmarks/bf16_demo.py`: the same run in float32 and bfloat16 compute "
      "(float32 parameters), one after the other.\n", text)


if __name__ == "__main__":
  app.run(main)
