"""Our LoRA equals PEFT's LoRA forward on the same T5 weights and the same adapters."""

import dataclasses

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from biomed_jax.convert import export, hf_t5  # noqa: E402
from biomed_jax.model import EncoderDecoder, lora, save_pretrained  # noqa: E402

SMALL = dict(vocab_size=96, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=2,
             num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=20,
             dropout_rate=0.0, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
RANK, ALPHA = 4, 12.0
# HF module -> our module, per block.
ATTENTION = {"q": "query", "k": "key", "v": "value", "o": "out"}
SUBLAYERS = {"encoder": {"0.SelfAttention": "attention", "1.DenseReluDense": "mlp"},
             "decoder": {"0.SelfAttention": "self_attention", "1.EncDecAttention":
                         "cross_attention", "2.DenseReluDense": "mlp"}}


def _adapters(state: dict, cfg) -> dict:
  """PEFT's lora_A [r, in] / lora_B [out, r] as our lora_a [*in, r] / lora_b [r, *out]."""
  h, dh, d = cfg.num_heads, cfg.head_dim, cfg.d_model
  shapes = {"query": ((d,), (h, dh)), "key": ((d,), (h, dh)), "value": ((d,), (h, dh)),
            "out": ((h, dh), (d,)), "wi_0": ((d,), (cfg.d_ff,)), "wi_1": ((d,), (cfg.d_ff,)),
            "wo": ((cfg.d_ff,), (d,))}
  tree = {}
  for side, sublayers in SUBLAYERS.items():
    for i in range(2):
      for hf_sub, ours in sublayers.items():
        names = ATTENTION if ours != "mlp" else {n: n for n in ("wi_0", "wi_1", "wo")}
        for hf_name, name in names.items():
          prefix = f"base_model.model.{side}.block.{i}.layer.{hf_sub}.{hf_name}"
          a = state[f"{prefix}.lora_A.default.weight"].numpy().T
          b = state[f"{prefix}.lora_B.default.weight"].numpy().T
          in_shape, out_shape = shapes[name]
          tree.setdefault(side, {}).setdefault(f"layers_{i}", {}).setdefault(ours, {})[name] = {
              "lora_a": a.reshape(*in_shape, RANK), "lora_b": b.reshape(RANK, *out_shape)}
  return tree


def _merge(base: dict, extra: dict) -> dict:
  out = dict(base)
  for key, value in extra.items():
    out[key] = _merge(base[key], value) if isinstance(value, dict) else value
  return out


def test_lora_forward_equals_peft(tmp_path):
  torch.manual_seed(0)
  hf = transformers.T5ForConditionalGeneration(transformers.T5Config(**SMALL)).eval()
  hf.save_pretrained(tmp_path / "hf")
  cfg = dataclasses.replace(
      hf_t5.model_config_from_hf(hf.config.to_dict(), scan_layers=False, tied_weights=False),
      lora_rank=RANK, lora_alpha=ALPHA)
  params = hf_t5.convert_params(hf_t5.read_hf_weights(str(tmp_path / "hf")), cfg)

  # Random (nonzero) A and B, so every adapter enters the output.
  lora_config = peft.LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0,
                                target_modules=["q", "k", "v", "o", "wi_0", "wi_1", "wo"],
                                init_lora_weights=False)
  adapted = peft.get_peft_model(hf, lora_config).eval()
  params = _merge(params, _adapters(adapted.state_dict(), cfg))

  rng = np.random.default_rng(0)
  enc = rng.integers(2, SMALL["vocab_size"], (2, 9))
  enc[1, 6:] = 0
  dec = rng.integers(0, SMALL["vocab_size"], (2, 7))
  with torch.no_grad():
    expected = adapted(input_ids=torch.tensor(enc), attention_mask=torch.tensor(enc != 0),
                       decoder_input_ids=torch.tensor(dec)).logits.numpy()
  with adapted.disable_adapter(), torch.no_grad():
    plain = adapted(input_ids=torch.tensor(enc), attention_mask=torch.tensor(enc != 0),
                    decoder_input_ids=torch.tensor(dec)).logits.numpy()
  logits = np.asarray(jax.jit(EncoderDecoder(cfg).apply)(
      {"params": params}, enc.astype(np.int32), dec.astype(np.int32)))
  assert np.abs(expected - plain).max() > 1e-2 * np.abs(expected).max()  # adapters matter
  rel_err = np.abs(logits - expected).max() / np.abs(expected).max()
  assert rel_err <= 1e-5, rel_err

  # Export merges the adapters: transformers' plain T5 then gives PEFT's adapted logits.
  ours = str(tmp_path / "ours")
  save_pretrained(ours, cfg, {"params": params})
  export.export(ours, str(tmp_path / "exported"), "hf_t5", log=lambda _: None)
  reloaded = transformers.T5ForConditionalGeneration.from_pretrained(
      str(tmp_path / "exported")).eval()
  with torch.no_grad():
    merged = reloaded(input_ids=torch.tensor(enc), attention_mask=torch.tensor(enc != 0),
                      decoder_input_ids=torch.tensor(dec)).logits.numpy()
  assert np.abs(merged - expected).max() <= 1e-5 * np.abs(expected).max()

  # The adapters alone: saved, read back and put onto the base weights, bit for bit.
  export.export(ours, str(tmp_path / "adapters"), "lora_adapters", log=lambda _: None)
  base = jax.tree_util.tree_map(np.asarray, lora.merge(params, cfg))  # any base tree
  restored = lora.with_adapters(base, lora.load_adapters(str(tmp_path / "adapters")))
  for (p, x), (q, y) in zip(jax.tree_util.tree_flatten_with_path(lora.adapters(restored))[0],
                            jax.tree_util.tree_flatten_with_path(lora.adapters(params))[0]):
    assert p == q
    np.testing.assert_array_equal(x, y)
