r"""Our T5 flavour against Hugging Face PyTorch T5, side by side, same weights: decoding and
the train step.

  python benchmarks/t5_vs_hf.py [--size=small|base] [--rounds=10] [--steps=2]

A random HF `T5ForConditionalGeneration` at t5-small (or t5-base) shapes is saved and
converted with biomed_jax.convert.hf_t5, so both sides start from the same fp32 weights. Each
side trains on the same random batches (--batch x --source_len / --target_len tokens): ours
is the project's jitted train step (training/step.py) with the project's AdamW (clipping,
decay mask; training/optimizer.py), PyTorch's is forward, loss, backward, clip_grad_norm_,
torch.optim.AdamW.step. The first step's losses are checked equal. Then alternating rounds in
one process, --steps timed steps per side per round; medians and spread of steps per second
and our/HF speed ratio are appended to benchmarks/results/t5_vs_hf.md with the machine.

Decoding first, with the initial weights: our compiled `decode` against HF `generate`
(greedy and beam 4, --decode_batch x --decode_source_len tokens, --new_tokens new tokens),
alternating per round, with the share of identical outputs. The EOS embedding row is zeroed,
so EOS scores 0 and a random model never ends early: every call runs all --new_tokens steps.
"""

import datetime
import json
import os
import statistics
import sys
import tempfile
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

import machine  # benchmarks/machine.py

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from biomed_jax import config_lib  # pylint: disable=wrong-import-position
from biomed_jax.convert import hf_t5  # pylint: disable=wrong-import-position
from biomed_jax.decoding import decode  # pylint: disable=wrong-import-position
from biomed_jax.model import EncoderDecoder  # pylint: disable=wrong-import-position
from biomed_jax.training import optimizer, state as state_lib, step as step_lib  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_enum("size", "small", ["small", "base"], "t5-small or t5-base shapes.")
flags.DEFINE_integer("rounds", 10, "Alternating rounds.")
flags.DEFINE_integer("steps", 2, "Timed steps per side per round.")
flags.DEFINE_integer("batch", 8, "Examples per step.")
flags.DEFINE_integer("source_len", 256, "Encoder tokens.")
flags.DEFINE_integer("target_len", 64, "Decoder tokens.")
flags.DEFINE_list("parts", ["greedy", "beam", "train"], "What to compare.")
flags.DEFINE_integer("decode_batch", 8, "Examples per decoding call.")
flags.DEFINE_integer("decode_source_len", 128, "Encoder tokens when decoding.")
flags.DEFINE_integer("new_tokens", 64, "Generated tokens per example.")
flags.DEFINE_integer("beam_size", 4, "Beams of the beam part.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "t5_vs_hf.md"), "Results file.")

SIZES = {  # the published t5-small / t5-base configs (T5 v1.0: ReLU FFN, tied embeddings)
    "small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8),
    "base": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12),
}
LEARNING_RATE, WEIGHT_DECAY, CLIP = 1e-4, 0.01, 1.0


def _batches(rng, vocab, n):
  out = []
  for _ in range(n):
    enc = rng.integers(2, vocab, (FLAGS.batch, FLAGS.source_len)).astype(np.int32)
    targets = rng.integers(2, vocab, (FLAGS.batch, FLAGS.target_len)).astype(np.int32)
    inputs = np.concatenate([np.zeros((FLAGS.batch, 1), np.int32), targets[:, :-1]], 1)
    out.append({"encoder_tokens": enc, "decoder_inputs": inputs, "decoder_targets": targets,
                "decoder_loss_weights": np.ones(targets.shape, np.float32)})
  return out


