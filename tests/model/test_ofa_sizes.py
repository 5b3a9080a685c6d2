"""Parameter counts of every biomedgpt_* variant against the PyTorch OFA reference."""

import contextlib

import pytest

from biomed_jax import config_lib, summary
import ofa_reference

torch = pytest.importorskip("torch")

# BiomedGPT size -> the reference's OFAConfig (ofa_tiny .. ofa_huge).
REFERENCE_SIZES = {
    "biomedgpt_tiny": (256, 4, 1024, 4, 4, "resnet50"),
    "biomedgpt_medium": (512, 8, 2048, 4, 4, "resnet101"),
    "biomedgpt_base": (768, 12, 3072, 6, 6, "resnet101"),
    "biomedgpt_large": (1024, 16, 4096, 12, 12, "resnet152"),
    "biomedgpt_xlarge": (1280, 16, 5120, 24, 12, "resnet152"),
}


@contextlib.contextmanager
def _uninitialised(modeling):
  """Builds the reference without filling its weights: the allocations stay untouched, so
  even XLarge (3.7 GB of float32) costs seconds and little memory."""
  names = ("kaiming_uniform_", "uniform_", "normal_", "constant_", "xavier_uniform_",
           "zeros_", "ones_", "kaiming_normal_", "trunc_normal_")
  saved = {n: getattr(torch.nn.init, n) for n in names}
  init_weights = modeling.OFAPreTrainedModel._init_weights
  for n in names:
    setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
  modeling.OFAPreTrainedModel._init_weights = lambda self, module: None
  try:
    with torch.no_grad():
      yield
  finally:
    for n, f in saved.items():
      setattr(torch.nn.init, n, f)
    modeling.OFAPreTrainedModel._init_weights = init_weights


@pytest.mark.parametrize("variant", sorted(REFERENCE_SIZES))
def test_summary_counts_equal_the_reference(variant):
  modeling = ofa_reference.load()
  d, heads, ffn, enc, dec, resnet = REFERENCE_SIZES[variant]
  with _uninitialised(modeling):
    reference = modeling.OFAModel(modeling.OFAConfig(
        d_model=d, encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, encoder_layers=enc, decoder_layers=dec,
        resnet_type=resnet))
    expected = sum(p.numel() for p in reference.parameters())  # tied tables counted once
  del reference
  lines = []
  total = summary.summarize(config_lib.base_config(variant), print_fn=lines.append)
  assert total == expected
  assert lines[-1] == f"total_params: {expected}"
