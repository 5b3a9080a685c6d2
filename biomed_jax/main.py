r"""Entry point: python -m biomed_jax.main --config=configs/demo.py --workdir=DIR [--mode=...]

Config files are ml_collections `get_config(arg)` files; override any key with
--config.section.key=value (a mistyped key is an error that names it).
"""

from absl import app, flags, logging
from ml_collections import config_flags

from biomed_jax import summary

MODES = ("train", "evaluate", "train_and_evaluate", "summary")

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/demo.py.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Checkpoints, logs and evaluation outputs.")
flags.DEFINE_enum("mode", "train_and_evaluate", MODES, "What to run.")
flags.mark_flag_as_required("config")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.mode == "summary":
    summary.summarize(FLAGS.config)
    return
  logging.error("--mode=%s is not available in this version; use --mode=summary", FLAGS.mode)
  raise SystemExit(2)


if __name__ == "__main__":
  app.run(main)
