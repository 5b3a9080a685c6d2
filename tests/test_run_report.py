"""The end-of-run report: the loss curve read back from real TensorBoard event files, the
per-family table against both baselines, and the picture."""

import json

import numpy as np
from PIL import Image

from biomed_jax import run_report
from biomed_jax.training import reporting


def _summary(step, model_accuracy):
  tasks = {
      "sample_text_understanding": {
          "loss": 0.4, "token_accuracy": 0.9, "examples": 150, "accuracy": model_accuracy,
          "f1_macro": 80.0, "f1/humans": 81.0, "baseline_accuracy": 50.0,
          "baseline_f1_macro": 33.3, "learned_accuracy": 92.0, "learned_f1_macro": 92.0},
      "sample_summarization": {
          "loss": 2.0, "token_accuracy": 0.5, "examples": 150, "rouge1": 35.0, "rouge2": 15.0,
          "rougeL": 30.0, "baseline_rouge1": 13.2, "learned_rouge1": 30.7},
  }
  return {"step": step, "tasks": tasks,
          "families": {"sample_text_understanding": "text_understanding",
                       "sample_summarization": "summarization"},
          "learned_baselines": {"sample_text_understanding": "naive Bayes on words",
                                "sample_summarization": "lead-20 words of the input"}}


def test_report_reads_the_run_and_compares_with_both_baselines(tmp_path, capsys):
  workdir = str(tmp_path)
  reporter = reporting.Reporter(workdir, total_steps=40, start_step=0)
  written = {10: 5.5, 20: 3.25, 30: 2.0, 40: 1.125}
  for step, loss in written.items():
    reporter.scalars(step, {"loss": loss, "token_accuracy": 0.5}, prefix="train/")
  reporter.close()
  for step, accuracy in ((20, 60.0), (40, 95.0)):
    out = tmp_path / "eval" / str(step)
    out.mkdir(parents=True)
    (out / "summary.json").write_text(json.dumps(_summary(step, accuracy)))

  assert run_report.read_scalars(workdir, "train/loss") == sorted(written.items())
  text = run_report.report(workdir)
  assert text in capsys.readouterr().out
  lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if "|" in line}
  assert "Evaluation at step 40" in text  # the latest evaluation
  assert lines["text_understanding"].split(" | ")[1:4] == ["accuracy", "95.0", "50.0"]
  assert "92.0 (naive Bayes on words)" in lines["text_understanding"]
  assert lines["text_understanding"].endswith("| yes |")
  assert lines["summarization"].split(" | ")[1] == "rouge1"
  assert lines["summarization"].endswith("| yes |")

  picture = Image.open(tmp_path / "report.png")
  assert picture.format == "PNG" and picture.size[0] > 1000
  assert np.asarray(picture.convert("L")).std() > 10  # something was drawn


def test_a_model_below_the_learned_baseline_is_called_out(tmp_path):
  out = tmp_path / "eval" / "20"
  out.mkdir(parents=True)
  (out / "summary.json").write_text(json.dumps(_summary(20, 60.0)))
  line = next(l for l in run_report.table(run_report.latest_summary(str(tmp_path)))
              .splitlines() if l.startswith("| text_understanding"))
  assert line.endswith("| no |")  # 60 beats the majority's 50, not naive Bayes' 92
