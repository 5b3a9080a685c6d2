"""python -m biomed_jax.convert.biomedgpt on files in the released formats, and on bad ones."""

import argparse
import collections
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import ofa_fixtures as fx
from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.model import from_pretrained

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "data"))
from bpe_fixtures import make_bpe_files  # pylint: disable=g-import-not-at-top,wrong-import-position

torch = pytest.importorskip("torch")

# fairseq's names for the tensors the HF port renamed (reference/ofa.md, "fairseq -> HF").
HF_TO_FAIRSEQ = (
    (r"^encoder\.layers\.(\d+)\.self_attn_mid_layer_norm\.", r"encoder.layers.\1.attn_ln."),
    (r"\.ffn_layer_norm\.", ".ffn_layernorm."),
    (r"^decoder\.layers\.(\d+)\.self_attn_mid_layer_norm\.", r"decoder.layers.\1.self_attn_ln."),
    (r"^decoder\.layers\.(\d+)\.cross_attn_mid_layer_norm\.", r"decoder.layers.\1.cross_attn_ln."),
    (r"^decoder\.layers\.(\d+)\.cross_attn_layer_norm\.",
     r"decoder.layers.\1.encoder_attn_layer_norm."),
    (r"^decoder\.layers\.(\d+)\.cross_attn\.", r"decoder.layers.\1.encoder_attn."),
)


def _fairseq_state(model, dtype):
  state = collections.OrderedDict()
  for name, tensor in model.state_dict().items():
    for pattern, replacement in HF_TO_FAIRSEQ:
      name = re.sub(pattern, replacement, name)
    state[name] = tensor.to(dtype) if tensor.is_floating_point() else tensor
  state["encoder.version"] = torch.Tensor([3])
  state["decoder.version"] = torch.Tensor([3])
  return state


def _fairseq_args(name, **changes):
  c = fx.CONFIGS[name]
  args = dict(
      arch="ofa_tiny", encoder_embed_dim=c["d_model"], decoder_embed_dim=c["d_model"],
      encoder_layers=c["encoder_layers"], decoder_layers=c["decoder_layers"],
      encoder_attention_heads=c["encoder_attention_heads"],
      decoder_attention_heads=c["decoder_attention_heads"],
      encoder_ffn_embed_dim=c["encoder_ffn_dim"], decoder_ffn_embed_dim=c["decoder_ffn_dim"],
      resnet_type=c["resnet_type"], token_bucket_size=c["token_bucket_size"],
      image_bucket_size=c["image_bucket_size"],
      max_source_positions=c["max_position_embeddings"],
      max_target_positions=c["max_position_embeddings"],
      attn_scale_factor=c.get("attn_scale_factor", 2.0), activation_fn="gelu", dropout=0.1,
      attention_dropout=0.0, activation_dropout=0.0, encoder_drop_path_rate=0.1,
      decoder_drop_path_rate=0.1, encoder_normalize_before=True, decoder_normalize_before=True,
      share_all_embeddings=True, layernorm_embedding=True, patch_layernorm_embedding=True,
      add_type_embedding=True, scale_attn=True, scale_fc=True, scale_heads=True,
      disable_entangle=True, no_scale_embedding=True, scale_resids=False)
  args.update(changes)
  return argparse.Namespace(**args)


def write_fairseq_checkpoint(path, model, ema_model, name="small", **arg_changes):
  """A checkpoint as fairseq writes it: fp16 `model`, fp32 EMA copy in extra_state, the flags
  as an argparse.Namespace in cfg["model"], numpy scalars and optimizer state around."""
  checkpoint = {
      "cfg": {"model": _fairseq_args(name, **arg_changes),
              "task": {"_name": "vqa_gen", "patch_image_size": 64},
              "common": {"fp16": True, "seed": np.int64(7)}},
      "model": _fairseq_state(model, torch.float16),
      "extra_state": {"ema": _fairseq_state(ema_model, torch.float16),
                      "ema_fp32_params": _fairseq_state(ema_model, torch.float32),
                      "previous_best": np.float64(0.5)},
      "optimizer_history": [{"criterion_name": "AdjustLabelSmoothedCrossEntropyCriterion",
                             "optimizer_name": "FairseqAdam", "num_updates": 100}],
      "last_optimizer_state": {"state": {0: {"exp_avg": torch.zeros(1000)}}},
  }
  torch.save(checkpoint, path)
  return path


