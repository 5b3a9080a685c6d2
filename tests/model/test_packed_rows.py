"""Packed rows (data.packing) give every example the loss and the gradients it has alone.

The packed layout is built here by hand from the unpacked rows (concatenate each example's
tokens, number the segments, restart the positions), independently of the data pipeline's
packer (tests/data/test_packed_batches.py checks that one against this layout). Both
flavours: T5's relative bias and OFA's absolute + relative bias read the per-row positions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from biomed_jax.model import EncoderDecoder, Packing, model_config
from biomed_jax.training import state as state_lib
from biomed_jax.training.step import make_train_step

FLAVOURS = {
    "t5": model_config("t5_tiny", vocab_size=128, image_size=32, dropout_rate=0.0),
    "ofa": model_config("biomedgpt_tiny", vocab_size=128, logit_vocab_size=120, d_model=32,
                        num_heads=4, head_dim=8, d_ff=64, num_encoder_layers=2,
                        num_decoder_layers=2, vision_layers=(1, 1, 1), vision_width=8,
                        image_size=32, dropout_rate=0.0, attention_dropout_rate=0.0,
                        activation_dropout_rate=0.0),
}
SOURCE_LEN, TARGET_LEN = 16, 8
# (source length incl. EOS, target length incl. EOS) of each example; example 0 has an image.
LENGTHS = [(9, 4), (5, 3), (10, 4), (4, 2), (6, 3), (5, 3)]
ROWS = [[0], [1, 2], [3, 4, 5]]  # the packed rows: the image example alone


def _examples(cfg):
  rng = np.random.default_rng(0)
  examples = []
  for n, m in LENGTHS:
    enc = rng.integers(3, 100, n).astype(np.int32)
    enc[-1] = cfg.eos_id
    if cfg.bos_id != cfg.pad_id:  # OFA's sources begin with <s>
      enc[0] = cfg.bos_id
    targets = rng.integers(3, 100, m).astype(np.int32)
    targets[-1] = cfg.eos_id
    inputs = np.concatenate([[cfg.bos_id], targets[:-1]]).astype(np.int32)
    examples.append((enc, inputs, targets))
  images = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
  return examples, images


def _padded(rows, length, fill, dtype=np.int32):
  out = np.full((len(rows), length), fill, dtype)
  for i, row in enumerate(rows):
    out[i, :len(row)] = row
  return out


def _batch(cfg, examples, images, rows):
  """The contract batch of `rows` (lists of example indices); packing keys when any row holds
  more than one example."""
  batch = {"encoder_tokens": [], "decoder_inputs": [], "decoder_targets": [],
           "decoder_loss_weights": []}
  segments = {k: [] for k in Packing._fields}
  for row in rows:
    parts = [examples[i] for i in row]
    batch["encoder_tokens"].append(np.concatenate([p[0] for p in parts]))
    batch["decoder_inputs"].append(np.concatenate([p[1] for p in parts]))
    batch["decoder_targets"].append(np.concatenate([p[2] for p in parts]))
    batch["decoder_loss_weights"].append(np.ones(sum(len(p[2]) for p in parts), np.float32))
    for side, index in (("encoder", 0), ("decoder", 2)):
      segments[f"{side}_segment_ids"].append(np.concatenate(
          [np.full(len(p[index]), s + 1) for s, p in enumerate(parts)]))
      segments[f"{side}_positions"].append(np.concatenate(
          [np.arange(len(p[index])) for p in parts]))
  out = {k: _padded(v, SOURCE_LEN if k == "encoder_tokens" else TARGET_LEN,
                    0.0 if k == "decoder_loss_weights" else cfg.pad_id,
                    np.float32 if k == "decoder_loss_weights" else np.int32)
         for k, v in batch.items()}
  if any(len(row) > 1 for row in rows):
    out.update({k: _padded(v, SOURCE_LEN if k.startswith("encoder") else TARGET_LEN, 0)
                for k, v in segments.items()})
  out["images"] = np.zeros((len(rows), 32, 32, 3), np.float32)
  out["image_mask"] = np.array([0 in row for row in rows])
  out["images"][out["image_mask"]] = images
  return out


def _per_example_losses(cfg, variables, batch, rows):
  logits = EncoderDecoder(cfg).apply(
      variables, batch["encoder_tokens"], batch["decoder_inputs"], batch["images"],
      batch["image_mask"], Packing.from_batch(batch))
  log_probs = np.asarray(jnp.take_along_axis(jax.nn.log_softmax(logits),
                                             batch["decoder_targets"][..., None], -1)[..., 0])
  losses = {}
  for r, row in enumerate(rows):
    start = 0
    for i in row:
      m = LENGTHS[i][1]
      losses[i] = -log_probs[r, start:start + m].sum()
      start += m
  return losses


@pytest.fixture(params=sorted(FLAVOURS), scope="module")
def setup(request):
  cfg = FLAVOURS[request.param]
  examples, images = _examples(cfg)
  unpacked = _batch(cfg, examples, images, [[i] for i in range(len(examples))])
  packed = _batch(cfg, examples, images, ROWS)
  variables = EncoderDecoder(cfg).init(jax.random.key(0), unpacked["encoder_tokens"],
                                       unpacked["decoder_inputs"], unpacked["images"],
                                       unpacked["image_mask"])
  return cfg, variables, unpacked, packed


def test_packed_rows_give_each_example_its_unpacked_loss(setup):
  cfg, variables, unpacked, packed = setup
  alone = _per_example_losses(cfg, variables, unpacked, [[i] for i in range(len(LENGTHS))])
  together = _per_example_losses(cfg, variables, packed, ROWS)
  np.testing.assert_allclose([together[i] for i in range(len(LENGTHS))],
                             [alone[i] for i in range(len(LENGTHS))], rtol=1e-5, atol=1e-5)
  # Without the segment ids the same rows attend across examples: the check above can fail.
  crossed = {k: v for k, v in packed.items() if k not in Packing._fields}
  leaked = _per_example_losses(cfg, variables, crossed, ROWS)
  assert max(abs(leaked[i] - alone[i]) for i in (2, 4, 5)) > 1e-3


@pytest.mark.parametrize("normalization", ["tokens", "examples"])
def test_a_packed_train_step_equals_the_unpacked_one(setup, normalization):
  """Same loss, accuracy and update: the loss is per segment, as it is per row unpacked."""
  cfg, variables, unpacked, packed = setup
  model = EncoderDecoder(cfg)
  tx = optax.sgd(0.5)
  step = jax.jit(make_train_step(model, tx, label_smoothing=0.1,
                                 loss_normalization=normalization))
  state = state_lib.TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                               batch_stats=variables.get("batch_stats", {}),
                               opt_state=tx.init(variables["params"]),
                               rng=jax.random.key_data(jax.random.key(1)))
  new_unpacked, metrics_unpacked = step(state, unpacked)
  new_packed, metrics_packed = step(state, packed)
  for key in ("loss", "token_accuracy", "target_tokens", "grad_norm"):
    np.testing.assert_allclose(metrics_packed[key], metrics_unpacked[key], rtol=1e-5,
                               err_msg=key)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
               new_packed.params, new_unpacked.params)
