r"""Entry point: python -m biomed_jax.main --config=configs/demo.py --workdir=DIR [--mode=...]

Config files are ml_collections `get_config(arg)` files; override any key with
--config.section.key=value (a mistyped key is an error that names it).

A failing run prints one short `error: ...` line; the full traceback goes to
WORKDIR/error.log, and --verbose prints it instead.
"""

import logging as logging_std
import os
import sys
import traceback

from absl import app, flags, logging
from ml_collections import config_flags

from biomed_jax import config_checks, distributed, run_report, summary, train

MODES = ("train", "evaluate", "train_and_evaluate", "summary")

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/demo.py.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Checkpoints, logs and evaluation outputs.")
flags.DEFINE_enum("mode", "train_and_evaluate", MODES, "What to run.")
flags.DEFINE_bool("multihost", False, "Start one JAX process per host: "
                  "jax.distributed.initialize() from JAX_COORDINATOR_ADDRESS, "
                  "JAX_NUM_PROCESSES and JAX_PROCESS_ID, or from the cluster (Cloud TPU, "
                  "GKE, SLURM). Every host runs the same command.")
flags.DEFINE_bool("verbose", False, "On an error, print the full traceback.")
flags.mark_flag_as_required("config")

ERROR_LOG = "error.log"
MAX_MESSAGE = 600  # characters of an error shown; the rest is in the log


class _QuietLibraries(logging_std.Filter):
  """Keeps the libraries' INFO chatter (Orbax logs every file of every save) out of the log."""

  def filter(self, record):
    return record.levelno >= logging_std.WARNING or not any(
        f"/{name}/" in record.pathname for name in ("orbax", "grain", "jax"))


def main(argv):
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if distributed.initialize(FLAGS.multihost) and not distributed.is_primary():
    logging.set_verbosity(logging.WARNING)  # progress and tables come from process 0
  if FLAGS.mode == "summary":
    summary.summarize(FLAGS.config)
    return
  if not FLAGS.workdir:
    raise app.UsageError(f"--mode={FLAGS.mode} needs --workdir (checkpoints and logs go there)")
  try:
    train.run(FLAGS.config, FLAGS.workdir, FLAGS.mode)
    if FLAGS.mode != "train" and distributed.is_primary():
      run_report.report(FLAGS.workdir)  # the table on the terminal, WORKDIR/report.png
  except Exception as e:  # pylint: disable=broad-except
    if FLAGS.verbose:
      raise
    sys.exit(_report(e, FLAGS.workdir))


def _report(error: Exception, workdir: str) -> str:
  """The error in one short line (a config's problems keep one line each); the traceback is
  appended to WORKDIR/error.log."""
  lines = [" ".join(line.split()) for line in str(error).strip().splitlines() if line.strip()]
  if isinstance(error, config_checks.ConfigError):
    text = "\n  ".join(lines)
  else:
    text = " ".join(lines)[:MAX_MESSAGE] or type(error).__name__
    if not isinstance(error, (ValueError, OSError, RuntimeError)):
      text = f"{type(error).__name__}: {text}"
  try:
    path = os.path.join(workdir, ERROR_LOG)
    with open(path, "a") as f:
      f.write("".join(traceback.format_exception(error)) + "\n")
    where = f"full traceback in {path}, or rerun with --verbose"
  except OSError:
    where = "rerun with --verbose for the full traceback"
  return f"error: {text}\n({where})"


if __name__ == "__main__":
  app.run(main)
