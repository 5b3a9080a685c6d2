"""Shared by the decoding tests that run under both id sets: a tiny model with given special
ids and step-by-step full-forward references."""

import flax.linen as nn
import jax
import numpy as np

from biomed_jax.model import EncoderDecoder, model_config

ID_SETS = {"t5": dict(pad_id=0, eos_id=1, bos_id=0), "ofa": dict(pad_id=1, eos_id=2, bos_id=0)}
MAX_LEN = 7
BATCH = 6
CANDIDATES = [[5], [5, 7], [5, 7, 9, 11], [20, 21], [20], [30, 31, 32]]


def make_setup(ids: dict, prompt_ready: bool = False):
  """A tiny untied text-only model with these ids; encoder rows are [bos] text EOS pad..."""
  cfg = model_config("t5_tiny", vocab_size=96, image_size=32, dropout_rate=0.0,
                     tie_embeddings=False, **ids)
  model = EncoderDecoder(cfg)
  rng = np.random.default_rng(1)
  enc = rng.integers(3, cfg.vocab_size, (BATCH, 9)).astype(np.int32)
  lengths = np.array([9, 4, 7, 2, 9, 5]) if prompt_ready else np.full(BATCH, 9)
  for i, n in enumerate(lengths):
    enc[i, n:] = ids["pad_id"]
    if prompt_ready:
      enc[i, n - 1] = ids["eos_id"]
      if ids["bos_id"] != ids["pad_id"]:
        enc[i, 0] = ids["bos_id"]
  variables = nn.meta.unbox(jax.jit(model.init)(
      jax.random.key(5, impl="unsafe_rbg"), enc, enc[:, :MAX_LEN]))
  head = np.array(variables["params"]["lm_head"]["kernel"])
  head[:, ids["eos_id"]] *= 3.0  # some (not all) sequences end early
  variables["params"]["lm_head"]["kernel"] = head
  return cfg, model, variables, enc, jax.jit(model.apply)


def reference_greedy(forward, variables, enc, cfg, max_length, allowed_fn=None,
                     prompts=None, no_repeat=0):
  """Full forward pass over [start] + prompt + tokens so far at every step, argmax; rows emit
  pad after EOS. prompts: per row a forced token list (stripped from the output)."""
  b = enc.shape[0]
  prompts = prompts or [[] for _ in range(b)]
  out = np.full((b, max_length), cfg.pad_id, np.int32)
  scores = np.zeros(b)
  for i in range(b):
    prefix = [cfg.bos_id] + list(prompts[i])
    generated = []
    for t in range(max_length):
      dec = np.array([prefix + generated], np.int32)
      logits = np.asarray(forward(variables, enc[i:i + 1], dec))[0, -1]
      log_probs = np.asarray(jax.nn.log_softmax(logits))
      row = logits.astype(np.float64).copy()
      if allowed_fn is not None:
        mask = np.full(row.shape, -np.inf)
        mask[allowed_fn(generated)] = 0
        row += mask
      if no_repeat:
        history = prefix + generated
        for banned in banned_tokens(history, no_repeat):
          row[banned] = -np.inf
      token = int(np.argmax(row))
      generated.append(token)
      scores[i] += log_probs[token]
      if token == cfg.eos_id:
        break
    out[i, :len(generated)] = generated
  return out, scores


def banned_tokens(history, n):
  """fairseq's NGramRepeatBlock for one sequence, written out plainly."""
  if len(history) < n - 1 or n < 1:
    return []
  key = tuple(history[len(history) - (n - 1):]) if n > 1 else ()
  return [history[j + n - 1] for j in range(len(history) - n + 1)
          if tuple(history[j:j + n - 1]) == key]


def next_tokens(prefix, eos_id):
  rows = [c + [eos_id] for c in CANDIDATES]
  return sorted({r[len(prefix)] for r in rows if r[:len(prefix)] == prefix and
                 len(r) > len(prefix)})


def members(tokens, cfg):
  wanted = {tuple(c + [cfg.eos_id]) for c in CANDIDATES}
  out = []
  for row in np.asarray(tokens):
    ends = np.flatnonzero(row == cfg.eos_id)
    assert ends.size and (row[ends[0] + 1:] == cfg.pad_id).all(), row
    assert tuple(row[:ends[0] + 1]) in wanted, row
    out.append(tuple(row[:ends[0]]))
  return out
