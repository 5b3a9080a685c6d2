"""Oracle parity: a random HF T5 converted with the CLI gives PyTorch's logits."""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from biomed_jax.model import from_pretrained  # noqa: E402

SMALL = dict(vocab_size=96, d_model=48, d_kv=12, d_ff=80, num_layers=3, num_decoder_layers=2,
             num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=20,
             dropout_rate=0.0)
FLAVOURS = {
    "t5_v1_0": dict(feed_forward_proj="relu", tie_word_embeddings=True),
    "t5_v1_1": dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}


def _hf_model(tmp_path, flavour):
  torch.manual_seed(0)
  model = transformers.T5ForConditionalGeneration(
      transformers.T5Config(**SMALL, **FLAVOURS[flavour])).eval()
  hf_dir = str(tmp_path / "hf")
  model.save_pretrained(hf_dir)
  return model, hf_dir


def _batch(rng):
  # Encoder inputs of different lengths, padded with 0; lengths beyond max_distance so the
  # logarithmic buckets are exercised.
  lengths = [30, 17, 5, 26]
  enc = np.zeros((4, 30), np.int64)
  for i, n in enumerate(lengths):
    enc[i, :n] = rng.integers(2, SMALL["vocab_size"], n)
  dec = rng.integers(0, SMALL["vocab_size"], (4, 24))
  dec[:, 0] = 0
  return enc, dec


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
@pytest.mark.parametrize("scan_layers", [True, False])
def test_converted_logits_match_pytorch(tmp_path, flavour, scan_layers):
  hf_model, hf_dir = _hf_model(tmp_path, flavour)
  out = str(tmp_path / "converted")
  subprocess.run([sys.executable, "-m", "biomed_jax.convert.hf_t5", f"--hf_dir={hf_dir}",
                  f"--out={out}", f"--scan_layers={scan_layers}"], check=True,
                 env={**os.environ, "JAX_PLATFORMS": "cpu"})
  enc, dec = _batch(np.random.default_rng(1))
  with torch.no_grad():
    expected = hf_model(input_ids=torch.tensor(enc), attention_mask=torch.tensor(enc != 0),
                        decoder_input_ids=torch.tensor(dec)).logits.numpy()

  model = from_pretrained(out)
  assert model.config.tie_embeddings == (flavour == "t5_v1_0")
  logits = np.asarray(model(enc, dec))

  assert logits.shape == (4, 24, SMALL["vocab_size"])
  rel_err = np.abs(logits - expected).max() / np.abs(expected).max()
  assert rel_err <= 1e-4, rel_err


def test_from_pretrained_names_a_folder_without_checkpoint(tmp_path):
  with pytest.raises(FileNotFoundError, match="model_config.json"):
    from_pretrained(str(tmp_path))
