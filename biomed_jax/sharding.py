"""Device mesh and logical-axis sharding rules.

The mesh has three axes: `data` (pure data parallelism), `fsdp` (data parallelism with
parameters and optimizer state sharded) and `tensor` (heads / MLP / vocabulary split across
devices). Parameters and activations carry logical axis names (biomed_jax/model/layers.py);
rules map them to mesh axes. A rule whose mesh axis is already used by another dimension of the
same array is skipped (Flax's resolution order), so `embed` is sharded on `fsdp` for weights
but not for activations, whose batch dimension already uses it.

Several slices (TPU multislice, or processes standing in for them on a CPU): `dcn_data` > 1
splits the `data` axis over that many slices joined by the data-center network
(`mesh_utils.create_hybrid_device_mesh`); `data`, `fsdp` and `tensor` then size one slice's
(ICI) mesh. Only pure data parallelism crosses slices: FSDP's all-gathers and tensor
parallelism's reductions run every layer and stay on the fast links inside a slice.
"""

from collections.abc import Mapping, Sequence
import contextlib
import math
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")
DCN_AXES = ("dcn_data",)  # sizes over slices; multiply the ICI axis of the same name
_NOT_OVER_DCN = ("dcn_fsdp", "dcn_tensor")

DEFAULT_RULES = (
    ("batch", ("data", "fsdp")),
    ("vocab", "tensor"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("embed", "fsdp"),
    ("conv_out", "fsdp"),
    ("kv", None),
    ("length", None),
    ("layers", None),
    ("lora_rank", None),  # LoRA adapters: the rank dimension stays whole
    ("relpos_buckets", None),
    ("positions", None),
    ("types", None),
    ("image_grid", None),
    ("image_grid_w", None),
    ("conv_h", None),
    ("conv_w", None),
    ("conv_in", None),
)


def mesh_shape(axis_sizes: Mapping[str, int], num_devices: int) -> tuple[int, ...]:
  """Resolves one -1 ("the rest") and checks the product equals the device count."""
  over_dcn = sorted(set(axis_sizes) & set(_NOT_OVER_DCN))
  if over_dcn:
    raise ValueError(f"config.mesh: {over_dcn} are not supported: FSDP and tensor parallelism "
                     "communicate every layer and stay inside a slice; split slices with "
                     "dcn_data")
  unknown = sorted(set(axis_sizes) - set(MESH_AXES) - set(DCN_AXES))
  if unknown:
    raise ValueError(f"config.mesh has unknown axes {unknown}; axes are "
                     f"{MESH_AXES + DCN_AXES}")
  sizes = [int(axis_sizes.get(axis, 1)) for axis in MESH_AXES]
  described = ", ".join(f"{a}={s}" for a, s in zip(MESH_AXES, sizes))
  if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
    raise ValueError(f"config.mesh ({described}): sizes must be positive, with at most one -1")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if num_devices % known:
      raise ValueError(f"config.mesh ({described}) does not divide the {num_devices} devices")
    sizes[sizes.index(-1)] = num_devices // known
  if math.prod(sizes) != num_devices:
    raise ValueError(f"config.mesh ({described}) needs {math.prod(sizes)} devices but "
                     f"{num_devices} are available")
  return tuple(sizes)


def make_mesh(axis_sizes: Mapping[str, int], devices: Sequence[Any] | None = None) -> Mesh:
  devices = list(jax.devices() if devices is None else devices)
  axis_types = (jax.sharding.AxisType.Auto,) * len(MESH_AXES)
  slices = int(axis_sizes.get("dcn_data", 1))
  if slices < 1:
    raise ValueError(f"config.mesh.dcn_data={slices} must be >= 1")
  if slices == 1:
    shape = mesh_shape(axis_sizes, len(devices))
    return jax.make_mesh(shape, MESH_AXES, devices=devices, axis_types=axis_types)
  # TPU devices know their slice; elsewhere (CPU, GPU) each process stands for one.
  by_slice = hasattr(devices[0], "slice_index")
  granules = {getattr(d, "slice_index" if by_slice else "process_index") for d in devices}
  if len(granules) != slices or len(devices) % slices:
    raise ValueError(f"config.mesh.dcn_data={slices} but the {len(devices)} devices belong to "
                     f"{len(granules)} {'slices' if by_slice else 'processes'}")
  ici = mesh_shape({k: v for k, v in axis_sizes.items() if k in MESH_AXES},
                   len(devices) // slices)
  dcn = [slices if axis == "data" else 1 for axis in MESH_AXES]
  array = mesh_utils.create_hybrid_device_mesh(ici, dcn, devices,
                                               process_is_granule=not by_slice)
  return Mesh(array, MESH_AXES, axis_types=axis_types)


@contextlib.contextmanager
def mesh_context(mesh: Mesh, rules: Sequence):
  """Tracing inside this context resolves the models' logical activation constraints."""
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    yield


def rules_from_config(rules: Sequence[Sequence[Any]] | None) -> tuple:
  """Config rules are [logical, mesh axis | [mesh axes] | None] pairs; None = defaults."""
  if not rules:
    return DEFAULT_RULES
  return tuple((name, tuple(axes) if isinstance(axes, (list, tuple)) else axes)
               for name, axes in rules)


def logical_shardings(abstract_tree: Any, mesh: Mesh, rules: Sequence) -> Any:
  """NamedShardings for a tree whose leaves may carry logical partitioning metadata.

  Raises if a sharded dimension does not divide evenly, naming the parameter: uneven
  shardings would otherwise fail later inside the compiler, or not at all on some backends.
  """
  specs = nn.get_partition_spec(abstract_tree)
  mesh_specs = nn.logical_to_mesh(specs, rules)
  shapes = nn.meta.unbox(abstract_tree)

  def check(path, spec, leaf):
    if not hasattr(leaf, "shape"):  # optax's MaskedNode: a frozen parameter's absent state
      return leaf
    for dim, axes in zip(leaf.shape, tuple(spec)):
      if axes is None:
        continue
      size = math.prod(mesh.shape[a] for a in ((axes,) if isinstance(axes, str) else axes))
      if dim % size:
        raise ValueError(f"{jax.tree_util.keystr(path)} has shape {leaf.shape}: dimension "
                         f"{dim} cannot be split over mesh axes {axes} ({size} devices); "
                         "change config.mesh or config.sharding.rules")
    return NamedSharding(mesh, spec)

  return jax.tree_util.tree_map_with_path(
      check, mesh_specs, shapes, is_leaf=lambda x: isinstance(x, PartitionSpec))


def batch_sharding(mesh: Mesh, rules: Sequence) -> NamedSharding:
  """Leading (batch) dimension over the data-parallel axes; everything else replicated."""
  return NamedSharding(mesh, nn.logical_to_mesh_axes(("batch",), rules))


def shard_batch(batch: Mapping[str, np.ndarray], sharding: NamedSharding) -> dict:
  """This host's part of the global batch -> global jax.Arrays sharded over the mesh."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}
