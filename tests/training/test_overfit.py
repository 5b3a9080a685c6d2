"""The tiny model learns every task format: one fixed batch holding a training example of each
of the six families reaches near-zero loss, and greedy decoding then reproduces every target
token exactly, within a bounded number of steps."""

import jax
import ml_collections
import numpy as np

from biomed_jax import sharding
from biomed_jax.data import batch_contract, pipeline, tokenizer as tokenizer_lib
from biomed_jax.data.tasks import SAMPLE_TASKS
from biomed_jax.decoding import decode
from biomed_jax.model import EncoderDecoder, model_config
from biomed_jax.training import optimizer, state as state_lib, step as step_lib

PER_TASK, SOURCE_LEN, TARGET_LEN, IMAGE_SIZE = 1, 48, 16, 64
MAX_STEPS, NEAR_ZERO = 200, 0.05
OPT = ml_collections.ConfigDict(dict(
    learning_rate=1e-2, warmup_steps=0, decay="constant", end_learning_rate_factor=0.0,
    b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, grad_clip_norm=1.0))


TASKS = SAMPLE_TASKS


def _fixed_batch(tokenizer):
  """The first training example of every sample task, as one batch."""
  parts = []
  for name in TASKS:
    iterator = pipeline.make_eval_iterator(
        name, tokenizer=tokenizer, batch_size=PER_TASK, image_size=IMAGE_SIZE,
        max_source_len=SOURCE_LEN, max_target_len=TARGET_LEN, split="train",
        bad_records="skip")
    parts.append(next(iter(iterator)))
    iterator.close()
  return {k: np.concatenate([p[k] for p in parts]) for k in batch_contract.batch_keys(
      packed=False, model_inputs_only=True)}


def test_one_batch_of_every_family_is_learned_exactly():
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_lib.SAMPLE_MODEL)  # the demo's
  cfg = model_config("t5_tiny", image_size=IMAGE_SIZE, dropout_rate=0.0,
                     vocab_size=tokenizer.padded_vocab_size())
  batch = _fixed_batch(tokenizer)
  assert batch["image_mask"].sum() == 3 * PER_TASK  # classification, VQA, captioning
  mesh = sharding.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, jax.devices()[:1])
  rules = sharding.DEFAULT_RULES
  model = EncoderDecoder(cfg)
  tx = optimizer.make_optimizer(OPT, total_steps=MAX_STEPS)
  inputs = state_lib.example_inputs(cfg, len(batch["encoder_tokens"]), SOURCE_LEN, TARGET_LEN)
  state, shardings = state_lib.create_state(model, tx, inputs, mesh, rules, seed=0)
  batch_sharding = sharding.batch_sharding(mesh, rules)
  train_step = step_lib.jit_train_step(step_lib.make_train_step(model, tx, 0.0), shardings,
                                       batch_sharding)
  with sharding.mesh_context(mesh, rules):
    sharded = sharding.shard_batch(batch, batch_sharding)
    losses = []
    for _ in range(MAX_STEPS):
      state, metrics = train_step(state, sharded)
      losses.append(float(metrics["loss"]))
      if losses[-1] < NEAR_ZERO:
        break
  assert losses[0] > 5.0  # it starts from chance over the 5,120-id vocabulary (ln = 8.5)
  assert losses[-1] < NEAR_ZERO, f"loss after {len(losses)} steps: {losses[-1]:.4f}"

  tokens = np.asarray(decode(
      model, {"params": state.params, "batch_stats": state.batch_stats},
      batch["encoder_tokens"], batch["images"], batch["image_mask"],
      max_length=TARGET_LEN).tokens)
  weights = batch["decoder_loss_weights"] > 0
  targets = batch["decoder_targets"]
  wrong = []
  for row, name in enumerate(np.repeat(TASKS, PER_TASK)):
    expected = targets[row][weights[row]]
    got = tokens[row][:len(expected)]
    if list(got) != list(expected):
      wrong.append(f"{name}: decoded {tokenizer.decode(got.tolist())!r}, "
                   f"target {tokenizer.decode(expected.tolist())!r}")
  assert not wrong, f"after {len(losses)} steps: " + "; ".join(wrong)
