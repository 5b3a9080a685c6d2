r"""Entry point: python -m biomed_jax.main --config=configs/demo.py --workdir=DIR [--mode=...]

Config files are ml_collections `get_config(arg)` files; override any key with
--config.section.key=value (a mistyped key is an error that names it).
"""

import logging as logging_std

from absl import app, flags, logging
import jax
from ml_collections import config_flags

from biomed_jax import summary, train

MODES = ("train", "evaluate", "train_and_evaluate", "summary")

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/demo.py.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Checkpoints, logs and evaluation outputs.")
flags.DEFINE_enum("mode", "train_and_evaluate", MODES, "What to run.")
flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() (TPU pods, multi-host "
                  "GPU): every host runs the same command.")
flags.mark_flag_as_required("config")


class _QuietLibraries(logging_std.Filter):
  """Keeps the libraries' INFO chatter (Orbax logs every file of every save) out of the log."""

  def filter(self, record):
    return record.levelno >= logging_std.WARNING or not any(
        f"/{name}/" in record.pathname for name in ("orbax", "grain", "jax"))


def main(argv):
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.multihost:
    jax.distributed.initialize()
  if FLAGS.mode == "summary":
    summary.summarize(FLAGS.config)
    return
  if not FLAGS.workdir:
    raise app.UsageError(f"--mode={FLAGS.mode} needs --workdir (checkpoints and logs go there)")
  train.run(FLAGS.config, FLAGS.workdir, FLAGS.mode)


if __name__ == "__main__":
  app.run(main)
