"""Held-out evaluation of every task of a config.

Per task, one pass over its eval split (padding rows masked by `example_mask`):
  * the teacher-forced loss on target tokens;
  * predictions: closed-set tasks decode inside a trie over their candidate answers (the
    answer is always a candidate; open questions of a VQA task decode freely), multiple-
    choice tasks score every option, open tasks decode greedily (or with beam search);
  * the task's metrics (biomed_jax.metrics), the trivial baseline's (the most frequent
    training answer for closed-set and multiple-choice tasks, the input itself for
    generation tasks) and a simple learned baseline's fitted on the training split
    (biomed_jax/metrics/baselines.py, keys `learned_<metric>`);
  * WORKDIR/eval/<step>/<task>.jsonl with input, prediction and reference per example, and
    WORKDIR/eval/<step>/summary.{md,json} with the table per task and family.
With several processes each reads its shard of the split (`eval.batch_size` is global, split
over them); the predictions of the whole global batch are gathered to every process, so every
process computes the same metrics (a checkpoint ranked by them is ranked alike everywhere) and
process 0 alone writes the files.
"""

import collections
import json

from absl import logging
from etils import epath
import jax
import ml_collections
import numpy as np

from biomed_jax import distributed
from biomed_jax import metrics as metrics_lib
from biomed_jax import sharding
from biomed_jax.data import batch_contract, pipeline
from biomed_jax.data.records import DataError
from biomed_jax.data.tasks import CANDIDATES_FROM_OPTIONS, evaluated_by_default, get_task
from biomed_jax.decoding import CandidateTrie, decode, score_candidates
from biomed_jax.metrics import baselines
from biomed_jax.training.loss import cross_entropy

# Sent to the devices: the model's inputs and the rows' bookkeeping (task_id stays on host).
ARRAY_KEYS = batch_contract.batch_keys(packed=False, model_inputs_only=True) + ("example_mask",
                                                                  "example_index")


