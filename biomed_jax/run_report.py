"""What a run shows its user at the end: the evaluation table printed to the terminal and
WORKDIR/report.png (the training loss curve and, per task family, the model against the
trivial and the learned baseline).

The loss curve is read back from the run's TensorBoard event files (written by
training/reporting.py with tensorboardX; read here without TensorFlow or TensorBoard) and the
scores from the latest WORKDIR/eval/<step>/summary.json.
"""

import json
import struct

from etils import epath
import numpy as np

from biomed_jax.data.tasks import get_task
from biomed_jax.metrics import baselines

PICTURE = "report.png"


def read_scalars(workdir: str, tag: str) -> list[tuple[int, float]]:
  """(step, value) of one scalar tag over every event file in WORKDIR/tensorboard, by step
  (a resumed run's later file wins for a step both files hold)."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  values = {}
  for path in sorted((epath.Path(workdir) / "tensorboard").glob("events.out.tfevents.*")):
    data = path.read_bytes()
    offset = 0
    while offset + 12 <= len(data):  # TFRecord: length, crc, payload, crc
      (length,) = struct.unpack("<Q", data[offset:offset + 8])
      payload = data[offset + 12:offset + 12 + length]
      offset += 12 + length + 4
      if len(payload) < length:
        break  # a file cut short by a kill: what came before is still good
      event = event_pb2.Event.FromString(payload)
      for value in event.summary.value:
        if value.tag == tag:
          values[int(event.step)] = float(value.simple_value)
  return sorted(values.items())


def latest_summary(workdir: str) -> dict | None:
  steps = [int(p.name) for p in (epath.Path(workdir) / "eval").glob("*") if p.name.isdigit()
           and (p / "summary.json").exists()]
  if not steps:
    return None
  return json.loads((epath.Path(workdir) / "eval" / str(max(steps)) / "summary.json")
                    .read_text())


def family_rows(summary: dict) -> list[dict]:
  """One row per task: its headline score, the trivial and the learned baseline's."""
  rows = []
  names = summary.get("learned_baselines", {})
  for name, values in sorted(summary["tasks"].items(),
                             key=lambda kv: (summary["families"][kv[0]], kv[0])):
    task = get_task(name)
    scores = {k: v for k, v in values.items()
              if not k.startswith(("baseline_", "learned_")) and "/" not in k and
              k not in ("loss", "token_accuracy", "examples")}
    if not scores:
      continue
    key = baselines.headline(task, scores)
    rows.append({"family": summary["families"][name], "task": name, "metric": key,
                 "model": values[key], "trivial": values.get(f"baseline_{key}"),
                 "learned": values.get(f"learned_{key}"), "learned_name": names.get(name, "")})
  return rows


def _number(value) -> str:
  return "" if value is None else f"{value:.1f}"


def table(summary: dict) -> str:
  """The per-family comparison as a Markdown table (what the terminal shows)."""
  lines = [f"Evaluation at step {summary['step']} (split scores in %, higher is better)", "",
           "| family | metric | model | trivial baseline | learned baseline | beats both |",
           "|---|---|---|---|---|---|"]
  for row in family_rows(summary):
    bars = [b for b in (row["trivial"], row["learned"]) if b is not None]
    beats = "yes" if all(row["model"] > b for b in bars) else "no"
    learned = _number(row["learned"]) + (f" ({row['learned_name']})" if row["learned_name"]
                                         else "")
    lines.append(f"| {row['family']} | {row['metric']} | {_number(row['model'])} | "
                 f"{_number(row['trivial'])} | {learned} | {beats} |")
  return "\n".join(lines)


def plot(workdir: str, summary: dict | None) -> str:
  """Writes WORKDIR/report.png; returns its path."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")  # files only: no display on a server
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = family_rows(summary) if summary else []
  figure, (curve, bars) = plt.subplots(1, 2, figsize=(13, 4.8),
                                       gridspec_kw={"width_ratios": [1, 1.6]})
  loss = read_scalars(workdir, "train/loss")
  if loss:
    # Every step's loss (batches mix tasks of very different losses), and its running mean.
    steps, values = map(np.asarray, zip(*loss))
    window = max(1, len(values) // 40)
    curve.plot(steps, values, color="tab:blue", alpha=0.25, linewidth=0.6,
               label="train loss (each step)")
    if window > 1:
      smooth = np.convolve(values, np.ones(window) / window, mode="valid")
      curve.plot(steps[window - 1:], smooth, color="tab:blue",
                 label=f"train loss (mean of {window} steps)")
  evaluated = [(s, v) for s, v in _eval_losses(workdir)]
  if evaluated:
    curve.plot(*zip(*evaluated), "o--", color="tab:red", label="eval loss (mean over tasks)")
  curve.set(xlabel="step", ylabel="loss", title="Training loss")
  curve.grid(alpha=0.3)
  if loss or evaluated:
    curve.legend()
  width = 0.27
  for i, (key, label, color) in enumerate((("model", "model", "tab:blue"),
                                           ("trivial", "trivial baseline", "tab:gray"),
                                           ("learned", "learned baseline", "tab:orange"))):
    positions = [j + (i - 1) * width for j in range(len(rows))]
    heights = [row[key] or 0.0 for row in rows]
    bars.bar(positions, heights, width, label=label, color=color)
  bars.set_xticks(range(len(rows)),
                  [f"{r['family'].replace('_', ' ')}\n{r['metric']}" for r in rows], fontsize=8)
  bars.set(ylabel="score (%)", title=f"Evaluation at step {summary['step']}" if summary
           else "no evaluation yet")
  bars.legend(fontsize=8)
  bars.grid(axis="y", alpha=0.3)
  figure.tight_layout()
  path = epath.Path(workdir) / PICTURE
  with path.open("wb") as f:
    figure.savefig(f, format="png", dpi=110)
  plt.close(figure)
  return str(path)


def _eval_losses(workdir: str) -> list[tuple[int, float]]:
  points = []
  for path in (epath.Path(workdir) / "eval").glob("*/summary.json"):
    summary = json.loads(path.read_text())
    losses = [v["loss"] for v in summary["tasks"].values() if "loss" in v]
    if losses:
      points.append((int(summary["step"]), sum(losses) / len(losses)))
  return sorted(points)


def report(workdir: str) -> str:
  """Prints the latest evaluation table and writes the picture; returns the printed text."""
  summary = latest_summary(workdir)
  text = table(summary) if summary else "no evaluation in this workdir yet"
  text += f"\n\npicture: {plot(workdir, summary)}"
  print(text, flush=True)
  return text
