r"""python -m biomed_jax.merge: weight interpolation (WiSE-FT) and model merging.

  python -m biomed_jax.merge --method=interpolate --base=PRETRAINED --finetuned=RUN \
      --alpha=0.0,0.25,0.5,0.75,1.0 --out=DIR [--evaluate --config=configs/demo.py]
  python -m biomed_jax.merge --method=ties --base=B --models=A1,A2 --weights=1,1 \
      --density=0.5 --out=DIR
  python -m biomed_jax.merge --method=slerp --base=A --models=B --alpha=0.5 --out=DIR

Every input (a pretrained folder or a training workdir, its latest checkpoint, EMA weights
when kept) is read by biomed_jax.weights; LoRA adapters are merged into their kernels first.
interpolate writes DIR/alpha_<a>/ per alpha ((1 - a) * base + a * finetuned: 0 is the base,
1 the fine-tuned model); with --evaluate each is evaluated on the config's tasks and
DIR/interpolation.{md,json,png} hold every task's metrics per alpha. slerp writes one
folder per alpha the same way; the other methods write DIR itself.
"""

import json
import os
import shutil
import sys

from absl import app, flags
import jax
import numpy as np

from biomed_jax import weights as weights_lib
from biomed_jax.merging import methods, plot, trees
from biomed_jax.model import lora, save_pretrained

TOKENIZER_FILES = ("vocab.json", "merges.txt", "encoder.json", "vocab.bpe", "dict.txt",
                   "tokenizer.model")
NEEDS_BASE = ("interpolate", "task_arithmetic", "ties", "breadcrumbs", "slerp")
SWEEPS = ("interpolate", "slerp")  # one output per --alpha


def _floats(text: str, flag: str) -> list[float]:
  try:
    return [float(x) for x in text.split(",") if x.strip()]
  except ValueError as e:
    raise ValueError(f"--{flag}={text!r}: expected comma-separated numbers") from e


def _read(directory: str) -> tuple[weights_lib.Weights, dict]:
  weights = weights_lib.load(directory)
  variables = jax.tree.map(np.asarray, jax.device_get(weights.variables))
  if weights.model_config.lora_rank:
    variables = {**variables, "params": lora.merge(variables["params"], weights.model_config)}
  return weights, variables


def _write(out: str, weights: weights_lib.Weights, variables: dict) -> None:
  save_pretrained(out, lora.base_config(weights.model_config), variables)
  for name in TOKENIZER_FILES:
    if weights.file(name) and not os.path.exists(os.path.join(out, name)):
      shutil.copyfile(weights.file(name), os.path.join(out, name))


def _per_input(values: list[float], n: int, flag: str, default: float) -> list[float]:
  if not values:
    return [default] * n
  if len(values) == 1:
    return values * n
  if len(values) != n:
    raise ValueError(f"--{flag} has {len(values)} values for {n} models")
  return values


def merge(method: str, base: str | None, models: list[str], out: str, alphas=(),
          weights=(), density=(), gamma=(), scale: float = 1.0, normalize: bool | None = None,
          log=print) -> list[tuple[float | None, str]]:
  """Writes the merged folder(s); returns [(alpha or None, folder)]."""
  if method not in methods.METHODS:
    raise ValueError(f"--method={method!r}: use one of {methods.METHODS}")
  if method in NEEDS_BASE and not base:
    raise ValueError(f"--method={method} needs --base")
  if not models:
    raise ValueError("no models to merge: give --finetuned (interpolate) or --models")
  if method in SWEEPS and len(models) != 1:
    raise ValueError(f"--method={method} takes one model beside --base, got {len(models)}")
  if method in SWEEPS and not alphas:
    raise ValueError(f"--method={method} needs --alpha (e.g. 0,0.25,0.5,0.75,1)")
  if os.path.exists(out) and os.listdir(out):
    raise FileExistsError(f"--out={out} is not empty; choose a new folder")
  names = ([base] if base else []) + list(models)
  loaded = [_read(name) for name in names]
  variables = [v for _, v in loaded]
  reference = loaded[-1][0]  # config and tokenizer of the (last) fine-tuned model
  n = len(models)
  w = _per_input(list(weights), n, "weights", 1.0)
  written = []
  if method in SWEEPS:
    for alpha in alphas:
      if method == "interpolate":
        tensor = lambda xs, a=alpha: methods.linear(xs, [1.0 - a, a])
      else:
        tensor = lambda xs, a=alpha: methods.slerp(a, xs[0], xs[1])
      folder = os.path.join(out, f"alpha_{alpha:g}")
      _write(folder, reference,
             trees.merge_variables(variables, names, tensor, [1.0 - alpha, alpha]))
      written.append((alpha, folder))
      log(f"{method} alpha={alpha:g} -> {folder}")
    return written
  if method == "linear":
    tensor = lambda xs: methods.linear(xs, w, True if normalize is None else normalize)
    stats = w
  else:
    kwargs = dict(scale=scale)
    if normalize is not None:
      kwargs["normalize"] = normalize
    if method == "ties":
      kwargs["density"] = _per_input(list(density), n, "density", 1.0)
    if method == "breadcrumbs":
      kwargs["density"] = _per_input(list(density), n, "density", 1.0)
      kwargs["gamma"] = _per_input(list(gamma), n, "gamma", 0.01)
    fn = getattr(methods, method)
    tensor = lambda xs: fn(xs[0], xs[1:], w, **kwargs)
    stats = [0.0] + [abs(x) for x in w]  # the experts' statistics, not the base's
  _write(out, reference, trees.merge_variables(variables, names, tensor, stats))
  log(f"{method} of {', '.join(names)} -> {out}")
  return [(None, out)]


