r"""Ahead-of-time compile of the real train step from abstract shapes (no weights allocated).

  # 8 simulated CPU devices, scan over layers on and off:
  python benchmarks/compile_train_step.py --config=configs/xlarge_instruct.py --cpu_devices=8
  # a TPU topology, compiled on this machine (needs pip install -e '.[tpu]'):
  python benchmarks/compile_train_step.py --config=configs/xlarge_instruct.py \
      --topology=v5p:2x2x2

The compile is biomed_jax.plan's (the trainer's own step); `python -m biomed_jax.plan` adds
FLOPs and the roofline.

Appends one row per compile to benchmarks/results/compile_train_step.md with the machine.
"""

import os

from absl import app, flags

import machine  # benchmarks/machine.py
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
flags.DEFINE_integer("cpu_devices", 8, "Simulated CPU devices (ignored with --topology).")
flags.DEFINE_string("topology", None, "TPU topology, e.g. v5p:2x2x2 or v5p-64 (AOT for TPU).")
flags.DEFINE_list("scan", ["true", "false"], "scan_layers settings to compile.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "compile_train_step.md"), "Results file.")


def main(argv):
  del argv
  if not FLAGS.topology:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={FLAGS.cpu_devices}")
  import jax
  from biomed_jax import config_lib, plan

  if FLAGS.topology:
    devices = plan.topology_devices(plan.parse_topology(FLAGS.topology))
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
    result = plan.compile_train_step(config, devices)  # the trainer's own step
    memory = result.compiled.memory_analysis()
    per_device = ""
    if memory is not None:
      gib = (memory.argument_size_in_bytes + memory.output_size_in_bytes +
             memory.temp_size_in_bytes - memory.alias_size_in_bytes) / 2**30
      per_device = f"{gib:.2f}"
    variant = config.model.variant + (f" LoRA r={model_cfg.lora_rank}" if model_cfg.lora_rank
                                      else "")
    row = (f"| {variant} | {target} | {result.mesh} | "
           f"{config.data.batch_size}x{config.data.max_source_len}/"
           f"{config.data.max_target_len} | scan={model_cfg.scan_layers} | "
           f"remat={model_cfg.remat_policy} | {result.lower_s:.1f} s | "
           f"{result.lower_s + result.compile_s:.1f} s | {per_device} |")
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
