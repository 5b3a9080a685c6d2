r"""Input pipeline throughput: training examples per second on the shipped sample mixture.

  python benchmarks/input_pipeline.py                       # 384 px, 0 and 2 worker processes
  python benchmarks/input_pipeline.py --image_size=480 --workers=0,4 --batches=50

Every run builds `make_train_iterator` over the six sample tasks (equal weights, the shipped
tokenizer), takes `--warmup` batches (worker start-up, caches), then times `--batches`
batches. Writes benchmarks/results/input_pipeline.md with the machine it ran on.
"""

import datetime
import os
import platform
import time

from absl import app, flags

import machine  # benchmarks/machine.py

FLAGS = flags.FLAGS
flags.DEFINE_integer("image_size", 384, "Square image side.")
flags.DEFINE_list("workers", ["0", "2"], "Grain worker-process counts to measure.")
flags.DEFINE_integer("batch_size", 32, "Examples per batch.")
flags.DEFINE_integer("batches", 30, "Timed batches per run.")
flags.DEFINE_integer("warmup", 3, "Untimed batches first.")
flags.DEFINE_integer("repeats", 3, "Runs per setting; the best is reported (shared machines).")
flags.DEFINE_integer("read_threads", 4, "Reader threads per process.")
flags.DEFINE_integer("max_source_len", 256, "Encoder length cap Ls.")
flags.DEFINE_integer("max_target_len", 128, "Decoder length cap Lt.")
flags.DEFINE_string("sample_root", None, "Sample mixture folder (default: the shipped one).")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "input_pipeline.md"), "Results file.")


def load_average() -> str:
  if not os.path.exists("/proc/loadavg"):
    return "n/a"
  with open("/proc/loadavg") as f:
    return " ".join(f.read().split()[:3])


def measure(workers: int) -> tuple[float, float, dict]:
  """(examples per second, seconds to the first batch, problem counts) for one setting."""
  from biomed_jax.data import pipeline, tasks  # pylint: disable=g-import-not-at-top
  from biomed_jax.data.tokenizer import Tokenizer  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  iterator = pipeline.make_train_iterator(
      [(name, 1.0) for name in tasks.SAMPLE_TASKS], tokenizer=Tokenizer(),
      batch_size=FLAGS.batch_size, image_size=FLAGS.image_size,
      max_source_len=FLAGS.max_source_len, max_target_len=FLAGS.max_target_len, seed=0,
      sample_root=FLAGS.sample_root, worker_count=workers, read_threads=FLAGS.read_threads)
  next(iterator)
  first = time.perf_counter() - start
  for _ in range(FLAGS.warmup - 1):
    next(iterator)
  start = time.perf_counter()
  for _ in range(FLAGS.batches):
    next(iterator)
  elapsed = time.perf_counter() - start
  counts = iterator.problem_counts
  iterator.close()
  return FLAGS.batches * FLAGS.batch_size / elapsed, first, counts


def main(argv):
  del argv
  import grain  # pylint: disable=g-import-not-at-top
  import PIL  # pylint: disable=g-import-not-at-top
  rows = []
  load_before = load_average()
  for workers in [int(w) for w in FLAGS.workers]:
    runs = [measure(workers) for _ in range(FLAGS.repeats)]
    rate, first, counts = max(runs, key=lambda run: run[0])
    print(f"workers={workers}: {rate:.1f} examples/s (runs: "
          f"{', '.join(f'{r[0]:.1f}' for r in runs)}; first batch after {first:.1f} s); "
          f"problems: {counts}")
    rows.append(f"| {workers} | {FLAGS.read_threads} | {FLAGS.image_size} | "
                f"{FLAGS.batch_size} | {FLAGS.batches} | {rate:.1f} | "
                f"{', '.join(f'{r[0]:.0f}' for r in runs)} | {first:.1f} |")
  os.makedirs(os.path.dirname(FLAGS.results), exist_ok=True)
  with open(FLAGS.results, "w") as f:
    f.write("# Input pipeline throughput (shipped sample mixture, training iterator)\n\n")
    f.write(f"Machine: {machine.describe()}. Python {platform.python_version()}, grain "
            f"{grain.__version__}, Pillow {PIL.__version__}. "
            f"{datetime.date.today().isoformat()}.\n\n")
    f.write("Six sample tasks at equal weight, shipped tokenizer, lengths "
            f"{FLAGS.max_source_len}/{FLAGS.max_target_len}, random-crop augmentation on; "
            f"{FLAGS.warmup} warm-up batches, then {FLAGS.batches} timed batches; best of "
            f"{FLAGS.repeats} runs. Load average before: {load_before}, after: "
            f"{load_average()}.\nCommand: `python benchmarks/input_pipeline.py`\n\n")
    f.write("| worker processes | read threads | image px | batch | timed batches | "
            "examples/s (best) | all runs | first batch (s) |\n"
            "|---|---|---|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n")
  print(f"wrote {FLAGS.results}")


if __name__ == "__main__":
  app.run(main)