def evaluate_sweep(config, written: list[tuple[float, str]], out: str, log=print) -> dict:
  """Evaluates each folder on the config's tasks; writes the table, JSON and plot."""
  from biomed_jax import train  # pylint: disable=g-import-not-at-top
  results = {}
  for alpha, folder in written:
    run_config = config.copy_and_resolve_references()
    with run_config.unlocked():
      run_config.init_from = folder
    metrics = train.run(run_config, os.path.join(out, "eval", f"alpha_{alpha:g}"),
                        "evaluate")["eval"]
    results[alpha] = {k: float(v) for k, v in metrics.items()}
  columns = sorted({k for row in results.values() for k in row})
  lines = ["| alpha | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
  for alpha, row in results.items():
    cells = [f"{row[c]:.4f}" if c in row else "" for c in columns]
    lines.append(f"| {alpha:g} | " + " | ".join(cells) + " |")
  with open(os.path.join(out, "interpolation.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.join(out, "interpolation.json"), "w") as f:
    json.dump({f"{a:g}": row for a, row in results.items()}, f, indent=2)
  plot.write_png(os.path.join(out, "interpolation.png"), results)
  log(f"table: {os.path.join(out, 'interpolation.md')}")
  return results


def _define_flags():
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_enum("method", None, methods.METHODS, "Merge method.")
  flags.DEFINE_string("base", None, "Pre-trained (base) weights: folder or workdir.")
  flags.DEFINE_string("finetuned", None, "interpolate: the fine-tuned weights.")
  flags.DEFINE_list("models", [], "Weights to merge (comma-separated folders or workdirs).")
  flags.DEFINE_string("alpha", "", "interpolate / slerp: comma-separated alphas in [0, 1].")
  flags.DEFINE_string("weights", "", "Per-model weights (one value: all alike).")
  flags.DEFINE_string("density", "", "ties / breadcrumbs: share of each delta kept.")
  flags.DEFINE_string("gamma", "", "breadcrumbs: share of largest deltas dropped.")
  flags.DEFINE_float("scale", 1.0, "Task-vector methods: mergekit's lambda.")
  flags.DEFINE_enum("normalize", "default", ["default", "true", "false"],
                    "Divide by the weights' sum (default: the method's, as mergekit).")
  flags.DEFINE_string("out", None, "Output folder (new).")
  flags.DEFINE_bool("evaluate", False, "interpolate / slerp: evaluate every alpha.")
  config_flags.DEFINE_config_file("config", None, "Config for --evaluate (its tasks).")


def main(argv):
  del argv
  FLAGS = flags.FLAGS  # pylint: disable=invalid-name
  try:
    models = ([FLAGS.finetuned] if FLAGS.finetuned else []) + list(FLAGS.models)
    if FLAGS.evaluate and (FLAGS.config is None or FLAGS.method not in SWEEPS):
      raise ValueError("--evaluate needs --config and --method=interpolate or slerp")
    normalize = {"default": None, "true": True, "false": False}[FLAGS.normalize]
    written = merge(FLAGS.method, FLAGS.base, models, FLAGS.out,
                    _floats(FLAGS.alpha, "alpha"), _floats(FLAGS.weights, "weights"),
                    _floats(FLAGS.density, "density"), _floats(FLAGS.gamma, "gamma"),
                    FLAGS.scale, normalize)
    if FLAGS.evaluate:
      evaluate_sweep(FLAGS.config, written, FLAGS.out)
  except (ValueError, FileNotFoundError, FileExistsError) as e:  # WeightsError included
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


def run():
  _define_flags()
  flags.mark_flags_as_required(["method", "out"])
  app.run(main)