def run_convert(*args):
  return subprocess.run([sys.executable, "-m", "biomed_jax.convert.biomedgpt", *args],
                        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def models():
  return fx.reference_model("small", seed=0), fx.reference_model("small", seed=11)


def _max_relative_error(ours, reference):
  return float(np.abs(np.asarray(ours)[..., :reference.shape[-1]] - reference).max()
               / np.abs(reference).max())


def test_fairseq_checkpoint_through_the_cli_ema_and_raw(tmp_path, models):
  raw, ema = models
  path = write_fairseq_checkpoint(str(tmp_path / "biomedgpt_small.pt"), raw, ema)
  for flag, reference in (("--ema", ema), ("--noema", raw)):
    out = str(tmp_path / f"out{flag}")
    result = run_convert(f"--checkpoint={path}", f"--out={out}", flag)
    assert result.returncode == 0, result.stderr
    assert "warning: no tokenizer files" in result.stdout
    model = from_pretrained(out)
    assert model.config.image_size == 64  # from the task's patch_image_size
    enc, dec, images, mask = fx.inputs("small", 64)
    if flag == "--noema":  # the raw weights were stored in fp16: compare with those
      reference = fx.reference_model("small", seed=0)
      with torch.no_grad():
        for tensor in reference.state_dict().values():
          if tensor.is_floating_point():
            tensor.copy_(tensor.half().float())
    ref_logits, _ = fx.reference_forward(reference, enc, dec, images, mask)
    assert _max_relative_error(model(enc, dec, images, mask), ref_logits) <= 1e-4


def test_hf_safetensors_folder_through_the_cli_with_tokenizer_files(tmp_path):
  """An HF release folder with its BPE files: they are checked and carried into OUT."""
  files = make_bpe_files(tmp_path)
  tok = tokenizer_lib.load_tokenizer(str(files["hf"]))
  raw = fx.reference_model("small", seed=0, vocab_size=tok.vocab_size)
  folder = str(files["hf"])
  fx.save_hf_folder(raw, folder, safetensors=True)
  out = str(tmp_path / "out")
  result = run_convert(f"--checkpoint={folder}", f"--out={out}", "--image_size=96")
  assert result.returncode == 0, result.stderr
  assert "warning" not in result.stdout
  saved = tokenizer_lib.load_tokenizer(out)
  text = "Is there a pleural effusion? <bin_3> <bin_999>"
  assert saved.kind == "ofa_bpe" and saved.encode(text) == tok.encode(text)
  model = from_pretrained(out)
  assert model.tokenizer_path == out
  enc, dec, images, mask = fx.inputs("small", 96)
  ref_logits, _ = fx.reference_forward(raw, enc, dec, images, mask)
  assert _max_relative_error(model(enc, dec, images, mask), ref_logits) <= 1e-4

  # A tokenizer of another vocabulary is refused before anything is written.
  other = fx.save_hf_folder(fx.reference_model("small"), str(tmp_path / "other"))
  result = run_convert(f"--checkpoint={other}", f"--out={tmp_path / 'o'}",
                       f"--tokenizer_dir={files['fairseq']}")
  _one_line_error(result, f"has {tok.vocab_size} ids", "vocabulary 300")
  assert not (tmp_path / "o").exists()


class _RunsShell:
  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


def _one_line_error(result, *expected):
  assert result.returncode != 0
  lines = [l for l in result.stderr.strip().splitlines() if l.startswith("error:")]
  assert len(lines) == 1, result.stderr
  for text in expected:
    assert text in lines[0], lines[0]
  assert "Traceback" not in result.stderr


def test_forbidden_global_is_refused_and_nothing_runs(tmp_path):
  marker = tmp_path / "pwned"
  path = str(tmp_path / "evil.pt")
  torch.save({"model": {"x": torch.zeros(2)}, "cfg": {"model": _RunsShell(marker)}}, path)
  result = run_convert(f"--checkpoint={path}", f"--out={tmp_path / 'out'}")
  _one_line_error(result, path, "system", "nothing was executed")
  assert not marker.exists() and not (tmp_path / "out").exists()


def test_bad_inputs_give_one_line_naming_the_file_or_flag(tmp_path, models):
  raw, ema = models
  not_a_checkpoint = tmp_path / "notes.pt"
  not_a_checkpoint.write_text("these are not weights")
  _one_line_error(run_convert(f"--checkpoint={not_a_checkpoint}", f"--out={tmp_path / 'o1'}"),
                  str(not_a_checkpoint), "not a PyTorch zip checkpoint")

  good = write_fairseq_checkpoint(str(tmp_path / "good.pt"), raw, ema)
  truncated = tmp_path / "truncated.pt"
  truncated.write_bytes(open(good, "rb").read()[:50_000])
  _one_line_error(run_convert(f"--checkpoint={truncated}", f"--out={tmp_path / 'o2'}"),
                  str(truncated))

  entangled = write_fairseq_checkpoint(str(tmp_path / "entangled.pt"), raw, ema,
                                       disable_entangle=False, scale_resids=True)
  _one_line_error(run_convert(f"--checkpoint={entangled}", f"--out={tmp_path / 'o3'}"),
                  "--disable-entangle", "--scale_resids".replace("_", "-"))

  _one_line_error(run_convert(f"--checkpoint={good}", f"--out={tmp_path / 'o4'}",
                              f"--tokenizer_dir={tmp_path / 'missing'}"),
                  "--tokenizer_dir", str(tmp_path / "missing"))
  assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))