def _decoding_rows(ours, hf, torch, method, rng, vocab):
  """(our calls/s, HF calls/s, share of identical outputs) per round."""
  beams = FLAGS.beam_size if method == "beam" else 1
  rows = []
  for round_index in range(FLAGS.rounds + 1):  # round 0 compiles ours, warms HF up
    enc = rng.integers(2, vocab, (FLAGS.decode_batch, FLAGS.decode_source_len)).astype(
        np.int32)
    enc[::2, FLAGS.decode_source_len // 2:] = 0  # half the examples padded

    def run_ours():
      start = time.perf_counter()
      out = jax.block_until_ready(decode(ours.model, {"params": ours.params0}, enc,
                                         max_length=FLAGS.new_tokens, method=method,
                                         beam_size=FLAGS.beam_size))
      return time.perf_counter() - start, np.asarray(out.tokens)

    def run_hf():
      start = time.perf_counter()
      with torch.no_grad():
        out = hf.model.generate(input_ids=torch.from_numpy(enc).long(),
                                attention_mask=torch.from_numpy(enc != 0).long(),
                                max_new_tokens=FLAGS.new_tokens, num_beams=beams,
                                do_sample=False, early_stopping=False, length_penalty=1.0)
      return time.perf_counter() - start, out[:, 1:].numpy()

    first, second = (run_ours, run_hf) if round_index % 2 else (run_hf, run_ours)
    (t1, a), (t2, b) = first(), second()
    (ours_s, ours_tokens), (hf_s, hf_tokens) = ((t1, a), (t2, b)) if first is run_ours else (
        (t2, b), (t1, a))
    same = float(np.mean([np.array_equal(x, y) for x, y in zip(ours_tokens, hf_tokens)]))
    if round_index:
      rows.append((1 / ours_s, 1 / hf_s, same))
      print(f"{method} round {round_index}/{FLAGS.rounds}: ours {ours_s * 1e3:.0f} ms, HF "
            f"{hf_s * 1e3:.0f} ms, identical outputs {same:.0%}", flush=True)
  return rows


class Ours:

  def __init__(self, hf_dir):
    with open(os.path.join(hf_dir, "config.json")) as f:
      cfg = hf_t5.model_config_from_hf(json.load(f), scan_layers=True)
    params = jax.tree.map(jnp.asarray, hf_t5.convert_params(hf_t5.read_hf_weights(hf_dir), cfg))
    self.model = EncoderDecoder(cfg)
    self.params0 = jax.tree.map(jnp.copy, params)  # the train step donates its state
    config = config_lib.base_config("t5_tiny")
    config.optimizer.learning_rate = LEARNING_RATE
    config.optimizer.weight_decay = WEIGHT_DECAY
    config.optimizer.grad_clip_norm = CLIP
    config.optimizer.warmup_steps = 0
    config.optimizer.decay = "constant"
    tx = optimizer.make_optimizer(config.optimizer, 10 ** 6)
    self.state = state_lib.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                                      batch_stats={}, opt_state=tx.init(params),
                                      rng=jax.random.key_data(jax.random.key(0)))
    self.step = jax.jit(step_lib.make_train_step(EncoderDecoder(cfg), tx, 0.0),
                        donate_argnums=(0,))

  def run(self, batches) -> float:
    """Seconds for the batches; returns after the last step's result is ready."""
    start = time.perf_counter()
    for batch in batches:
      self.state, metrics = self.step(self.state, batch)
    jax.block_until_ready(metrics)
    self.last_loss = float(metrics["loss"])
    return time.perf_counter() - start


class HF:

  def __init__(self, model, torch):
    self.torch, self.model = torch, model.train()
    # Weight decay on matrices only, as ours (no decay on norms, biases, embeddings).
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and "shared" not in n
             and "relative_attention_bias" not in n]
    rest = [p for n, p in model.named_parameters() if not any(p is q for q in decay)]
    self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                  {"params": rest, "weight_decay": 0.0}], lr=LEARNING_RATE,
                                 eps=1e-8)

  def run(self, batches) -> float:
    torch = self.torch
    start = time.perf_counter()
    for batch in batches:
      self.opt.zero_grad(set_to_none=True)
      loss = self.model(input_ids=torch.from_numpy(batch["encoder_tokens"]).long(),
                        decoder_input_ids=torch.from_numpy(batch["decoder_inputs"]).long(),
                        labels=torch.from_numpy(batch["decoder_targets"]).long()).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
      self.opt.step()
    self.last_loss = loss.item()
    return time.perf_counter() - start



