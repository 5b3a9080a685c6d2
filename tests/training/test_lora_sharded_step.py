"""A LoRA train step on a data=2 x fsdp=2 x tensor=2 CPU mesh equals the single-device step."""

import jax
import ml_collections
import numpy as np
from jax.sharding import PartitionSpec as P

from biomed_jax import sharding
from biomed_jax.model import EncoderDecoder, lora, model_config
from biomed_jax.training import optimizer, state as state_lib, step as step_lib

CFG = model_config("t5_tiny", vocab_size=256, image_size=32, lora_rank=4, lora_alpha=8.0,
                   lora_dropout=0.1)
# Adam's first steps are g / |g|: with eps=1e-8 a gradient element near zero turns a rounding
# difference of the reduction order (machine-dependent) into a full +-lr step, so the
# comparison would test the CPU's vector width, not the sharding. eps=1e-4 keeps the update
# a smooth function of the gradient, and 1e-5 a meaningful bound.
OPT = ml_collections.ConfigDict(dict(
    learning_rate=1e-2, warmup_steps=0, decay="constant", end_learning_rate_factor=0.0,
    b1=0.9, b2=0.999, eps=1e-4, weight_decay=0.01, grad_clip_norm=1.0))


def _batch(rng):
  b, ls, lt = 8, 10, 6
  enc = rng.integers(3, 250, (b, ls)).astype(np.int32)
  enc[::3, 7:] = 0
  targets = rng.integers(3, 250, (b, lt)).astype(np.int32)
  return {"encoder_tokens": enc,
          "decoder_inputs": np.concatenate([np.zeros((b, 1), np.int32), targets[:, :-1]], 1),
          "decoder_targets": targets, "decoder_loss_weights": np.ones((b, lt), np.float32)}


def _two_steps(mesh_axes, devices, batch):
  mesh = sharding.make_mesh(mesh_axes, devices)
  rules = sharding.DEFAULT_RULES
  model = EncoderDecoder(CFG)
  freeze = lora.frozen_pattern(CFG)
  tx = optimizer.make_optimizer(OPT, total_steps=10, freeze=freeze)
  inputs = {k: v for k, v in state_lib.example_inputs(CFG, 8, 10, 6).items()
            if k not in ("images", "image_mask")}
  state, shardings = state_lib.create_state(model, tx, inputs, mesh, rules, seed=0)
  step = step_lib.jit_train_step(step_lib.make_train_step(model, tx, 0.1, freeze=freeze),
                                 shardings, sharding.batch_sharding(mesh, rules))
  with sharding.mesh_context(mesh, rules):
    for _ in range(2):  # lora_b leaves zero at step 1, so lora_a only moves at step 2
      state, metrics = step(state, sharding.shard_batch(batch, sharding.batch_sharding(
          mesh, rules)))
  return jax.device_get(state), jax.device_get(metrics), state


def _rel_error(a, b):
  pairs = list(zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  diff = sum(np.sum((np.float64(x) - np.float64(y)) ** 2) for x, y in pairs)
  return float(np.sqrt(diff / sum(np.sum(np.float64(y) ** 2) for _, y in pairs)))


def test_sharded_lora_step_equals_single_device_step():
  assert len(jax.devices()) == 8, "tests/conftest.py should give 8 CPU devices"
  batch = _batch(np.random.default_rng(0))
  single, single_metrics, _ = _two_steps({"data": 1, "fsdp": 1, "tensor": 1},
                                         jax.devices()[:1], batch)
  sharded, sharded_metrics, live = _two_steps({"data": 2, "fsdp": 2, "tensor": 2},
                                              jax.devices(), batch)
  np.testing.assert_allclose(sharded_metrics["loss"], single_metrics["loss"], rtol=1e-5)
  np.testing.assert_allclose(sharded_metrics["grad_norm"], single_metrics["grad_norm"],
                             rtol=1e-5)
  only = lambda params: lora.adapters(params)
  assert _rel_error(only(sharded.params), only(single.params)) <= 1e-5
  assert _rel_error(sharded.params, single.params) <= 1e-5
  query = live.params["encoder"]["layers"]["attention"]["query"]
  assert query["lora_a"].sharding.spec == P(None, "fsdp", None)  # [layers, embed, rank]
  assert query["lora_b"].sharding.spec == P(None, None, "tensor", None)  # [.., rank, heads, kv]
