r"""Our BiomedGPT flavour against the PyTorch OFA reference (the modelscope port), train step.

  python benchmarks/ofa_vs_pytorch.py [--rounds=10] [--batch=2] [--image_size=384]

A random reference OFAModel at BiomedGPT-Base shapes (768 wide, 6 + 6 layers, ResNet-101
stages 1-3, 59,457-id vocabulary; dropout off) is saved and converted with
biomed_jax.convert.biomedgpt, so both sides hold the same fp32 weights; their logits are
checked equal in evaluation mode first. Then each side trains on the same batches of
--batch examples (--image_size px images, --source_len / --target_len tokens): ours is the
project's jitted train step with the project's AdamW, the reference's is forward, masked
cross-entropy, backward, clip_grad_norm_, torch.optim.AdamW. Alternating rounds in one
process, one step per side per round; medians and spread go to
benchmarks/results/ofa_vs_pytorch.md with the machine. The reference is read from the
modelscope wheel as the parity tests read it (tests/model/ofa_reference.py).
"""

import datetime
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "model"))
from biomed_jax import config_lib  # pylint: disable=wrong-import-position
from biomed_jax.convert import biomedgpt  # pylint: disable=wrong-import-position
from biomed_jax.model import EncoderDecoder, from_pretrained  # pylint: disable=wrong-import-position
from biomed_jax.training import optimizer, state as state_lib, step as step_lib  # pylint: disable=wrong-import-position
import ofa_fixtures  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 10, "Alternating rounds (one step per side each).")
flags.DEFINE_integer("batch", 2, "Examples per step.")
flags.DEFINE_integer("image_size", 384, "Image side (px).")
flags.DEFINE_integer("source_len", 64, "Encoder text tokens.")
flags.DEFINE_integer("target_len", 32, "Decoder tokens.")
flags.DEFINE_string("results", os.path.join(os.path.dirname(__file__), "results",
                                            "ofa_vs_pytorch.md"), "Results file.")
BASE = dict(d_model=768, encoder_attention_heads=12, decoder_attention_heads=12,
            encoder_ffn_dim=3072, decoder_ffn_dim=3072, encoder_layers=6, decoder_layers=6,
            resnet_type="resnet101", dropout=0.0, attention_dropout=0.0,
            activation_dropout=0.0)
LEARNING_RATE, WEIGHT_DECAY, CLIP = 1e-4, 0.01, 1.0
PAD, BOS, EOS = ofa_fixtures.PAD, ofa_fixtures.BOS, ofa_fixtures.EOS


def _batch(rng, vocab):
  b, ls, lt = FLAGS.batch, FLAGS.source_len, FLAGS.target_len
  enc = np.concatenate([np.full((b, 1), BOS), rng.integers(4, vocab, (b, ls - 2)),
                        np.full((b, 1), EOS)], 1).astype(np.int32)
  targets = np.concatenate([rng.integers(4, vocab, (b, lt - 1)), np.full((b, 1), EOS)],
                           1).astype(np.int32)
  inputs = np.concatenate([np.full((b, 1), BOS), targets[:, :-1]], 1).astype(np.int32)
  images = rng.uniform(-1, 1, (b, FLAGS.image_size, FLAGS.image_size, 3)).astype(np.float32)
  return {"encoder_tokens": enc, "decoder_inputs": inputs, "decoder_targets": targets,
          "decoder_loss_weights": np.ones(targets.shape, np.float32), "images": images,
          "image_mask": np.ones(b, bool)}


class Ours:

  def __init__(self, folder):
    pretrained = from_pretrained(folder)
    self.eval_model = pretrained
    cfg = pretrained.config
    config = config_lib.base_config("biomedgpt_base")
    config.optimizer.update(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY,
                            grad_clip_norm=CLIP, warmup_steps=0, decay="constant")
    tx = optimizer.make_optimizer(config.optimizer, 10 ** 6)
    params = pretrained.variables["params"]
    self.state = state_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=params,
        batch_stats=pretrained.variables.get("batch_stats", {}), opt_state=tx.init(params),
        rng=jax.random.key_data(jax.random.key(0)))
    self.step = jax.jit(step_lib.make_train_step(EncoderDecoder(cfg), tx, 0.0),
                        donate_argnums=(0,))

  def run(self, batch) -> float:
    start = time.perf_counter()
    self.state, metrics = self.step(self.state, batch)
    self.last_loss = float(jax.block_until_ready(metrics)["loss"])
    return time.perf_counter() - start