def main(argv):
  del argv
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  hf_config = transformers.T5Config(vocab_size=32128, dropout_rate=0.0,
                                    decoder_start_token_id=0, feed_forward_proj="relu",
                                    tie_word_embeddings=True, **SIZES[FLAGS.size])
  model = transformers.T5ForConditionalGeneration(hf_config)
  with torch.no_grad():
    model.shared.weight[hf_config.eos_token_id].zero_()  # EOS scores 0: no early ends
  hf_dir = tempfile.mkdtemp(prefix="t5_vs_hf_")
  model.save_pretrained(hf_dir)
  ours, hf = Ours(hf_dir), HF(model, torch)
  rng = np.random.default_rng(0)
  header = [f"\n## {datetime.date.today().isoformat()}: t5-{FLAGS.size} shapes, fp32\n",
            f"{machine.describe()}; {machine.versions()}; torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), transformers {transformers.__version__}.\n"]
  sections = []
  for method in [p for p in FLAGS.parts if p in ("greedy", "beam")]:
    hf.model.eval()
    rows = _decoding_rows(ours, hf, torch, method, rng, hf_config.vocab_size)
    ratios = [o / h for o, h, _ in rows]
    name = "greedy" if method == "greedy" else f"beam {FLAGS.beam_size}"
    per_call = FLAGS.new_tokens * FLAGS.decode_batch
    ours_rate = machine.spread([per_call * r[0] for r in rows], "{:.0f}")
    hf_rate = machine.spread([per_call * r[1] for r in rows], "{:.0f}")
    sections.append(
        f"Decoding, {name}: batch {FLAGS.decode_batch}, {FLAGS.decode_source_len} source "
        f"tokens (half the rows padded to half), {FLAGS.new_tokens} new tokens, "
        f"{FLAGS.rounds} rounds: ours {ours_rate} tokens/s, HF generate {hf_rate} "
        f"tokens/s; ours / HF median {statistics.median(ratios):.2f}x (rounds "
        f"{min(ratios):.2f}-{max(ratios):.2f}x); identical outputs in "
        f"{statistics.mean(r[2] for r in rows):.0%} of the examples.\n")
  hf.model.train()
  if "train" not in FLAGS.parts:
    _write(header + sections)
    return
  first = _batches(rng, hf_config.vocab_size, 1)
  compile_s = ours.run(first)
  hf.run(first)
  first_losses = f"ours {ours.last_loss:.6f}, HF {hf.last_loss:.6f}"
  print(f"first step: loss {first_losses} "
        f"(ours includes a {compile_s:.0f} s compile)", flush=True)
  if not np.isclose(ours.last_loss, hf.last_loss, rtol=1e-4):
    raise SystemExit("the two first-step losses differ: not the same computation")
  rates = {"ours": [], "hf": []}
  for round_index in range(FLAGS.rounds):
    batches = _batches(rng, hf_config.vocab_size, FLAGS.steps)
    for name, side in (("ours", ours), ("hf", hf)) if round_index % 2 == 0 else (
        ("hf", hf), ("ours", ours)):
      rates[name].append(FLAGS.steps / side.run(batches))
    print(f"round {round_index + 1}/{FLAGS.rounds}: ours {rates['ours'][-1]:.3f} steps/s, HF "
          f"{rates['hf'][-1]:.3f} steps/s; losses {ours.last_loss:.4f} / {hf.last_loss:.4f}",
          flush=True)
  ratios = [o / h for o, h in zip(rates["ours"], rates["hf"])]
  sections.append("\n".join([
      f"Train step: batch {FLAGS.batch}, {FLAGS.source_len}/{FLAGS.target_len} tokens, AdamW, "
      f"{FLAGS.rounds} rounds x {FLAGS.steps} steps; first-step loss {first_losses}.\n",
      "| side | steps / s |", "|---|---|",
      f"| ours (jitted train step) | {machine.spread(rates['ours'], '{:.3f}')} |",
      f"| HF PyTorch T5 | {machine.spread(rates['hf'], '{:.3f}')} |",
      f"\nOurs / HF: median {statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-"
      f"{max(ratios):.2f}x).\n"]))
  _write(header + sections)


def _write(lines):
  load = os.getloadavg()
  lines = lines + [f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.\n"]
  text = "\n".join(lines)
  print(text)
  machine.append_results(
      FLAGS.results, "# Ours vs Hugging Face PyTorch T5, same weights: decoding and the train "
      "step\n\n`python benchmarks/t5_vs_hf.py`: alternating rounds in one process.\n", text)


if __name__ == "__main__":
  app.run(main)
