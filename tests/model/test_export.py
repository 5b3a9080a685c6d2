"""Weights out: a model here -> an HF folder PyTorch loads -> the same logits."""

import subprocess
import sys

import numpy as np
import pytest

import ofa_fixtures as fx
from biomed_jax.convert import biomedgpt, hf_t5
from biomed_jax.model import from_pretrained

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def run_export(*args):
  return subprocess.run([sys.executable, "-m", "biomed_jax.convert.export", *args],
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("scan_layers", [True, False])
def test_ofa_round_trip_through_the_reference(tmp_path, scan_layers):
  reference = fx.reference_model("wider", seed=2)
  hf = fx.save_hf_folder(reference, str(tmp_path / "hf"))
  ours = str(tmp_path / "ours")
  biomedgpt.convert(hf, ours, scan_layers=scan_layers, log=lambda _: None)
  out = str(tmp_path / "exported")
  result = run_export(f"--checkpoint={ours}", "--format=hf_ofa", f"--out={out}")
  assert result.returncode == 0, result.stderr
  reloaded = fx.ofa_reference.load().OFAModel.from_pretrained(out).eval()
  enc, dec, images, mask = fx.inputs("wider", 64, seed=4)
  expected, _ = fx.reference_forward(reference, enc, dec, images, mask)
  got, _ = fx.reference_forward(reloaded, enc, dec, images, mask)
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
  mine = np.asarray(from_pretrained(ours)(enc, dec, images, mask))[..., :expected.shape[-1]]
  assert np.abs(mine - got).max() <= 1e-4 * np.abs(got).max()


@pytest.mark.parametrize("tied", [True, False])
def test_t5_round_trip_through_transformers(tmp_path, tied):
  torch.manual_seed(0)
  config = transformers.T5Config(
      vocab_size=96, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=2,
      num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=20,
      dropout_rate=0.0, feed_forward_proj="relu" if tied else "gated-gelu",
      tie_word_embeddings=tied)
  original = transformers.T5ForConditionalGeneration(config).eval()
  original.save_pretrained(str(tmp_path / "hf"))
  ours = str(tmp_path / "ours")
  hf_t5.convert(str(tmp_path / "hf"), ours, log=lambda _: None)
  out = str(tmp_path / "exported")
  result = run_export(f"--checkpoint={ours}", "--format=hf_t5", f"--out={out}")
  assert result.returncode == 0, result.stderr
  reloaded = transformers.T5ForConditionalGeneration.from_pretrained(out).eval()
  rng = np.random.default_rng(0)
  enc = torch.tensor(rng.integers(2, 96, (2, 9)))
  dec = torch.tensor(rng.integers(2, 96, (2, 5)))
  with torch.no_grad():
    expected = original(input_ids=enc, decoder_input_ids=dec).logits.numpy()
    got = reloaded(input_ids=enc, decoder_input_ids=dec).logits.numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_export_refuses_the_other_flavour(tmp_path):
  hf = fx.save_hf_folder(fx.reference_model("small"), str(tmp_path / "hf"))
  ours = str(tmp_path / "ours")
  biomedgpt.convert(hf, ours, log=lambda _: None)
  result = run_export(f"--checkpoint={ours}", "--format=hf_t5", f"--out={tmp_path / 'x'}")
  assert result.returncode == 1 and "position_bias='ofa'" in result.stderr
  assert not (tmp_path / "x").exists()