class Evaluator:

  def __init__(self, config: ml_collections.ConfigDict, model, tokenizer, mesh, rules,
               data_kwargs: dict, workdir: str):
    self.config = config
    self.model = model
    self.tokenizer = tokenizer
    self.mesh, self.rules = mesh, rules
    self.data_kwargs = data_kwargs
    self.record_kwargs = {k: data_kwargs.get(k) for k in ("data_dir", "sample_root")}
    self.workdir = workdir
    self.decoder_prompt = data_kwargs.get("decoder_prompt", "none")
    self.tasks = list(config.eval.tasks) or evaluated_by_default(
        name for name, _ in config.data.mixture)
    for name in self.tasks:
      get_task(name)  # an unknown task fails now, not after hours of training
    self.batch_sharding = sharding.batch_sharding(mesh, rules)
    if config.eval.batch_size % jax.process_count():
      raise ValueError(f"config.eval.batch_size={config.eval.batch_size} must divide evenly "
                       f"over the {jax.process_count()} processes")

    def loss_sums(variables, batch):
      logits = model.apply(variables, batch["encoder_tokens"], batch["decoder_inputs"],
                           batch["images"], batch["image_mask"])
      weights = batch["decoder_loss_weights"] * batch["example_mask"][:, None]
      return cross_entropy(logits, batch["decoder_targets"], weights)

    self._loss_sums = jax.jit(loss_sums)
    self._learned = {}  # task -> baselines.Baseline; fitted once, the data do not change

  # -- one task -------------------------------------------------------------------------

  def _trie(self, answers):
    if not answers:
      return None
    return CandidateTrie.from_token_lists([self.tokenizer.encode(a) for a in answers],
                                          self.tokenizer.eos_id, pad_id=self.tokenizer.pad_id)

  def _predict(self, variables, task, batch, records, trie, max_length):
    """Predicted answer texts for the rows of one (sharded, global) batch; every process
    runs the same computations over all of its rows."""
    arrays = (batch["encoder_tokens"], batch["images"], batch["image_mask"])
    rows = [records[i] if i >= 0 else None for i in distributed.to_host(batch["example_index"])]
    options = [task.example_candidates(r) if r is not None else None for r in rows]
    cfg = self.config.eval
    options_kw = dict(method=cfg.decode_method, beam_size=cfg.beam_size,
                      length_penalty=cfg.length_penalty,
                      no_repeat_ngram_size=cfg.no_repeat_ngram_size,
                      decoder_prompt=self.decoder_prompt)
    free = None
    if trie is None or any(r is not None and _is_open(r) for r in rows):
      free = distributed.to_host(decode(self.model, variables, *arrays, max_length=max_length,
                                        **options_kw).tokens)
    constrained = None
    if trie is not None:
      constrained = distributed.to_host(decode(
          self.model, variables, *arrays, max_length=max(max_length, trie.max_length),
          constraint=trie, **options_kw).tokens)
    predictions = []
    for row, record in enumerate(rows):
      if record is None:
        predictions.append(None)
      elif options[row]:  # multiple choice: score every option of this example
        scores = score_candidates(
            self.model, variables, *(a[row:row + 1] for a in arrays),
            [self.tokenizer.encode(o) for o in options[row]],
            decoder_prompt=self.decoder_prompt)
        predictions.append(options[row][int(distributed.to_host(scores.best)[0])])
      else:
        tokens = free if constrained is None or _is_open(record) else constrained
        predictions.append(self.tokenizer.decode(tokens[row].tolist()))
    return predictions

  def evaluate_task(self, variables, name: str, step: int) -> dict:
    task = get_task(name)
    split = self.config.eval.split
    records, _ = pipeline.load_records(task, split, bad_records="skip", **self.record_kwargs)
    answers = pipeline.candidate_answers(name, **self.record_kwargs)
    trie = self._trie(answers)
    iterator = pipeline.make_eval_iterator(
        name, batch_size=self.config.eval.batch_size // jax.process_count(), split=split,
        bad_records=self.config.data.bad_records_eval, **self.data_kwargs)
    totals = np.zeros(3)
    rows = []
    try:
      self._collect(variables, task, iterator, records, trie, totals, rows)
    finally:
      iterator.close()  # stops worker processes when max_examples ends the pass early
    if name not in self._learned:
      self._learned[name] = baselines.for_rows(task, rows, records, answers,
                                               self.record_kwargs)
    return self._score(task, rows, totals, answers, step)

  def _collect(self, variables, task, iterator, records, trie, totals, rows):
    batches, last = iter(iterator), None
    while not (self.config.eval.max_examples and len(rows) >= self.config.eval.max_examples):
      batch = next(batches, None)
      # Shards may end a batch apart: all processes step together until the last one ends.
      if not distributed.any_process(batch is not None):
        break
      batch = batch if batch is not None else _padding_batch(last, task.name)
      last = batch
      with sharding.mesh_context(self.mesh, self.rules):
        sharded = sharding.shard_batch({k: batch[k] for k in ARRAY_KEYS}, self.batch_sharding)
        totals += np.array(distributed.to_host(self._loss_sums(variables, sharded)),
                           np.float64)
        predictions = self._predict(variables, task, sharded, records, trie, min(
            task.max_target_len, self.config.data.max_target_len))
      for index, prediction in zip(distributed.to_host(sharded["example_index"]), predictions):
        if prediction is None:
          continue
        record = records[int(index)]
        rows.append({"id": record.id, "input": task.source(record, 0),
                     "prediction": prediction, "reference": task.target(record),
                     "answer_type": record.fields.get("answer_type")})

  def _score(self, task, rows, totals, answers, step) -> dict:
    answer_types = ([r["answer_type"] for r in rows]
                    if all(r["answer_type"] for r in rows) and rows else None)
    references = [r["reference"] for r in rows]
    results = {"loss": totals[0] / max(totals[1], 1.0),
               "token_accuracy": totals[2] / max(totals[1], 1.0), "examples": len(rows)}
    results.update(metrics_lib.compute(task.metrics, [r["prediction"] for r in rows],
                                       references, answer_types))
    # The trivial baseline a trained model has to beat.
    if answers or task.candidates == CANDIDATES_FROM_OPTIONS:
      train, _ = pipeline.load_records(task, "train", bad_records="skip", **self.record_kwargs)
      majority = collections.Counter(_targets(task, train)).most_common(1)[0][0]
      baseline = [majority] * len(rows)
    else:
      baseline = [r["input"] for r in rows]
    for key, value in metrics_lib.compute(task.metrics, baseline, references,
                                          answer_types).items():
      results[f"baseline_{key}"] = value
    learned = self._learned.get(task.name)
    if learned is not None:
      for key, value in metrics_lib.compute(task.metrics, learned.predictions, references,
                                            answer_types).items():
        results[f"learned_{key}"] = value
    if not distributed.is_primary():
      return results
    out = epath.Path(self.workdir) / "eval" / str(step)
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{task.name}.jsonl").open("w") as f:
      for row in rows:
        f.write(json.dumps(row) + "\n")
    return results

  # -- every task -----------------------------------------------------------------------

  def run(self, variables, step: int) -> dict:
    """Flat {"<task>/<metric>": value}; also writes the summary table."""
    per_task = {}
    for name in self.tasks:
      per_task[name] = self.evaluate_task(variables, name, step)
      logging.info("eval step %d %s: %s", step, name, ", ".join(
          f"{k} {v:.4g}" for k, v in per_task[name].items()))
    self._write_summary(per_task, step)
    return {f"{task}/{key}": value for task, values in per_task.items()
            for key, value in values.items()}

  def _write_summary(self, per_task: dict, step: int) -> None:
    if not distributed.is_primary():
      return
    out = epath.Path(self.workdir) / "eval" / str(step)
    out.mkdir(parents=True, exist_ok=True)
    families = {name: get_task(name).family for name in per_task}
    (out / "summary.json").write_text(json.dumps(
        {"step": step, "tasks": per_task, "families": families,
         "learned_baselines": {n: b.name for n, b in self._learned.items() if b}}, indent=2))
    lines = [f"# Evaluation at step {step}", "",
             "| family | task | examples | metric | model | baseline | learned baseline |",
             "|---|---|---|---|---|---|---|"]
    for name, values in sorted(per_task.items(), key=lambda kv: families[kv[0]]):
      for key, value in values.items():
        if key.startswith(("baseline_", "learned_")) or key == "examples":
          continue
        base, learned = values.get(f"baseline_{key}"), values.get(f"learned_{key}")
        lines.append(f"| {families[name]} | {name} | {values['examples']} | {key} | "
                     f"{value:.4g} | {'' if base is None else f'{base:.4g}'} | "
                     f"{'' if learned is None else f'{learned:.4g}'} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    logging.info("evaluation table: %s", out / "summary.md")


def _padding_batch(template, task: str) -> dict:
  """An all-padding batch for a process whose shard has ended while others' have not."""
  if template is None:
    raise ValueError(f"task {task!r}: this process's shard of the eval split is empty; the "
                     "split needs at least one record per process")
  padding = {k: np.zeros_like(v) for k, v in template.items()}
  padding["example_index"] = np.full_like(template["example_index"], -1)
  padding["task_id"] = template["task_id"]
  return padding


def _is_open(record) -> bool:
  return str(record.fields.get("answer_type", "CLOSED")).upper() == "OPEN"


def _targets(task, records):
  for i in range(len(records)):
    try:
      yield task.target(records[i])
    except DataError:  # a bad training record does not change the majority answer
      continue
