"""Random PyTorch OFA reference models (BiomedGPT's layout) and inputs for the parity tests."""

import json
import os

import numpy as np

import ofa_reference

# Two configs that differ in width, depth, heads, bucket sizes, ResNet depth and scale factor.
CONFIGS = {
    "small": dict(vocab_size=300, d_model=32, encoder_layers=2, decoder_layers=2,
                  encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                  decoder_ffn_dim=64, resnet_type="resnet18", token_bucket_size=16,
                  image_bucket_size=8, max_position_embeddings=64),
    "wider": dict(vocab_size=411, d_model=48, encoder_layers=3, decoder_layers=2,
                  encoder_attention_heads=6, decoder_attention_heads=6, encoder_ffn_dim=80,
                  decoder_ffn_dim=80, resnet_type="resnet50", token_bucket_size=32,
                  image_bucket_size=12, max_position_embeddings=96, attn_scale_factor=1.5),
}
PAD, BOS, EOS = 1, 0, 2


def reference_model(name: str, seed: int = 0, **overrides):
  """An OFAModel in eval mode whose every norm, BatchNorm statistic, head scale and relative
  table holds a random non-trivial value (OFA's init leaves them at 1/0, which would hide a
  missing or misplaced norm)."""
  import torch  # pylint: disable=g-import-not-at-top
  modeling = ofa_reference.load()
  torch.manual_seed(seed)
  model = modeling.OFAModel(modeling.OFAConfig(**{**CONFIGS[name], **overrides}))
  generator = torch.Generator().manual_seed(seed + 1)
  noise = lambda t, scale: torch.randn(t.shape, generator=generator) * scale
  with torch.no_grad():
    for key, tensor in model.state_dict().items():
      if not tensor.is_floating_point():
        continue
      if key.endswith("running_var"):
        tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
      elif key.endswith("running_mean") or "rel_pos_table" in key:
        tensor.copy_(noise(tensor, 0.2))
      elif tensor.ndim == 1 and (key.endswith("weight") or key.endswith("c_attn")):
        tensor.copy_(1.0 + noise(tensor, 0.3))
      elif tensor.ndim == 1 and key.endswith("bias"):
        tensor.copy_(noise(tensor, 0.1))
  return model.eval()


def save_hf_folder(model, folder: str, safetensors: bool = False) -> str:
  """The model as an HF-format folder: config.json + pytorch_model.bin (or safetensors)."""
  import torch  # pylint: disable=g-import-not-at-top
  os.makedirs(folder, exist_ok=True)
  config = model.config.to_dict()
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump(config, f)
  state = {k: v.contiguous() for k, v in model.state_dict().items()}
  if safetensors:
    from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
    save_file({k: v.numpy() for k, v in state.items()},
              os.path.join(folder, "model.safetensors"))
  else:
    torch.save(state, os.path.join(folder, "pytorch_model.bin"))
  return folder


def inputs(name: str, image_size: int, seed: int = 0, batch: int = 3):
  """Token ids in OFA's layout (`<s> text </s>` then pads; decoder `<s> target` then pads),
  images in [-1, 1] (NHWC) and a mask with one text-only example inside the image batch."""
  rng = np.random.default_rng(seed)
  vocab = CONFIGS[name]["vocab_size"]
  enc = np.full((batch, 12), PAD, np.int64)
  dec = np.full((batch, 7), PAD, np.int64)
  for i, (n_src, n_tgt) in enumerate([(12, 7), (8, 4), (5, 6)][:batch]):
    enc[i, :n_src] = np.concatenate([[BOS], rng.integers(4, vocab, n_src - 2), [EOS]])
    dec[i, :n_tgt] = np.concatenate([[BOS], rng.integers(4, vocab, n_tgt - 1)])
  images = rng.uniform(-1, 1, (batch, image_size, image_size, 3)).astype(np.float32)
  image_mask = np.array([True, False, True][:batch])
  return enc, dec, images, image_mask


def reference_forward(model, enc, dec, images=None, image_mask=None):
  """(logits [b, l, vocab], encoder output [b, L, d]) of the reference, as numpy."""
  import torch  # pylint: disable=g-import-not-at-top
  kwargs = {}
  if images is not None:
    kwargs = dict(patch_images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                  patch_masks=torch.from_numpy(image_mask))
  with torch.no_grad():
    encoder_out = model.encoder(input_ids=torch.from_numpy(enc), **kwargs)
    out = model(input_ids=torch.from_numpy(enc), decoder_input_ids=torch.from_numpy(dec),
                encoder_outputs=encoder_out, **kwargs)
  return out.logits.numpy(), encoder_out.last_hidden_state.numpy()
