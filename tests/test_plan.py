"""The ahead-of-time planner: accelerator names -> topologies, and the tiny train step compiled
for TPU v5p-8 and for two v5p-8 slices (libtpu, on this CPU), its memory and FLOPs checked
against the parameter count; the two-slice mesh keeps FSDP inside each slice."""

import dataclasses
import importlib.util

import numpy as np
import pytest

from biomed_jax import config_lib, plan, plan_search, sharding
from configs import demo


@pytest.mark.parametrize("name,topology,slices,chips", [
    ("v5p-8", "v5p:2x2x1", 1, 4), ("v5p-64", "v5p:2x4x4", 1, 32),
    ("v4-32", "v4:2x2x4", 1, 16), ("v5e-256", "v5e:16x16", 1, 256),
    ("v5litepod-16", "v5e:4x4", 1, 16), ("v6e-64", "v6e:8x8", 1, 64),
    ("2xv5p-8", "v5p:2x2x1", 2, 8), ("v5p:2x2x2", "v5p:2x2x2", 1, 8)])
def test_accelerator_names(name, topology, slices, chips):
  target = plan.parse_topology(name)
  assert (target.topology, target.num_slices, target.chips) == (topology, slices, chips)


@pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                    reason="needs libtpu (pip install -e '.[tpu]') for its topologies")
@pytest.mark.parametrize("name", ["v4-32", "v5p-64", "v5e-256", "v6e-64", "2xv5p-8"])
def test_libtpu_gives_one_device_per_chip(name):
  """v4's default chip configuration would make each of a chip's two TensorCores a device
  (32 for v4-32); the planner asks for megacore, as a v4 VM runs."""
  target = plan.parse_topology(name)
  assert len(plan.topology_devices(target)) == target.chips


@pytest.mark.parametrize("name,message", [
    ("v5p-7", "cores per chip"), ("v9-8", "unknown chip"), ("v5p-24", "not a known slice size"),
    ("tpu", "expected e.g.")])
def test_bad_names_are_refused(name, message):
  with pytest.raises(ValueError, match=message):
    plan.parse_topology(name)


def _tiny_config(**mesh):
  """The demo's model with the default vocabulary (its 33k output layer makes the memory
  figures large enough to rank; the demo's own 5k one is a sixth of it)."""
  config = demo.get_config()
  config.model.vocab_size = None  # the variant's
  config.data.tokenizer = config_lib.base_config("t5_tiny").data.tokenizer
  config.model.image_size = 64
  config.data.batch_size = 16
  config.data.max_source_len = 64
  config.data.max_target_len = 16
  config.mesh.update(mesh)
  return config


@pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                    reason="needs libtpu (pip install -e '.[tpu]') to compile for TPU")
def test_tiny_step_compiles_for_one_and_two_v5p_slices():
  one = plan.plan(_tiny_config(), "v5p-8")
  two_config = _tiny_config(dcn_data=2)
  two = plan.plan(two_config, "2xv5p-8")
  assert one["mesh"] == {"data": 1, "fsdp": 4, "tensor": 1}
  assert two["mesh"] == {"data": 2, "fsdp": 4, "tensor": 1}
  n = one["params"]
  assert n == two["params"] > 2_000_000
  for row in (one, two):
    # Parameters (f32) and Adam's two moments, sharded over fsdp=4 where they divide: each
    # chip holds between a quarter of the 12 N bytes and all of them, plus its batch share.
    arguments = row["hbm_arguments_gib"] * 2**30
    assert 12 * n / 4 <= arguments <= 12 * n + 16 * 3 * 64 * 64 * 4
    assert row["fits"] and row["hbm_total_gib"] < 1
    # The compiler's FLOPs and 6 N tokens agree to within the embedding table's share (a
    # lookup costs no FLOPs) and attention/convolutions (not in 6 N).
    assert 0.1 <= row["flops_per_chip"] / row["flops_6nt_per_chip"] <= 10
    assert 0 < row["mfu_bound"] <= 1 and row["roofline_step_s"] > 0
  # The second slice takes half of the batch: half the FLOPs per chip, the same state.
  np.testing.assert_allclose(two["flops_per_chip"], one["flops_per_chip"] / 2, rtol=0.1)
  np.testing.assert_allclose(two["hbm_arguments_gib"], one["hbm_arguments_gib"], rtol=0.1)
  # FSDP inside a slice: every data row of the mesh lies in one slice.
  devices = plan.topology_devices(plan.parse_topology("2xv5p-8"))
  mesh = sharding.make_mesh(two_config.mesh, devices)
  for row in mesh.devices:
    assert len({d.slice_index for d in row.flat}) == 1
  assert {d.slice_index for d in mesh.devices[:, 0, 0]} == {0, 1}


def test_dcn_axes_are_checked():
  with pytest.raises(ValueError, match="stay inside a slice"):
    sharding.mesh_shape({"data": 1, "fsdp": -1, "dcn_fsdp": 2}, 8)
  import jax  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="dcn_data=2 but the 8 devices belong to 1 processes"):
    sharding.make_mesh({"data": 1, "fsdp": -1, "tensor": 1, "dcn_data": 2}, jax.devices())


@pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                    reason="needs libtpu (pip install -e '.[tpu]') to compile for TPU")
def test_scanned_step_cost_equals_the_unrolled_compile():
  """XLA counts a loop body once: the planner's depth extrapolation of a scanned 3 + 4 layer
  step, with 2 accumulated micro-batches, matches the step compiled unrolled at full depth."""
  config = _tiny_config()
  config.model.num_encoder_layers, config.model.num_decoder_layers = 3, 4
  config.train.grad_accum_steps = 2
  target = plan.parse_topology("v5p-8")
  devices = plan.topology_devices(target)
  scanned = plan.compile_train_step(config, devices)
  flops, accessed, counted = plan.step_cost(config, devices)
  assert "extrapolated" in counted
  scanned_flops, _ = plan._cost(scanned.compiled)  # pylint: disable=protected-access
  assert flops > 2.5 * scanned_flops  # the loop bodies, counted once by the compiler
  unrolled = config.copy_and_resolve_references()
  unrolled.model.scan_layers = False
  unrolled.train.grad_accum_steps = 1
  full_flops, full_accessed = plan._cost(  # pylint: disable=protected-access
      plan.compile_train_step(unrolled, devices, plan.COUNTING_OPTIONS).compiled)
  np.testing.assert_allclose(flops, full_flops, rtol=0.05)
  np.testing.assert_allclose(accessed, full_accessed, rtol=0.5)  # fusion differs by depth


@pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                    reason="needs libtpu (pip install -e '.[tpu]') to compile for TPU")
def test_step_flops_are_conserved_from_4_to_16_chips():
  """One step's arithmetic does not depend on how many chips share it. Above 4 chips XLA:TPU
  runs FSDP matmuls as windowed einsums, loops its cost analysis counts once (here: half
  the FLOPs at 16 chips); the planner counts without them."""
  config = _tiny_config()
  config.model.scan_layers = False
  config.model.d_model, config.model.d_ff, config.model.num_heads = 512, 2048, 8
  config.data.batch_size, config.data.max_source_len = 32, 1024  # 2048 tokens per chip
  totals = {}
  for topology in ("v5p-8", "v5p-32"):
    target = plan.parse_topology(topology)
    flops, _, _ = plan.step_cost(config, plan.topology_devices(target))
    totals[target.chips] = flops * target.chips
  np.testing.assert_allclose(totals[16], totals[4], rtol=0.02)


def test_search_estimates_rank_policies_and_batches():
  """From shapes alone: more examples per chip cost more, remat keeps less alive and costs
  compute, and the ranking puts the cheapest compute first, then the biggest batch."""
  config = _tiny_config()
  ranked = plan_search.candidates(config, chips=4, hbm_bytes=95 * 2**30)
  by_key = {(c.per_chip_batch, c.remat_policy, c.tensor): c for c in ranked}
  for policy in plan_search.POLICIES:
    assert by_key[8, policy, 1].estimate_gib < by_key[16, policy, 1].estimate_gib
  assert (by_key[16, "full", 1].estimate_gib < by_key[16, "dots_with_no_batch_dims", 1]
          .estimate_gib < by_key[16, "none", 1].estimate_gib)
  assert 1.0 == by_key[16, "none", 1].recompute < by_key[16, "full", 1].recompute <= 4 / 3
  assert (ranked[0].per_chip_batch, ranked[0].remat_policy) == (64, "none")
  assert all(c.global_batch == c.per_chip_batch * 4 // c.tensor for c in ranked)
  # A chip too small for anything but a few examples leaves only those.
  small = plan_search.candidates(config, chips=4, hbm_bytes=by_key[8, "none", 1].estimate_gib
                                 * 2**30 / plan_search.HEADROOM)
  assert small and all(c.estimate_gib <= by_key[8, "none", 1].estimate_gib + 1e-9
                       for c in small)


@pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                    reason="needs libtpu (pip install -e '.[tpu]') to compile for TPU")
def test_search_confirms_by_compiling_and_moves_on_when_a_candidate_does_not_fit():
  """On a v5p-8 with 0.2 GiB of HBM per chip the best estimate compiles too big; the search
  rejects it on the compiled figure and the next one that compiles within 0.2 GiB wins."""
  config = _tiny_config()
  target = plan.parse_topology("v5p-8")
  small = dataclasses.replace(target, chip=dataclasses.replace(target.chip,
                                                               hbm_bytes=0.2 * 2**30))
  best, tried, considered = plan_search.search(
      config, small, plan.topology_devices(target), plan.compile_train_step, max_compiles=4)
  # 64 examples per chip over tensor=4: estimated 0.15 GiB, compiled 0.23 (libtpu 2026-12).
  assert considered > len(tried) >= 2
  assert (tried[0].per_chip_batch, tried[0].remat_policy) == (64, "none")
  assert best is tried[-1] and best.compiled_gib <= 0.2
  assert all(c.compiled_gib > 0.2 for c in tried[:-1])
  for c in tried:  # the estimate is within a factor 2 of what the compiler allocates
    assert 0.5 <= c.estimate_gib / c.compiled_gib <= 2
  text = plan_search.format_search(best, tried, considered, small)
  assert f"--config.data.batch_size={best.global_batch}" in text
