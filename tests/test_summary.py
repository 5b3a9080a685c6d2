"""--mode=summary on the XLarge config: abstract shapes only, ~930M parameters."""

import re
import subprocess
import sys

import jax

from biomed_jax import config_lib, summary
from configs import xlarge_instruct


def test_xlarge_summary_counts_930m_without_allocating_weights():
  lines = []
  before = sum(x.nbytes for x in jax.live_arrays())
  total = summary.summarize(xlarge_instruct.get_config(), print_fn=lines.append)
  after = sum(x.nbytes for x in jax.live_arrays())
  assert abs(total - 930e6) / 930e6 <= 0.10, total
  assert after - before < 50e6  # 875M float32 weights would be 3.5 GB
  assert lines[-1] == f"total_params: {total}"
  text = "\n".join(lines)
  assert "encoder/layers" in text and "vision/stage3" in text
  assert re.search(r"\['encoder'\]\['layers'\]\['mlp'\]\['wi'\]\['kernel'\]\s+\(24, 1280, 5120\)"
                   r"\s+P\(None, 'fsdp', 'tensor'\)", text)


def test_summary_counts_match_the_variant_table():
  """Parameter count from the shapes vs. an independent count from the architecture."""
  config = config_lib.base_config("t5_base")
  cfg = config_lib.resolve_model_config(config.model)
  d, f, v = cfg.d_model, cfg.d_ff, cfg.vocab_size
  attention = 4 * d * cfg.num_heads * cfg.head_dim
  encoder = cfg.num_encoder_layers * (attention + 2 * d * f + 2 * d)
  decoder = cfg.num_decoder_layers * (2 * attention + 2 * d * f + 3 * d)
  text = v * d + encoder + decoder + 2 * d + 2 * 32 * cfg.num_heads
  total = summary.summarize(config, print_fn=lambda _: None)
  vision = total - text
  # ResNet-101 stages 1-3 (~27M with BatchNorm), projection and a 42 x 42 position grid.
  assert 25e6 < vision < 32e6, vision


def test_main_summary_command_line():
  out = subprocess.run([sys.executable, "-m", "biomed_jax.main", "--config=configs/demo.py",
                        "--mode=summary", "--config.model.d_model=128"],
                       capture_output=True, text=True, check=True).stdout
  assert "d_model=128" in out
  assert re.search(r"^total_params: \d+$", out, re.M)


def test_mistyped_config_key_is_an_error_naming_it():
  run = subprocess.run([sys.executable, "-m", "biomed_jax.main", "--config=configs/demo.py",
                        "--mode=summary", "--config.model.d_modle=128"],
                       capture_output=True, text=True)
  assert run.returncode != 0
  assert "d_modle" in run.stderr
