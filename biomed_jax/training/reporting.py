"""Progress lines, TensorBoard event files and metric accumulation.

Event files are written with tensorboardX, so training needs neither TensorFlow nor
TensorBoard installed.
"""

import os
import time

from absl import logging
from clu import metrics as clu_metrics
import flax
import jax
import numpy as np


# The train step's per-step values that are logged (the step also returns target_tokens
# and nonfinite, which the loop uses itself).
STEP_METRICS = ("loss", "token_accuracy", "grad_norm")


@flax.struct.dataclass
class TrainMetrics(clu_metrics.Collection):
  loss: clu_metrics.Average.from_output("loss")
  token_accuracy: clu_metrics.Average.from_output("token_accuracy")
  grad_norm: clu_metrics.Average.from_output("grad_norm")


def _duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Reporter:
  """Accumulates train metrics between log steps; prints the window's means and rates, and
  writes every step's values to TensorBoard."""

  def __init__(self, workdir: str, total_steps: int, start_step: int, write: bool = True):
    self.total_steps = total_steps
    self.writer = None
    if write and jax.process_index() == 0:
      from tensorboardX import SummaryWriter
      self.writer = SummaryWriter(os.path.join(workdir, "tensorboard"))
    self._reset(start_step)

  def _reset(self, step: int):
    self.metrics = None
    self.examples = self.tokens = 0
    self.start_time, self.start_step = time.perf_counter(), step

  def add(self, step: int, metrics: dict, examples: int, tokens: int,
          learning_rate: float) -> None:
    """One step's metrics (host values): accumulated for the next log line, and written to
    TensorBoard at their own step, so the curves hold every step whatever log_every is."""
    update = TrainMetrics.single_from_model_output(**metrics)
    self.metrics = update if self.metrics is None else self.metrics.merge(update)
    self.examples += examples
    self.tokens += tokens
    if self.writer is not None:
      for name, value in {**metrics, "learning_rate": learning_rate}.items():
        if np.isfinite(value):
          self.writer.add_scalar("train/" + name, float(value), step)

  def log(self, step: int, learning_rate: float, extra: dict | None = None) -> dict:
    if self.metrics is None:
      return {}
    values = {k: float(v) for k, v in self.metrics.compute().items()}
    elapsed = max(time.perf_counter() - self.start_time, 1e-9)
    steps_per_s = (step - self.start_step) / elapsed
    values.update(learning_rate=learning_rate, examples_per_s=self.examples / elapsed,
                  tokens_per_s=self.tokens / elapsed, **(extra or {}))
    eta = (self.total_steps - step) / steps_per_s if steps_per_s > 0 else float("nan")
    logging.info("step %d/%d | loss %.4f | tok acc %.3f | lr %.2e | %.1f ex/s | %.0f tok/s | "
                 "ETA %s", step, self.total_steps, values["loss"], values["token_accuracy"],
                 learning_rate, values["examples_per_s"], values["tokens_per_s"],
                 _duration(eta) if np.isfinite(eta) else "?")
    # Per-step values went to TensorBoard in add(); the log step adds the window's rates.
    self.scalars(step, {k: v for k, v in values.items()
                        if k not in (*STEP_METRICS, "learning_rate")},
                 prefix="train/")
    self._reset(step)
    return values

  def scalars(self, step: int, values: dict, prefix: str = "") -> None:
    if self.writer is None:
      return
    for name, value in values.items():
      if isinstance(value, (int, float, np.floating, np.integer)) and np.isfinite(value):
        self.writer.add_scalar(prefix + name, float(value), step)
    self.writer.flush()

  def close(self) -> None:
    if self.writer is not None:
      self.writer.close()
