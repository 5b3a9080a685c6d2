"""Random-access epoch shuffling and weighted task mixing for Grain MapDatasets.

`PermutedEpochs(ds, seed)`: endless epochs of `ds`, each in its own permutation seeded by
(seed, epoch). Same semantics as `ds.shuffle(seed).repeat()`, but Grain's index shuffle costs
~1 ms per element on datasets of a few hundred records (it walks cycles in a large domain);
a cached numpy permutation costs nothing. Used up to 2**20 records; Grain's shuffle above.

`BlockMix(datasets, weights, seed)`: the mixed stream is cut into blocks of ~1,024 examples.
Each block holds a fixed number of examples of every task (its weight's share, rounded, at
least one), in an order drawn at random per (seed, block). Every task's own stream is
consumed in order, so its epochs stay intact. Grain's `MapDataset.mix` is a periodic
interleave instead (A B A C A B ...): a strided host or worker slice of it can see a single
task only (A B A B over two workers), which would make every batch single-task.

Both are pure functions of the index, so they are deterministic and resume from any
position; the cached layouts are dropped when pickled to worker processes.
"""

from collections.abc import Sequence
import math
import sys
import threading

import grain
import numpy as np

MIX_BLOCK_SIZE = 1024  # examples per mixing block (grown for very small weights)
SMALL_DATASET = 1 << 20  # PermutedEpochs up to this size


class _CachedLayouts(grain.MapDataset):
  """Keeps the layouts (permutations) of the two most recent blocks, thread-safely."""

  def __init__(self, parents):
    super().__init__(parents)
    self._lock = threading.Lock()
    self._cache: dict[int, object] = {}

  def _make_layout(self, block: int):
    raise NotImplementedError

  def _layout(self, block: int):
    with self._lock:
      layout = self._cache.get(block)
      if layout is None:
        if len(self._cache) >= 2:
          del self._cache[min(self._cache)]
        layout = self._cache[block] = self._make_layout(block)
      return layout

  def __getstate__(self):
    state = self.__dict__.copy()
    state["_cache"], state["_lock"] = {}, None
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._lock = threading.Lock()


class PermutedEpochs(_CachedLayouts):
  """Endless epochs of `parent`, each shuffled by a permutation seeded by (seed, epoch)."""

  def __init__(self, parent: grain.MapDataset, seed: int):
    super().__init__(parent)
    self._size, self._seed = len(parent), seed
    if self._size == 0:
      raise ValueError("cannot repeat an empty dataset")

  def __len__(self) -> int:
    return sys.maxsize

  def _make_layout(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self._seed, epoch]).permutation(self._size).astype(np.int64)

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    epoch, index_in_epoch = divmod(index, self._size)
    return self._parent[int(self._layout(epoch)[index_in_epoch])]

  def __str__(self) -> str:
    return f"PermutedEpochs(size={self._size})"


def shuffled_epochs(ds: grain.MapDataset, seed: int) -> grain.MapDataset:
  """Endless stream of `ds`, reshuffled every epoch (deterministic, random access)."""
  if len(ds) <= SMALL_DATASET:
    return PermutedEpochs(ds, seed)
  return ds.shuffle(seed=seed).repeat()  # Grain's index shuffle: no memory, fast when large


def block_counts(weights: Sequence[float], block_size: int = MIX_BLOCK_SIZE) -> np.ndarray:
  """Examples of each task per block: shares of the block, rounded (largest remainder).

  The block grows so that the smallest weight still gets about 8 examples; every task gets
  at least one.
  """
  weights = np.asarray(weights, np.float64)
  if weights.ndim != 1 or not len(weights) or (weights <= 0).any() or \
      not np.isfinite(weights).all():
    raise ValueError(f"weights must be positive and finite, got {list(weights)}")
  fractions = weights / weights.sum()
  size = max(block_size, min(int(math.ceil(8 / fractions.min())), SMALL_DATASET))
  exact = fractions * size
  counts = np.floor(exact).astype(np.int64)
  order = np.argsort(-(exact - counts), kind="stable")
  counts[order[:size - counts.sum()]] += 1
  return np.maximum(counts, 1)


class BlockMix(_CachedLayouts):
  """Weighted mixture of endless datasets; task order shuffled within fixed-count blocks."""

  def __init__(self, parents: Sequence[grain.MapDataset], weights: Sequence[float],
               seed: int, block_size: int = MIX_BLOCK_SIZE):
    super().__init__(list(parents))
    if len(parents) != len(weights):
      raise ValueError("one weight per dataset")
    self._counts = block_counts(weights, block_size)
    self._block = int(self._counts.sum())
    self._seed = seed

  @property
  def counts(self) -> np.ndarray:
    """Examples of each task in every block."""
    return self._counts

  def __len__(self) -> int:
    blocks = min(len(p) // int(c) for p, c in zip(self._parents, self._counts))
    return min(sys.maxsize, blocks * self._block)

  def _make_layout(self, block: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(len(self._counts)), self._counts)
    labels = np.random.default_rng([self._seed, block]).permutation(labels)
    rank = np.empty(self._block, np.int64)  # k-th example of its task within the block
    for task, count in enumerate(self._counts):
      rank[labels == task] = np.arange(count)
    return labels, rank

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    block, position = divmod(index, self._block)
    labels, rank = self._layout(block)
    task = int(labels[position])
    return self._parents[task][block * int(self._counts[task]) + int(rank[position])]

  def __str__(self) -> str:
    return f"BlockMix(counts={self._counts.tolist()})"
