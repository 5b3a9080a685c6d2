r"""Cost of the checkpoint checksums (biomed_jax/integrity.py) on save and restore.

  python benchmarks/checkpoint_integrity.py [--variant=tiny] [--repeats=3]

Builds the variant's real train state (AdamW, no EMA) on this machine's devices, then times
  * the checksums of the whole state: first call (includes compiling) and steady state;
  * a checkpoint save and a restore with and without the checksums;
  * the checksum throughput on one 256 MiB array (bytes per second, overhead amortised),
and estimates, from bytes, the XLarge train state's checksum time at that throughput (one
host) and at a TPU chip's HBM bandwidth (the state sharded over the chips). Appends the
result to benchmarks/results/checkpoint_integrity.md.
"""

import argparse
import datetime
import os
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp

from biomed_jax import checkpointing, config_lib, integrity, sharding
from biomed_jax.model import EncoderDecoder
from biomed_jax.training import optimizer, state as state_lib

XLARGE_PARAMS = 875_562_816  # README's table (--mode=summary)
XLARGE_STATE_BYTES = XLARGE_PARAMS * 4 * 3  # float32 params + Adam mu and nu
V5P_HBM_BYTES_PER_S = 2.76e12  # one v5p chip


def _best(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--variant", default="tiny")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()

  config = config_lib.base_config(args.variant)
  config.model.image_size = 64
  model_cfg = config_lib.resolve_model_config(config.model)
  model = EncoderDecoder(model_cfg)
  tx = optimizer.make_optimizer(config.optimizer, 10)
  mesh = sharding.make_mesh({"data": 1, "fsdp": -1, "tensor": 1})
  state, _ = state_lib.create_state(model, tx, state_lib.example_inputs(model_cfg), mesh,
                                    sharding.rules_from_config(None), 0)
  state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))

  start = time.perf_counter()
  integrity.checksums(state)
  first = time.perf_counter() - start
  steady = _best(lambda: integrity.checksums(state), args.repeats)

  big = jnp.ones((64, 2**20), jnp.float32)  # 256 MiB
  integrity.checksums({"big": big})
  throughput = big.nbytes / _best(lambda: integrity.checksums({"big": big}), args.repeats)

  folder = tempfile.mkdtemp()
  try:
    ckpt = checkpointing.Checkpointer(folder, every_steps=1, keep=100)
    step = [0]

    def save(with_checksums):
      step[0] += 1
      if with_checksums:
        ckpt.save(step[0], state, {"step": step[0]}, force=True)
      else:  # what Checkpointer.save did before the checksums
        import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
        ckpt.manager.save(step[0], args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave({"step": step[0]})),
                          force=True)
      ckpt.wait()

    save(True)
    save_with = _best(lambda: save(True), args.repeats)
    save_without = _best(lambda: save(False), args.repeats)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                           sharding=x.sharding), state)
    ckpt.restore_state(1, abstract)
    restore_with = _best(lambda: ckpt.restore_state(1, abstract), args.repeats)
    restore_without = _best(lambda: ckpt.restore_state(1, abstract, verify=False),
                            args.repeats)
    ckpt.close()
  finally:
    shutil.rmtree(folder)

  xl_host = XLARGE_STATE_BYTES / throughput
  lines = [
      f"## {datetime.date.today()} {args.variant}, {jax.device_count()} {jax.devices()[0].platform}"
      f" device(s), {os.cpu_count()} CPUs",
      f"- train state: {state_bytes / 2**20:.1f} MiB in {len(jax.tree.leaves(state))} arrays",
      f"- checksums of the state: first call {first:.2f} s (compiles), then {steady * 1e3:.0f} ms",
      f"- save: {save_without * 1e3:.0f} ms without, {save_with * 1e3:.0f} ms with checksums",
      f"- restore: {restore_without * 1e3:.0f} ms without, {restore_with * 1e3:.0f} ms with "
      "verification",
      f"- checksum throughput: {throughput / 2**30:.2f} GiB/s (one 256 MiB array)",
      f"- XLarge estimate (params + Adam state = {XLARGE_STATE_BYTES / 2**30:.1f} GiB): "
      f"{xl_host:.1f} s on this machine at that throughput; on TPU v5p chips (HBM "
      f"{V5P_HBM_BYTES_PER_S / 1e12:.2f} TB/s, one read of each byte) "
      f"{XLARGE_STATE_BYTES / V5P_HBM_BYTES_PER_S * 1e3:.1f} ms on one chip, divided by the "
      "chip count when the state is sharded",
  ]
  text = "\n".join(lines) + "\n"
  print(text)
  with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                         "checkpoint_integrity.md"), "a") as f:
    f.write(text + "\n")


if __name__ == "__main__":
  main()
