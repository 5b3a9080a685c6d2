"""The train state, created directly sharded on the mesh (never whole on one device)."""

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from biomed_jax.data import batch_contract
from biomed_jax import sharding as sharding_lib
from biomed_jax.model import EncoderDecoder, ModelConfig


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  batch_stats: Any  # BatchNorm running averages of the vision encoder
  opt_state: Any
  rng: jax.Array  # base key; each step folds in its step number
  ema_params: Any = None  # exponential moving average of params, when enabled


def example_inputs(cfg: ModelConfig, batch_size: int = 1, encoder_length: int = 8,
                   decoder_length: int = 8) -> dict[str, jax.ShapeDtypeStruct]:
  """Shapes of one batch (the contract of biomed_jax/data): enough to build every parameter."""
  shapes = batch_contract.shapes(batch_size=batch_size, source_len=encoder_length,
                                 target_len=decoder_length, image_size=cfg.image_size,
                                 keys=batch_contract.batch_keys(packed=False,
                                                           model_inputs_only=True))
  return {k: jax.ShapeDtypeStruct(shape, dtype) for k, (shape, dtype) in shapes.items()}


def _init_fn(model: EncoderDecoder, tx: optax.GradientTransformation, inputs: dict,
             ema: bool = False):
  def init(rng):
    params_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
    zeros = {k: jnp.zeros(v.shape, v.dtype) for k, v in inputs.items()}
    variables = model.init({"params": params_rng, "dropout": dropout_rng},
                           zeros["encoder_tokens"], zeros["decoder_inputs"],
                           zeros.get("images"), zeros.get("image_mask"))
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables.get("batch_stats", {}),
                      opt_state=tx.init(params), rng=state_rng,
                      ema_params=jax.tree.map(jnp.copy, params) if ema else None)
  return init


def abstract_state(model: EncoderDecoder, tx: optax.GradientTransformation, inputs: dict,
                   ema: bool = False) -> TrainState:
  """Shapes and logical partitioning of the whole state, with no memory allocated."""
  return jax.eval_shape(_init_fn(model, tx, inputs, ema),
                        jax.random.key_data(jax.random.key(0)))


def state_shardings(abstract: TrainState, mesh, rules) -> TrainState:
  return sharding_lib.logical_shardings(abstract, mesh, rules)


def create_state(model: EncoderDecoder, tx: optax.GradientTransformation, inputs: dict,
                 mesh, rules, seed: int, ema: bool = False) -> tuple[TrainState, TrainState]:
  """(state, its shardings): every array is created on its own shard by a jitted init."""
  shardings = state_shardings(abstract_state(model, tx, inputs, ema), mesh, rules)
  init = _init_fn(model, tx, inputs, ema)
  with sharding_lib.mesh_context(mesh, rules):
    state = jax.jit(lambda rng: nn.meta.unbox(init(rng)), out_shardings=shardings)(
        jax.random.key_data(jax.random.key(seed)))
  return state, shardings


def count_params(tree) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(nn.meta.unbox(tree)))
