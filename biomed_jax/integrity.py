"""Per-array checksums of a checkpoint's state: written with it, verified on restore.

Each array gets two 32-bit sums of its elements' bit patterns (read as unsigned words): a plain
sum and one weighted by an odd hash of the element's position. Integer sums modulo 2**32 are
exact in any order, so the value does not depend on the mesh or the sharding the array lives
on (saved on 8 devices, restored on 1), and it is computed where the array is, under jit: one
pass over the bytes, no host copy. A change to any single element always changes the weighted
sum (its weight is odd, hence invertible modulo 2**32). It guards against disk and transfer
corruption, not tampering: it is not a cryptographic hash.
"""

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

_UNSIGNED = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}
_GOLDEN = np.uint32(0x9E3779B1)  # Knuth's multiplicative hash constant (odd)


class CheckpointCorrupt(ValueError):
  """A checkpoint's bytes do not match what was saved."""


def _path(path) -> str:
  parts = []
  for key in path:
    for attr in ("key", "name", "idx"):
      if hasattr(key, attr):
        parts.append(str(getattr(key, attr)))
        break
  return "/".join(parts)


def _sums(x: jax.Array) -> jax.Array:
  if x.dtype == jnp.bool_:
    x = x.astype(jnp.uint8)
  if x.dtype.itemsize == 8:  # -> [..., 2] uint32 words
    words = lax.bitcast_convert_type(x, jnp.uint32)
  else:
    words = lax.bitcast_convert_type(x, _UNSIGNED[x.dtype.itemsize]).astype(jnp.uint32)
  # The row-major position of every element, from iotas (no reshape: no resharding).
  position = jnp.zeros(words.shape, jnp.uint32)
  stride = 1
  for axis in reversed(range(words.ndim)):
    position += lax.broadcasted_iota(jnp.uint32, words.shape, axis) * np.uint32(stride % 2**32)
    stride *= words.shape[axis]
  weight = position * _GOLDEN | np.uint32(1)
  return jnp.stack([jnp.sum(words, dtype=jnp.uint32),
                    jnp.sum(words * weight, dtype=jnp.uint32)])


_sums_of_all = jax.jit(lambda leaves: [_sums(x) for x in leaves])


def checksums(tree) -> dict[str, str]:
  """{array path: "dtype[shape]:plain:weighted"} for every array of `tree`."""
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  leaves = [jnp.asarray(x) if not isinstance(x, jax.Array) else x for _, x in flat]
  sums = jax.device_get(_sums_of_all(leaves))
  return {_path(path): f"{np.dtype(x.dtype).name}{list(x.shape)}:{s[0]:08x}:{s[1]:08x}"
          for (path, x), s in zip(flat, sums)}


def verify(tree, expected: dict[str, str], where: str, prefix: str = "") -> None:
  """Raises CheckpointCorrupt naming the arrays of `tree` whose checksum differs from
  `expected[prefix + path]` (arrays `expected` does not list are not checked)."""
  actual = checksums(tree)
  bad = [path for path, value in actual.items()
         if prefix + path in expected and expected[prefix + path] != value]
  missing = [p for p in expected if p.startswith(prefix) and p[len(prefix):] not in actual]
  if bad or (missing and not prefix):
    names = [prefix + p for p in bad] + [f"{p} (missing)" for p in missing]
    raise CheckpointCorrupt(
        f"checkpoint {where} is corrupt: {len(names)} array(s) differ from what was saved "
        f"(e.g. {', '.join(names[:3])}); restore an earlier step (delete this one) or a "
        "backup")
