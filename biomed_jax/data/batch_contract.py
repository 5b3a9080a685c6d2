"""The batch contract: every key a batch may hold, its dtype and shape, written once.

The collator (data/batching.py), the model's example inputs (training/state.py), the train
step's inputs and host-side checks (training/step.py) and the evaluator's keys
(evaluation.py) are all derived from FIELDS.

Dimensions: "batch" = rows (B), "source" = max_source_len (Ls), "target" = max_target_len
(Lt), "image" = image_size (S).

Ids are the tokenizer's (T5 SentencePiece: pad 0, EOS 1, no bos; OFA: <s> 0, pad 1, EOS 2);
decoder prompts (`decoder_prompt`, biomed_jax.data.prompts) put the source before the answer
in the decoder, without loss on it.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Field:
  name: str
  dtype: type
  dims: tuple  # names above, or fixed sizes
  doc: str
  model_input: bool = True  # read by the train step (False: bookkeeping of the pipeline)
  required: bool = True  # False: may be absent (a text-only model's batch has no images)
  token: bool = False  # padded with the tokenizer's pad id (everything else with zeros)
  packed: bool = False  # only in packed batches (data.packing)


FIELDS = (
    Field("encoder_tokens", np.int32, ("batch", "source"),
          "[bos] instruction tokens EOS, then pad", token=True),
    Field("decoder_inputs", np.int32, ("batch", "target"),
          "decoder_targets shifted right behind the decoder start (bos, or pad when the "
          "vocabulary has none)", token=True),
    Field("decoder_targets", np.int32, ("batch", "target"),
          "[decoder prompt] target tokens, EOS, then pad", token=True),
    Field("decoder_loss_weights", np.float32, ("batch", "target"),
          "1 on target tokens incl. EOS, 0 elsewhere"),
    Field("images", np.float32, ("batch", "image", "image", 3),
          "in [-1, 1] (or ImageNet-standardised, see `image_normalization`); zeros for "
          "text-only examples. uint8 until the pipeline's last stage normalises them",
          required=False),
    Field("image_mask", np.bool_, ("batch",),
          "False for text-only examples (and padding rows); comes with images",
          required=False),
    Field("task_id", np.int32, ("batch",),
          "index of the task in the mixture (eval: `task_id`, padding rows included; packed: "
          "the row's first example's)", model_input=False),
    Field("example_index", np.int32, ("batch",),
          "the record's index in its task's split, -1 on padding (look records up with "
          "`load_records`; packed: the row's first example's)", model_input=False),
    Field("example_mask", np.bool_, ("batch",),
          "False on padding rows (only the last eval batches)", model_input=False),
)
# Packed batches (training with data.packing): each row holds several text-only examples
# one after the other (an example with an image has a row of its own); the model attends within
# each segment only and restarts the positions per segment (model.Packing).
for _side, _dim in (("encoder", "source"), ("decoder", "target")):
  FIELDS += (
      Field(f"{_side}_segment_ids", np.int32, ("batch", _dim),
            "1, 2, ... for the row's examples in order, 0 on padding", required=False,
            packed=True),
      Field(f"{_side}_positions", np.int32, ("batch", _dim),
            "each token's position within its example, 0 on padding", required=False,
            packed=True))
BY_NAME = {f.name: f for f in FIELDS}
REQUIRED_KEYS = tuple(f.name for f in FIELDS if f.model_input and f.required)
MODEL_INPUT_KEYS = tuple(f.name for f in FIELDS if f.model_input)
PACKING_KEYS = tuple(f.name for f in FIELDS if f.packed)
TOKEN_KEYS = tuple(f.name for f in FIELDS if f.token)
ALL_KEYS = tuple(f.name for f in FIELDS)


def batch_keys(*, packed: bool, model_inputs_only: bool = False) -> tuple[str, ...]:
  """The keys of an unpacked or a packed batch (or of its model inputs)."""
  return tuple(f.name for f in FIELDS if (packed or not f.packed) and
               (f.model_input or not model_inputs_only))


def shape(field: Field, *, batch_size: int | None, source_len: int, target_len: int,
          image_size: int) -> tuple[int, ...]:
  """The field's shape; batch_size=None leaves the batch dimension out (one example)."""
  sizes = {"batch": batch_size, "source": source_len, "target": target_len,
           "image": image_size}
  dims = field.dims[1:] if batch_size is None else field.dims
  return tuple(sizes[d] if isinstance(d, str) else d for d in dims)


def count_examples(batch) -> int:
  """Examples in a (host's) batch: its rows, or in a packed batch its segments."""
  if "decoder_segment_ids" in batch:
    return int(np.asarray(batch["decoder_segment_ids"]).max(axis=1).sum())
  return int(np.asarray(batch["example_mask"]).sum())


def shapes(*, batch_size: int | None, source_len: int, target_len: int, image_size: int,
           keys=None) -> dict[str, tuple[tuple[int, ...], type]]:
  """{key: (shape, dtype)} of `keys` (None: an unpacked batch's)."""
  keys = batch_keys(packed=False) if keys is None else keys
  return {k: (shape(BY_NAME[k], batch_size=batch_size, source_len=source_len,
                    target_len=target_len, image_size=image_size), BY_NAME[k].dtype)
          for k in keys}

