"""BiomedGPT's decoder prompts: what the decoder is given before the answer.

  none         decoder input  <s> answer                 targets  answer </s>
  src          decoder input  <s> source </s> answer     targets  source </s> answer </s>
  prev_output  decoder input  <s> source answer          targets  source answer </s>

(<s> is the decoder start: bos in OFA's vocabulary, pad in T5's.) The loss is on the answer and
its </s> only; at inference the prompt is forced token by token and stripped from the output
(biomed_jax.decoding.decode). The prompt is read off the encoder tokens, so training and
decoding cannot disagree about it: the encoder holds [bos] source </s> pad...; the prompt is
that source, with its </s> for `src`, without the bos.
"""

import numpy as np

DECODER_PROMPTS = ("none", "src", "prev_output")


def check_mode(mode: str) -> None:
  if mode not in DECODER_PROMPTS:
    raise ValueError(f"decoder_prompt={mode!r} is not one of {DECODER_PROMPTS}")


def prompt_span(encoder_tokens, mode: str, eos_id: int, has_bos: bool, xp=np):
  """(first position, length) of the prompt in `encoder_tokens` [..., l] (each row holds an
  EOS). xp: numpy, or jax.numpy inside a compiled program. Lengths are 0 for `none`."""
  check_mode(mode)
  start = 1 if has_bos else 0
  eos_at = xp.argmax(encoder_tokens == eos_id, axis=-1)
  if mode == "none":
    return start, xp.zeros_like(eos_at)
  return start, eos_at - start + (1 if mode == "src" else 0)
