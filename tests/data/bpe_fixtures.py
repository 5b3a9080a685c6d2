"""A byte-level BPE trained here with HF tokenizers, written in both release layouts (fairseq
encoder.json + vocab.bpe + dict.txt, and HF vocab.json + merges.txt in OFA's ids)."""

import json

import numpy as np
import tokenizers

CORPUS = [
    "The chest radiograph shows cardiomegaly with a small left pleural effusion.",
    "No pneumothorax. Axial T1-weighted MRI of the brain isn't remarkable; it's fine.",
    "What abnormality is seen in the lung? Is there a mass in the right upper lobe?",
    "Hematoxylin and eosin stain, 40x: colorectal adenocarcinoma tissue (CRC-VAL-HE-7K).",
] * 30


def gpt2_tokens(vocab):
  return {i: t for t, i in vocab.items()}


def make_bpe_files(root):
  """-> {"vocab": GPT-2-style vocab, "order": dict.txt order of its ids, "fairseq": folder,
  "hf": folder, "root": root}."""
  trainer = tokenizers.ByteLevelBPETokenizer()
  trainer.train_from_iterator(CORPUS, vocab_size=400, min_frequency=2, show_progress=False)
  raw = root / "raw"
  raw.mkdir()
  trainer.save_model(str(raw))
  vocab = json.loads((raw / "vocab.json").read_text())
  merges = (raw / "merges.txt").read_text()
  order = np.random.default_rng(0).permutation(len(vocab)).tolist()  # fairseq dict order
  dict_lines = [f"{g} {1000 - n}" for n, g in enumerate(order)] + ["madeupword0000 0"]

  fairseq = root / "fairseq"
  fairseq.mkdir()
  (fairseq / "encoder.json").write_text(json.dumps(vocab))
  (fairseq / "vocab.bpe").write_text(merges)
  (fairseq / "dict.txt").write_text("\n".join(dict_lines) + "\n")

  # The HF release layout: vocab.json already in OFA's ids (BART's convention).
  tokens = gpt2_tokens(vocab)
  hf_vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
  hf_vocab.update({tokens[g]: 4 + n for n, g in enumerate(order)})
  hf_vocab["madeupword0000"] = 4 + len(order)
  hf_vocab["<mask>"] = 5 + len(order)
  hf = root / "hf"
  hf.mkdir()
  (hf / "vocab.json").write_text(json.dumps(hf_vocab))
  (hf / "merges.txt").write_text(merges)
  return {"vocab": vocab, "order": order, "fairseq": fairseq, "hf": hf, "root": root}
