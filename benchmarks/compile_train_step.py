r"""Ahead-of-time compile of the real train step from abstract shapes (no weights allocated).

  # 8 simulated CPU devices, scan over layers on and off:
  python benchmarks/compile_train_step.py --config=configs/xlarge_instruct.py --cpu_devices=8
  # a TPU topology, compiled on this machine (needs pip install -e '.[tpu]'):
  python benchmarks/compile_train_step.py --config=configs/xlarge_instruct.py \
      --topology=v5p:2x2x2

Appends one row per compile to benchmarks/results/compile_train_step.md with the machine.
"""

import os

from absl import app, flags

import machine  # benchmarks/machine.py
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
flags.DEFINE_integer("cpu_devices", 8, "Simulated CPU devices (ignored with --topology).")
flags.DEFINE_string("topology", None, "TPU topology name, e.g. v5p:2x2x2 (AOT for TPU).")
flags.DEFINE_list("scan", ["true", "false"], "scan_layers settings to compile.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "compile_train_step.md"), "Results file.")


def main(argv):
  del argv
  if not FLAGS.topology:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={FLAGS.cpu_devices}")
  import time
  import flax.linen as nn
  import jax
  from biomed_jax import config_lib, sharding
  from biomed_jax.model import EncoderDecoder, lora
  from biomed_jax.training import optimizer, state as state_lib, step as step_lib

  if FLAGS.topology:
    from jax.experimental import topologies
    devices = topologies.get_topology_desc(platform="tpu",
                                           topology_name=FLAGS.topology).devices
    target = f"TPU {FLAGS.topology} ({len(devices)} chips, {devices[0].device_kind})"
  else:
    devices = jax.devices()
    target = f"{len(devices)} CPU devices"

  config = FLAGS.config
  rows = []
  for scan in FLAGS.scan:
    with config.unlocked():
      config.model.scan_layers = scan.lower() == "true"
    model_cfg = config_lib.resolve_model_config(config.model)
    mesh = sharding.make_mesh(config.mesh, devices)
    rules = sharding.rules_from_config(config.sharding.rules)
    model = EncoderDecoder(model_cfg)
    freeze = lora.frozen_pattern(model_cfg, config.train.freeze)  # as biomed_jax/train.py
    tx = optimizer.make_optimizer(config.optimizer, config.train.num_steps, freeze)
    inputs = state_lib.example_inputs(model_cfg, config.data.batch_size,
                                      config.data.max_source_len, config.data.max_target_len)
    abstract = state_lib.abstract_state(model, tx, inputs)
    shardings = state_lib.state_shardings(abstract, mesh, rules)
    abstract_state = jax.tree.map(  # arguments as shapes with shardings: nothing allocated
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        nn.meta.unbox(abstract), shardings)
    batch_sharding = sharding.batch_sharding(mesh, rules)
    abstract_batch = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=batch_sharding)
                      for k, v in inputs.items()}
    train_step = step_lib.jit_train_step(
        step_lib.make_train_step(model, tx, config.optimizer.label_smoothing, freeze=freeze),
        shardings,
        batch_sharding)
    with sharding.mesh_context(mesh, rules):
      start = time.perf_counter()
      lowered = train_step.lower(abstract_state, abstract_batch)
      lowered_s = time.perf_counter() - start
      compiled = lowered.compile()
      total_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    per_device = ""
    if memory is not None:
      gib = (memory.argument_size_in_bytes + memory.output_size_in_bytes +
             memory.temp_size_in_bytes - memory.alias_size_in_bytes) / 2**30
      per_device = f"{gib:.2f}"
    variant = config.model.variant + (f" LoRA r={model_cfg.lora_rank}" if model_cfg.lora_rank
                                      else "")
    row = (f"| {variant} | {target} | {dict(mesh.shape)} | "
           f"{config.data.batch_size}x{config.data.max_source_len}/"
           f"{config.data.max_target_len} | scan={model_cfg.scan_layers} | "
           f"remat={model_cfg.remat_policy} | {lowered_s:.1f} s | {total_s:.1f} s | "
           f"{per_device} |")
    print(row, flush=True)
    rows.append(row)

  os.makedirs(os.path.dirname(FLAGS.results), exist_ok=True)
  new_file = not os.path.exists(FLAGS.results)
  with open(FLAGS.results, "a") as f:
    if new_file:
      f.write("# Train-step compile time (ahead of time, abstract inputs)\n\n"
              "| variant | target | mesh | batch x src/tgt | layers | remat | lower | "
              "lower + compile | GiB per device (args + out + temp) | compiled on |\n"
              "|---|---|---|---|---|---|---|---|---|---|\n")
    for row in rows:
      f.write(f"{row} {machine.describe()}, jax {jax.__version__} |\n")


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  app.run(main)