class Reference:

  def __init__(self, model, torch):
    self.torch, self.model = torch, model
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n
             and "rel_pos_table" not in n]
    rest = [p for p in model.parameters() if not any(p is q for q in decay)]
    self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                  {"params": rest, "weight_decay": 0.0}], lr=LEARNING_RATE,
                                 eps=1e-8)

  def run(self, batch) -> float:
    torch = self.torch
    start = time.perf_counter()
    self.model.train()
    self.opt.zero_grad(set_to_none=True)
    logits = self.model(
        input_ids=torch.from_numpy(batch["encoder_tokens"]).long(),
        patch_images=torch.from_numpy(batch["images"]).permute(0, 3, 1, 2).contiguous(),
        patch_masks=torch.from_numpy(batch["image_mask"]),
        decoder_input_ids=torch.from_numpy(batch["decoder_inputs"]).long()).logits
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        torch.from_numpy(batch["decoder_targets"]).long().reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
    self.opt.step()
    self.last_loss = loss.item()
    return time.perf_counter() - start



def main(argv):
  del argv
  import torch  # pylint: disable=g-import-not-at-top
  modeling = ofa_fixtures.ofa_reference.load()
  torch.manual_seed(0)
  reference = modeling.OFAModel(modeling.OFAConfig(**BASE))
  folder = tempfile.mkdtemp(prefix="ofa_vs_pytorch_")
  ofa_fixtures.save_hf_folder(reference, os.path.join(folder, "hf"), safetensors=True)
  biomedgpt.convert(os.path.join(folder, "hf"), os.path.join(folder, "ours"),
                    image_size=FLAGS.image_size, log=lambda _: None)
  ours, theirs = Ours(os.path.join(folder, "ours")), Reference(reference, torch)
  rng = np.random.default_rng(0)
  vocab = reference.config.vocab_size
  check = _batch(rng, vocab)
  ref_logits, _ = ofa_fixtures.reference_forward(
      reference.eval(), check["encoder_tokens"].astype(np.int64),
      check["decoder_inputs"].astype(np.int64), check["images"], check["image_mask"])
  our_logits = np.asarray(ours.eval_model(check["encoder_tokens"], check["decoder_inputs"],
                                          check["images"], check["image_mask"]))[..., :vocab]
  error = float(np.abs(our_logits - ref_logits).max() / np.abs(ref_logits).max())
  print(f"evaluation-mode logits: max error {error:.1e} of the largest", flush=True)
  if error > 1e-4:
    raise SystemExit("the two models' logits differ: not the same computation")
  compile_s = ours.run(check)
  theirs.run(check)
  first = f"ours {ours.last_loss:.5f}, reference {theirs.last_loss:.5f}"
  print(f"first train step: loss {first} (ours includes a {compile_s:.0f} s compile)",
        flush=True)
  seconds = {"ours": [], "reference": []}
  for round_index in range(FLAGS.rounds):
    batch = _batch(rng, vocab)
    order = [("ours", ours), ("reference", theirs)]
    for name, side in order if round_index % 2 == 0 else order[::-1]:
      seconds[name].append(side.run(batch))
    print(f"round {round_index + 1}/{FLAGS.rounds}: ours {seconds['ours'][-1]:.1f} s, "
          f"reference {seconds['reference'][-1]:.1f} s", flush=True)
  ratios = [r / o for o, r in zip(seconds["ours"], seconds["reference"])]
  load = os.getloadavg()
  text = "\n".join([
      f"\n## {datetime.date.today().isoformat()}: BiomedGPT-Base shapes, train step, fp32, "
      f"batch {FLAGS.batch}, {FLAGS.image_size} px, {FLAGS.source_len}/{FLAGS.target_len} "
      f"tokens, {FLAGS.rounds} rounds\n",
      f"{machine.describe()}; {machine.versions()}; torch {torch.__version__} "
      f"({torch.get_num_threads()} threads). Load average at the end: {load[0]:.1f}.\n",
      f"Evaluation-mode logits equal to {error:.1e} of the largest; first train-step loss "
      f"{first} (both in training mode: BatchNorm on batch statistics).\n",
      "| side | seconds / step |", "|---|---|",
      f"| ours (jitted train step) | {machine.spread(seconds['ours'], '{:.1f}')} |",
      f"| PyTorch OFA reference | {machine.spread(seconds['reference'], '{:.1f}')} |",
      f"\nOurs / reference speed: median {statistics.median(ratios):.2f}x (rounds "
      f"{min(ratios):.2f}-{max(ratios):.2f}x).\n"])
  print(text)
  machine.append_results(
      FLAGS.results, "# Train step: ours vs the PyTorch OFA reference, same weights\n\n"
      "`python benchmarks/ofa_vs_pytorch.py`: alternating rounds in one process.\n", text)


if __name__ == "__main__":
  app.run(main)
