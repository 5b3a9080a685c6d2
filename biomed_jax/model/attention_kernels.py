"""Fused attention kernels behind `model.attention_impl`; `xla` (plain einsums) lives in
layers.MultiHeadAttention itself.

  cudnn       jax.nn.dot_product_attention's cuDNN flash attention (GPU; bfloat16/float16)
  pallas_tpu  the Pallas TPU flash-attention kernel, with the additive bias
  auto        cudnn on GPU with a 16-bit dtype, pallas_tpu on TPU, xla otherwise

Both kernels take the same additive bias and key mask as the einsum path and give its
result within float tolerance (tests/model/test_attention_kernels.py runs the Pallas kernel
in its TPU interpret mode on CPU, and the cuDNN call's arguments through JAX's XLA
implementation of the same function). Neither applies dropout to the attention weights:
ModelConfig refuses them with attention dropout > 0.
"""

import jax
import jax.numpy as jnp

# Finite, so a key-masked logit plus a score stays finite inside the kernels' running max.
MASK_VALUE = -1e9
_BLOCK = 128  # the Pallas kernel's tile along both sequence axes


def resolve(impl: str, dtype) -> str:
  """The implementation `impl` stands for on this platform ("auto" picks one)."""
  if impl != "auto":
    return impl
  backend = jax.default_backend()
  if backend == "gpu" and jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16):
    return "cudnn"
  if backend == "tpu":
    return "pallas_tpu"
  return "xla"


def _combined_bias(bias, mask, shape):
  """bias (float32) and mask (bool), each broadcastable to [b, h, lq, lk], as one float32
  additive bias of that shape: what the Pallas kernel takes."""
  total = jnp.zeros(shape, jnp.float32)
  if bias is not None:
    total = total + bias.astype(jnp.float32)
  if mask is not None:
    total = jnp.where(mask, total, MASK_VALUE)
  return total


def _round_up(n: int) -> int:
  return -(-n // _BLOCK) * _BLOCK


def pallas_tpu_attention(q, k, v, bias, mask):
  """q [b, lq, h, d], k/v [b, lk, h, d] -> [b, lq, h, d]. Lengths are padded to the
  kernel's 128 tile (padded keys masked, padded queries dropped)."""
  from jax.experimental.pallas.ops.tpu import flash_attention as fa  # pylint: disable=g-import-not-at-top
  b, lq, h, _ = q.shape
  lk = k.shape[1]
  ab = _combined_bias(bias, mask, (b, h, lq, lk))
  pq, pk = _round_up(lq) - lq, _round_up(lk) - lk
  heads_first = lambda x, pad: jnp.pad(x, ((0, 0), (0, pad), (0, 0), (0, 0))).transpose(
      0, 2, 1, 3)
  ab = jnp.pad(ab, ((0, 0), (0, 0), (0, pq), (0, pk)), constant_values=MASK_VALUE)
  blocks = fa.BlockSizes(block_q=_BLOCK, block_k_major=_BLOCK, block_k=_BLOCK, block_b=1,
                         block_q_major_dkv=_BLOCK, block_k_major_dkv=_BLOCK,
                         block_k_dkv=_BLOCK, block_q_dkv=_BLOCK, block_k_major_dq=_BLOCK,
                         block_k_dq=_BLOCK, block_q_dq=_BLOCK)
  out = fa.flash_attention(heads_first(q, pq), heads_first(k, pk), heads_first(v, pk), ab=ab,
                           sm_scale=1.0, block_sizes=blocks)
  return out.transpose(0, 2, 1, 3)[:, :lq].astype(q.dtype)


def cudnn_attention(q, k, v, bias, mask, implementation: str | None = "cudnn"):
  """q [b, lq, h, d], k/v [b, lk, h, d] -> [b, lq, h, d] through jax.nn.dot_product_attention
  (scale 1: the 1/sqrt(d) of T5 lives in the query initialisation, OFA's is applied to q)."""
  if bias is not None:
    bias = bias.astype(q.dtype)
  return jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=1.0,
                                      implementation=implementation)


def fused_attention(impl: str, q, k, v, bias, mask):
  if impl == "pallas_tpu":
    return pallas_tpu_attention(q, k, v, bias, mask)
  if impl == "cudnn":
    return cudnn_attention(q, k, v, bias, mask)
  raise ValueError(f"model.attention_impl={impl!r}: no fused kernel of that name")
