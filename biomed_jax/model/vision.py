"""Vision encoder: the first three ResNet stages (stride 16), projected to d_model tokens.

As in BiomedGPT/OFA, only stages 1-3 of a bottleneck ResNet are used; a 384 px image becomes a
24 x 24 grid of tokens. In the T5 flavour each token gets a learned 2-D position (row, column)
embedding; in the OFA flavour positions enter only the attention bias.
BatchNorm uses batch statistics in training (over the examples that have an image only) and the
running averages in evaluation.
"""

import flax.linen as nn
import jax.numpy as jnp

from biomed_jax.model.config import ModelConfig
from biomed_jax.model.layers import Dense, constrain, normal_init, partitioned

CONV_AXES = ("conv_h", "conv_w", "conv_in", "conv_out")


class _ConvBN(nn.Module):
  config: ModelConfig
  features: int
  kernel: int
  stride: int = 1
  train: bool = False
  relu: bool = True

  @nn.compact
  def __call__(self, x, mask):
    cfg = self.config
    pad = self.kernel // 2
    x = nn.Conv(self.features, (self.kernel, self.kernel), strides=self.stride,
                padding=((pad, pad), (pad, pad)), use_bias=False, dtype=cfg.dtype,
                param_dtype=cfg.param_dtype, name="conv",
                kernel_init=partitioned(nn.initializers.he_normal(), CONV_AXES))(x)
    x = nn.BatchNorm(use_running_average=not self.train, momentum=cfg.batch_norm_momentum,
                     epsilon=cfg.batch_norm_epsilon, dtype=cfg.dtype,
                     param_dtype=cfg.param_dtype, name="bn",
                     scale_init=partitioned(nn.initializers.ones, ("conv_out",)),
                     bias_init=partitioned(nn.initializers.zeros, ("conv_out",)))(
                         x, mask=None if mask is None else jnp.broadcast_to(
                             mask[:, None, None, None], x.shape))
    return nn.relu(x) if self.relu else x


class _Bottleneck(nn.Module):
  config: ModelConfig
  width: int
  stride: int
  train: bool = False

  @nn.compact
  def __call__(self, x, mask):
    conv = lambda f, k, s, relu, name: _ConvBN(self.config, f, k, s, self.train, relu,
                                               name=name)
    out = conv(self.width, 1, 1, True, "conv1")(x, mask)
    out = conv(self.width, 3, self.stride, True, "conv2")(out, mask)
    out = conv(self.width * 4, 1, 1, False, "conv3")(out, mask)
    if x.shape[-1] != self.width * 4 or self.stride != 1:
      x = conv(self.width * 4, 1, self.stride, False, "shortcut")(x, mask)
    return nn.relu(out + x)


class VisionEncoder(nn.Module):
  """images [b, S, S, 3] normalised (see data/images.py) -> tokens [b, S/16, S/16, d_model]."""
  config: ModelConfig
  train: bool = False

  @nn.compact
  def __call__(self, images, image_mask=None):
    cfg = self.config
    if image_mask is not None:
      # Batch statistics come from the examples that have an image; a batch with none uses
      # them all (the caller then keeps the old running averages, see train_step).
      image_mask = image_mask | ~jnp.any(image_mask)
    x = images.astype(cfg.dtype)
    x = _ConvBN(cfg, cfg.vision_width, 7, 2, self.train, name="stem")(x, image_mask)
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for stage, (blocks, stride) in enumerate(zip(cfg.vision_layers, (1, 2, 2))):
      width = cfg.vision_width * 2 ** stage
      for block in range(blocks):
        x = _Bottleneck(cfg, width, stride if block == 0 else 1, self.train,
                        name=f"stage{stage + 1}_block{block}")(x, image_mask)
    _, gh, gw, c = x.shape
    tokens = Dense((cfg.d_model,), ("conv_out", "embed"), c ** -0.5, cfg, use_bias=True,
                   name="projection")(x)
    if cfg.position_bias == "t5":  # OFA's image positions live in the attention bias instead
      positions = self.param(
          "position_embedding",
          partitioned(normal_init(cfg.d_model ** -0.5),
                      ("image_grid", "image_grid_w", "embed")),
          (cfg.image_position_buckets, cfg.image_position_buckets, cfg.d_model),
          cfg.param_dtype)
      tokens = tokens + jnp.asarray(positions[:gh, :gw], cfg.dtype)[None]
    return constrain(tokens, ("batch", "image_grid", "image_grid_w", "embed"))
