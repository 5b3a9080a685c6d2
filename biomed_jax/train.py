"""The trainer: one function, read top to bottom.

  Config check & workdir lock -> Mesh -> Input pipeline -> Model & optimizer
  -> State (resume, init_from or fresh) -> Train step -> Evaluation
  -> Train loop (logging, checkpoints, preemption, guards)
"""

import contextlib
import hashlib
import re
import signal

from absl import logging
from etils import epath
import flax.linen as nn
import jax
import ml_collections
import numpy as np

from biomed_jax import checkpointing, config_checks, config_lib, distributed, evaluation
from biomed_jax import sharding
from biomed_jax import workdir_lock
from biomed_jax.data import batch_contract, pipeline
from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.model import EncoderDecoder, lora
from biomed_jax.training import init_from, optimizer, reporting
from biomed_jax.training import state as state_lib
from biomed_jax.training import step as step_lib


# Steps the host may queue ahead of the device before it waits (metrics are fetched on log
# steps only): enough to hide reading and sending a batch, few enough to bound the memory
# that queued batches hold.
MAX_STEPS_AHEAD = 2


class _Preemption:
  """SIGTERM (Cloud TPU preemption, Kubernetes, Slurm) asks for a checkpoint, then exit."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: saving a checkpoint after this step, then exiting")
    self.requested = True

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)


def _fingerprint(batch) -> str:
  digest = hashlib.sha256()
  for key in sorted(batch):
    digest.update(np.ascontiguousarray(batch[key]).tobytes())
  return digest.hexdigest()[:16]


def fingerprints_file(process_index: int, process_count: int) -> str:
  """Each process records the batches it read (its own share of the global batch)."""
  if process_count == 1:
    return "batch_fingerprints.txt"
  return f"batch_fingerprints.process{process_index}.txt"


def run(config: ml_collections.ConfigDict, workdir: str, mode: str) -> dict:
  """mode: train | evaluate | train_and_evaluate.

  Returns {"step": last step, "eval": last evaluation's metrics, "skipped_nonfinite": n}.
  """
  # ---------------------------------------------------------------------------- Config & lock
  config_checks.check(config, mode)
  model_cfg = config_lib.resolve_model_config(config.model)
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)  # local or gs://
  with contextlib.ExitStack() as stack:
    # Evaluation only reads checkpoints: it may run beside the training run that writes them.
    if mode != "evaluate":
      stack.enter_context(workdir_lock.hold(workdir))
    ckpt = checkpointing.Checkpointer(
        workdir, every_steps=config.train.checkpoint_every,
        keep=config.train.keep_checkpoints, best_metric=config.train.keep_best_by)
    stack.callback(ckpt.close)
    config_checks.check_resume(config, mode, ckpt.latest_step(), ckpt.directory)
    return _run(config, workdir, mode, model_cfg, ckpt)


def _skipped_summary(counts: dict[str, dict[str, int]]) -> str:
  """"sample_vqa: missing_image=2; roco: bad_image=1": records dropped by the skip policy
  and records truncated to the batch widths, by task and kind."""
  return "; ".join(f"{task}: " + ", ".join(f"{kind}={n}" for kind, n in sorted(kinds.items()))
                   for task, kinds in sorted(counts.items())) or "none"


def _run(config, workdir: str, mode: str, model_cfg, ckpt: checkpointing.Checkpointer) -> dict:
  latest = ckpt.latest_step()

  # ---------------------------------------------------------------------------- Mesh
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules_from_config(config.sharding.rules)
  logging.info("mesh %s over %d devices (%d hosts)", dict(mesh.shape), mesh.size,
               jax.process_count())

  # ---------------------------------------------------------------------------- Input pipeline
  # A run that starts from weights uses the tokenizer saved with them unless told otherwise.
  tokenizer_path = config.data.tokenizer
  if not tokenizer_path and config.init_from and tokenizer_lib.tokenizer_kind(config.init_from):
    tokenizer_path = config.init_from
    logging.info("tokenizer: the one saved with init_from=%s", config.init_from)
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
  if tokenizer.vocab_size > model_cfg.vocab_size:
    raise ValueError(f"the tokenizer has {tokenizer.vocab_size} ids but model.vocab_size="
                     f"{model_cfg.vocab_size}; set --config.model.vocab_size="
                     f"{tokenizer.padded_vocab_size()}")
  tokenizer_lib.check_ids(tokenizer, model_cfg)
  # The run keeps its own copy of the tokenizer: a checkpoint is usable on its own.
  tokenizer_files = (tokenizer_lib.save_tokenizer(tokenizer, workdir) if distributed.is_primary()
                     else sorted(tokenizer.files))
  global_batch = config.data.batch_size
  data_parallel = mesh.shape["data"] * mesh.shape["fsdp"]
  for divisor, what in ((jax.process_count(), "hosts"), (data_parallel, "data x fsdp devices"),
                        (config.train.grad_accum_steps * data_parallel,
                         "grad_accum_steps x data x fsdp")):
    if global_batch % divisor:
      raise ValueError(f"config.data.batch_size={global_batch} must divide evenly over the "
                       f"{divisor} {what}")
  data_kwargs = dict(tokenizer=tokenizer, image_size=model_cfg.image_size,
                     max_source_len=config.data.max_source_len,
                     max_target_len=config.data.max_target_len,
                     data_dir=config.data.data_dir or None,
                     sample_root=config.data.sample_root or None,
                     shard_index=jax.process_index(), shard_count=jax.process_count(),
                     worker_count=config.data.worker_count,
                     decoder_prompt=config.data.decoder_prompt,
                     image_normalization=config.data.image_normalization)
  train_iter = pipeline.make_train_iterator(
      [tuple(m) for m in config.data.mixture], batch_size=global_batch // jax.process_count(),
      seed=config.seed, bad_records=config.data.bad_records_train,
      packing=config.data.packing, **data_kwargs)

  # ---------------------------------------------------------------------------- Model & optimizer
  model = EncoderDecoder(model_cfg)
  freeze = lora.frozen_pattern(model_cfg, config.train.freeze)  # LoRA: all but the adapters
  tx = optimizer.make_optimizer(config.optimizer, config.train.num_steps, freeze)
  schedule = optimizer.learning_rate_schedule(config.optimizer, config.train.num_steps)
  inputs = state_lib.example_inputs(model_cfg, global_batch, config.data.max_source_len,
                                    config.data.max_target_len)
  ema = config.train.ema_decay > 0
  abstract = state_lib.abstract_state(model, tx, inputs, ema)
  shardings = state_lib.state_shardings(abstract, mesh, rules)
  if config.train.freeze:
    frozen = [p for p in jax.tree_util.tree_flatten_with_path(nn.meta.unbox(abstract.params))[0]
              if re.fullmatch(config.train.freeze, optimizer.param_path(p[0]))]
    if not frozen:
      raise ValueError(f"config.train.freeze={config.train.freeze!r} matches no parameter")
    logging.info("freezing %d parameter arrays matching %r", len(frozen), config.train.freeze)

  # ---------------------------------------------------------------------------- State
  signature = checkpointing.resume_signature(config, model_cfg)
  if latest is not None:
    meta = ckpt.read_meta(latest)
    mismatches = checkpointing.signature_mismatches(meta["signature"], signature)
    if mismatches:
      raise ValueError(f"{ckpt.directory} holds checkpoints of an incompatible config; "
                       "use a new --workdir or restore the config. Differences:\n  " +
                       "\n  ".join(mismatches))
    # Training first reads this process's data position: another process count is refused
    # at once. Evaluation needs only the weights, which restore onto any processes and mesh.
    data_state = ckpt.read_data(latest) if mode != "evaluate" else None
    state = ckpt.restore_state(latest, checkpointing.abstract_with_shardings(
        nn.meta.unbox(abstract), shardings))
    if data_state is not None:
      train_iter.set_state(data_state)
    logging.info("resumed from %s/%d", ckpt.directory, latest)
  else:
    state, _ = state_lib.create_state(model, tx, inputs, mesh, rules, config.seed, ema)
    if config.init_from:
      params, batch_stats = init_from.load_into(state.params, state.batch_stats,
                                                config.init_from, model_cfg)
      state = state.replace(params=params, batch_stats=batch_stats,
                            ema_params=jax.tree.map(lambda p: p.copy(), params) if ema
                            else None)
  start_step = int(state.step)

  # ---------------------------------------------------------------------------- Train step
  batch_sharding = sharding.batch_sharding(mesh, rules)
  train_step = step_lib.jit_train_step(
      step_lib.make_train_step(model, tx, config.optimizer.label_smoothing,
                               config.train.grad_accum_steps, config.train.ema_decay, freeze,
                               config.train.loss_normalization),
      shardings, batch_sharding)

  # ---------------------------------------------------------------------------- Evaluation
  evaluator = evaluation.Evaluator(config, model, tokenizer, mesh, rules, data_kwargs,
                                   workdir)

  def evaluate(step: int) -> dict:
    variables = {"params": state.ema_params if ema else state.params,
                 "batch_stats": state.batch_stats}
    return evaluator.run(variables, step)

  if mode == "evaluate":
    if latest is None and not config.init_from:
      raise FileNotFoundError(f"--mode=evaluate: no checkpoint in {ckpt.directory} and no "
                              "config.init_from to evaluate")
    results = evaluate(start_step)
    return {"step": start_step, "eval": results, "skipped_nonfinite": 0}

  # ---------------------------------------------------------------------------- Train loop
  reporter = reporting.Reporter(workdir, config.train.num_steps, start_step)
  preemption = _Preemption()
  fingerprints = ((epath.Path(workdir) / fingerprints_file(jax.process_index(),
                                                           jax.process_count())).open("a")
                  if config.train.record_batch_fingerprints else None)
  consecutive_nonfinite = skipped_total = 0
  results = {}
  saved_step = latest

  def save(step: int, force: bool = False, metrics: dict | None = None) -> None:
    nonlocal saved_step
    if step == saved_step or not (force or ckpt.due(step)):
      return
    meta = {"signature": signature, "process_count": jax.process_count(),
            "config": config.to_json_best_effort(), "step": step,
            "model_config": model_cfg.to_dict(), "tokenizer": tokenizer_files}
    ckpt.save(step, state, meta, data=train_iter.get_state(), force=force, metrics=metrics)
    saved_step = step

  if start_step >= config.train.num_steps:
    logging.warning("the run is already at step %d = config.train.num_steps: nothing to "
                    "train (raise --config.train.num_steps to continue)", start_step)
  logging.info("training steps %d -> %d, global batch %d", start_step, config.train.num_steps,
               global_batch)
  pending = []  # (step, metrics on device, examples, tokens) not yet fetched

  def fetch_metrics() -> None:
    """Brings the pending steps' metrics to the host (one transfer) and applies the
    non-finite guard to each step in order."""
    nonlocal consecutive_nonfinite, skipped_total
    fetched = jax.device_get([metrics for _, metrics, _, _ in pending])
    steps = list(pending)
    pending.clear()
    for (step, _, examples, tokens), metrics in zip(steps, fetched):
      if metrics["nonfinite"]:
        consecutive_nonfinite += 1
        skipped_total += 1
        logging.warning("step %d: non-finite loss or gradient; update skipped (%d so far)",
                        step, skipped_total)
        if consecutive_nonfinite >= config.train.max_consecutive_nonfinite:
          raise FloatingPointError(
              f"{consecutive_nonfinite} consecutive steps with a non-finite loss or gradient "
              f"(last at step {step}): the run is diverging; lower the learning rate or check "
              "the data (config.train.max_consecutive_nonfinite)")
      else:
        consecutive_nonfinite = 0
        reporter.add(step, {k: metrics[k] for k in reporting.STEP_METRICS}, examples, tokens,
                     float(schedule(step - 1)))

  distributed.wait_for_all("train loop")
  try:
    for step in range(start_step + 1, config.train.num_steps + 1):
      batch = next(train_iter)
      step_lib.validate_batch(batch, model_cfg)
      if fingerprints:
        fingerprints.write(f"{step} {_fingerprint(batch)}\n")
        fingerprints.flush()
      with sharding.mesh_context(mesh, rules):
        state, metrics = train_step(state, sharding.shard_batch(batch, batch_sharding))

      # The metrics stay on the device until a log step: the host goes on to read and send
      # the next batch while this step runs. At most MAX_STEPS_AHEAD steps are queued.
      pending.append((step, metrics, batch_contract.count_examples(batch),
                      int((batch["encoder_tokens"] != model_cfg.pad_id).sum() +
                          batch["decoder_loss_weights"].sum())))
      if len(pending) > MAX_STEPS_AHEAD:
        jax.block_until_ready(pending[-MAX_STEPS_AHEAD - 1][1]["loss"])

      eval_due = (mode == "train_and_evaluate" and
                  (step % config.eval.every_steps == 0 or step == config.train.num_steps))
      final = step == config.train.num_steps
      log_due = step % config.train.log_every == 0 or final
      if log_due or eval_due:
        fetch_metrics()
      if log_due:
        counts = train_iter.problem_counts
        reporter.log(step, float(schedule(step - 1)), extra={
            "skipped_nonfinite": skipped_total,
            **{f"skipped_{task}_{kind}": n
               for task, kinds in counts.items() for kind, n in kinds.items()}})
        if counts or skipped_total:
          logging.info("step %d: record problems so far (skipped or truncated): %s; "
                       "non-finite steps skipped: %d",
                       step, _skipped_summary(counts), skipped_total)
      if eval_due and config.train.keep_best_by:
        # The checkpoint carries the metrics it is ranked by, so it is saved after them; an
        # evaluation that fails still leaves it saved (unranked).
        try:
          results = evaluate(step)
        except BaseException:
          save(step, force=True)
          raise
        save(step, force=final, metrics=results)
      else:
        save(step, force=final)  # before evaluating: a failing evaluation loses nothing
        if eval_due:
          results = evaluate(step)
      if eval_due:
        reporter.scalars(step, results, prefix="eval/")
      if preemption.requested or ckpt.manager.reached_preemption(step):
        fetch_metrics()
        save(step, force=True)
        ckpt.wait()
        logging.warning("checkpoint for step %d written; exiting for preemption", step)
        break
  finally:
    preemption.restore()
    if fingerprints:
      fingerprints.close()
    reporter.close()
    logging.info("record problems in training (bad_records_train=%r: skipped; too long: "
                 "truncated): %s; non-finite steps skipped: %d", config.data.bad_records_train,
                 _skipped_summary(train_iter.problem_counts), skipped_total)
  return {"step": int(state.step), "eval": results, "skipped_nonfinite": skipped_total}
