"""Bad input is refused before anything compiles, with a message naming the value at fault."""

import jax
import numpy as np
import pytest

from biomed_jax import config_lib, sharding
from biomed_jax.model import model_config
from biomed_jax.training.step import validate_batch

CFG = model_config("t5_tiny", vocab_size=100, image_size=64)


def _batch(**changes):
  batch = {
      "encoder_tokens": np.ones((2, 5), np.int32),
      "decoder_inputs": np.zeros((2, 4), np.int32),
      "decoder_targets": np.ones((2, 4), np.int32),
      "decoder_loss_weights": np.ones((2, 4), np.float32),
      "images": np.zeros((2, 64, 64, 3), np.float32),
      "image_mask": np.ones((2,), bool),
  }
  batch.update(changes)
  return batch


def test_a_good_batch_passes():
  validate_batch(_batch(), CFG)


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 32, 32, 3), np.float32), r"\(2, 32, 32, 3\).*64, 64, 3"),
    (np.zeros((2, 64, 64, 1), np.float32), r"\(2, 64, 64, 1\).*RGB"),
    (np.zeros((2, 64, 64), np.float32), r"\(2, 64, 64\)"),
])
def test_wrong_image_size_or_channels(images, message):
  with pytest.raises(ValueError, match=message):
    validate_batch(_batch(images=images), CFG)


@pytest.mark.parametrize("bad_id", [100, 5000, -1])
def test_token_out_of_vocabulary(bad_id):
  tokens = np.ones((2, 5), np.int32)
  tokens[1, 3] = bad_id
  with pytest.raises(ValueError, match=rf"encoder_tokens.*token id {bad_id} .*\[0, 100\)"):
    validate_batch(_batch(encoder_tokens=tokens), CFG)


def test_unknown_variant_is_named():
  config = config_lib.base_config("t5_tiny")
  config.model.variant = "gigantic"
  with pytest.raises(ValueError, match=r"'gigantic'.*known variants.*xlarge"):
    config_lib.resolve_model_config(config.model)


def test_invalid_model_switch_is_named():
  with pytest.raises(ValueError, match=r"model.ffn_type='swish'"):
    model_config("t5_tiny", ffn_type="swish")


@pytest.mark.parametrize("axes, message", [
    ({"data": 3, "fsdp": 1, "tensor": 1}, r"data=3, fsdp=1, tensor=1.*needs 3 devices.*8"),
    ({"data": 3, "fsdp": -1, "tensor": 1}, r"data=3, fsdp=-1.*does not divide the 8 devices"),
    ({"data": -1, "fsdp": -1, "tensor": 1}, r"at most one -1"),
    ({"data": 2, "fsdp": 2, "model": 2}, r"unknown axes \['model'\]"),
])
def test_mesh_that_does_not_fit_the_devices(axes, message):
  with pytest.raises(ValueError, match=message):
    sharding.make_mesh(axes, jax.devices())


def test_parameter_that_does_not_divide_over_the_mesh_is_named():
  from biomed_jax.model import EncoderDecoder
  odd = model_config("t5_tiny", vocab_size=101, image_size=64)  # 101 rows cannot split in 2
  shapes = jax.eval_shape(EncoderDecoder(odd).init, jax.random.key(0),
                          np.zeros((1, 4), np.int32), np.zeros((1, 4), np.int32))
  mesh = sharding.make_mesh({"data": 2, "fsdp": 2, "tensor": 2}, jax.devices())
  with pytest.raises(ValueError, match=r"\['embedding'\]\['embedding'\].*101.*tensor"):
    sharding.logical_shardings(shapes["params"], mesh, sharding.DEFAULT_RULES)
