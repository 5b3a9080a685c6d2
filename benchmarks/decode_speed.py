r"""Decoding throughput: greedy and beam search in the compiled loop, with images.

  python benchmarks/decode_speed.py                       # tiny, batch 16, 128 px, 32 tokens
  python benchmarks/decode_speed.py --variant=base --batch=4 --repeats=2

The model is freshly initialised (untrained), so it rarely emits EOS and every call runs all
max_length steps; the table says how many steps the output shows. Tokens/s counts generated
positions per example (batch x steps / seconds, not x beams) over the whole call (encode +
decoding loop), best of --repeats after a compile run. Appends rows to
benchmarks/results/decode_speed.md with the machine and the load average at the time.
"""

import os
import time

from absl import app, flags

import machine  # benchmarks/machine.py

FLAGS = flags.FLAGS
flags.DEFINE_string("variant", "t5_tiny", "Model size (biomed_jax.model.VARIANTS).")
flags.DEFINE_integer("image_size", 128, "Image side in pixels.")
flags.DEFINE_integer("batch", 16, "Examples per call.")
flags.DEFINE_integer("source_len", 32, "Encoder text tokens.")
flags.DEFINE_integer("max_length", 32, "Generated tokens (decoding steps) at most.")
flags.DEFINE_list("methods", ["greedy", "beam"], "Decoding methods.")
flags.DEFINE_integer("beam_size", 4, "Beams for method=beam.")
flags.DEFINE_integer("repeats", 5, "Timed calls after the compile call.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "decode_speed.md"), "Results file.")


def main(argv):
  del argv
  import flax.linen as nn
  import jax
  import numpy as np
  from biomed_jax.decoding import decode
  from biomed_jax.model import EncoderDecoder, model_config

  cfg = model_config(FLAGS.variant, image_size=FLAGS.image_size, dropout_rate=0.0)
  model = EncoderDecoder(cfg)
  rng = np.random.default_rng(0)
  b = FLAGS.batch
  enc = rng.integers(3, cfg.vocab_size, (b, FLAGS.source_len)).astype(np.int32)
  enc[::2, FLAGS.source_len // 2:] = 0  # half the examples padded
  images = rng.uniform(-1, 1, (b, cfg.image_size, cfg.image_size, 3)).astype(np.float32)
  variables = nn.meta.unbox(jax.jit(model.init)(
      jax.random.key(0, impl="unsafe_rbg"), enc, enc[:, :4], images))
  device = jax.devices()[0]

  rows = []
  for method in FLAGS.methods:
    run = lambda: jax.block_until_ready(decode(
        model, variables, enc, images, max_length=FLAGS.max_length, method=method,
        beam_size=FLAGS.beam_size))
    start = time.perf_counter()
    out = run()
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(FLAGS.repeats):
      start = time.perf_counter()
      out = run()
      times.append(time.perf_counter() - start)
    tokens = np.asarray(out.tokens)
    ended = (tokens == 1).any(axis=1)
    steps = FLAGS.max_length if not ended.all() else int(np.argmax(tokens == 1, 1).max()) + 1
    best = min(times)
    name = method if method != "beam" else f"beam {FLAGS.beam_size}"
    row = (f"| {FLAGS.variant} | {name} | {b} | {cfg.image_size} px, "
           f"{cfg.num_image_tokens} + {FLAGS.source_len} tokens | {FLAGS.max_length} | "
           f"{steps} | {compile_s:.1f} s | {best * 1e3:.0f} ms (median "
           f"{np.median(times) * 1e3:.0f}) | {b * steps / best:,.0f} | "
           f"{best / steps * 1e3:.1f} ms |")
    print(row, flush=True)
    rows.append(row)

  load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
  when = time.strftime("%Y-%m-%d %H:%M")
  os.makedirs(os.path.dirname(FLAGS.results), exist_ok=True)
  new_file = not os.path.exists(FLAGS.results)
  with open(FLAGS.results, "a") as f:
    if new_file:
      f.write("# Decoding throughput (compiled loop over the KV cache, with images)\n\n"
              "Untrained weights; tokens/s = batch x steps / best call time (encode + loop; "
              "beams not multiplied in). Load = 1/5/15-minute load average when measured: "
              "other processes share the cores.\n\n"
              "| variant | method | batch | input | max length | steps | compile + first "
              "call | call | tokens/s | per step | device | measured | machine | load |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for row in rows:
      f.write(f"{row} {device.platform} ({device.device_kind}) | {when} | {machine.describe()}, "
              f"jax {jax.__version__} | {load} |\n")


if __name__ == "__main__":
  app.run(main)
