"""Example layout per tokenizer and decoder-prompt mode: OFA's <s> text </s> encoder input,
the decoder start, the prompt before the answer with loss only on the answer and its EOS,
padding with the tokenizer's pad id; T5's layout unchanged; image normalisations."""

from absl import flags
import numpy as np
import pytest

from biomed_jax.data import batching, images, pipeline
from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.data.records import Record
from biomed_jax.data.tasks import Task
from biomed_jax.data.transforms import ExampleBuilder

from bpe_fixtures import make_bpe_files  # pylint: disable=g-bad-import-order

TASK = Task(name="toy", dataset="toy", family="text_understanding", templates=("{question}",),
            target_field="answer", max_source_len=32, max_target_len=16, metrics=("accuracy",))
RECORD = Record(dataset="toy", split="train", id="1", source="toy.jsonl",
                fields={"question": "Is there a pleural effusion?", "answer": "no effusion"})
LS, LT = 32, 56


@pytest.fixture(scope="module")
def ofa(tmp_path_factory):
  return tokenizer_lib.load_tokenizer(str(make_bpe_files(tmp_path_factory.mktemp("b"))["hf"]))


def _example(tok, mode, task=TASK, lt=LT):
  builder = ExampleBuilder(task, 0, tok, image_size=32, max_source_len=LS, max_target_len=lt,
                           seed=0, train=False, decoder_prompt=mode)
  return builder(0, (0, RECORD))


@pytest.mark.parametrize("mode", ["none", "src", "prev_output"])
def test_ofa_layout_per_prompt_mode(ofa, mode):
  q, a = ofa.encode(RECORD.fields["question"]), ofa.encode(RECORD.fields["answer"])
  assert len(q) + 2 <= TASK.max_source_len and len(a) + 1 <= TASK.max_target_len  # no cuts
  ex = _example(ofa, mode)
  assert ex["encoder_tokens"].tolist() == [0] + q + [2] + [1] * (LS - len(q) - 2)
  prompt = {"none": [], "src": q + [2], "prev_output": q}[mode]
  sequence = prompt + a + [2]
  pad = [1] * (LT - len(sequence))
  assert ex["decoder_inputs"].tolist() == [0] + sequence + pad[:-1]
  assert ex["decoder_targets"].tolist() == sequence + pad
  weights = ex["decoder_loss_weights"]
  assert weights.tolist() == [0.0] * len(prompt) + [1.0] * (len(a) + 1) + [0.0] * len(pad)
  # The loss-bearing targets are exactly the answer and its EOS, whatever the prompt.
  assert ex["decoder_targets"][weights > 0].tolist() == a + [2]
  assert not ex["_events"]


def test_t5_layout_is_unchanged():
  tok = tokenizer_lib.load_tokenizer("")
  q, a = tok.encode(RECORD.fields["question"]), tok.encode(RECORD.fields["answer"])
  ex = _example(tok, "none")
  assert ex["encoder_tokens"].tolist() == q + [1] + [0] * (LS - len(q) - 1)
  assert ex["decoder_targets"].tolist() == a + [1] + [0] * (LT - len(a) - 1)
  assert ex["decoder_inputs"].tolist() == [0] + a + [1] + [0] * (LT - len(a) - 2)
  assert ex["decoder_loss_weights"].sum() == len(a) + 1
  src = _example(tok, "src")  # no bos: the prompt is the source and its EOS
  assert src["decoder_targets"][:len(q) + 1].tolist() == q + [1]
  assert src["decoder_inputs"][0] == 0


def test_long_prompt_is_cut_and_counted(ofa):
  q, a = ofa.encode(RECORD.fields["question"]), ofa.encode(RECORD.fields["answer"])
  lt = len(a) + 1 + 2  # room for two prompt tokens
  ex = _example(ofa, "src", lt=lt)
  assert ex["decoder_targets"].tolist() == q[:2] + a + [2]
  assert ex["decoder_loss_weights"].tolist() == [0, 0] + [1] * (len(a) + 1)
  assert [e[1] for e in ex["_events"]] == ["target_truncated"]


def test_padding_rows_use_the_pad_id():
  collate = batching.Collate(3, source_len=4, target_len=3, image_size=8, pad_id=1)
  example = {k: np.full(shape, 7, dtype) for k, (shape, dtype) in collate.shapes.items()}
  batch = collate([example], ())
  for key in collate.TOKEN_FIELDS:
    assert (batch[key][1:] == 1).all() and (batch[key][0] == 7).all()
  assert (batch["decoder_loss_weights"][1:] == 0).all() and not batch["example_mask"][1:].any()


def test_image_normalizations():
  pixels = np.array([[[0, 128, 255]]], np.uint8)
  np.testing.assert_allclose(images.normalize(pixels), [[[-1.0, 128 / 127.5 - 1, 1.0]]],
                             atol=1e-6)
  expected = (np.array([0, 128, 255]) / 255 - np.array([0.485, 0.456, 0.406])) / np.array(
      [0.229, 0.224, 0.225])
  np.testing.assert_allclose(images.normalize(pixels, "imagenet")[0, 0], expected, rtol=1e-5)
  with pytest.raises(ValueError, match="normalization"):
    images.normalize(pixels, "clip")


def test_ofa_tokenizer_crosses_into_grain_workers(ofa):
  """The tokenizer pickles into a worker process and builds the same batches there."""
  flags.FLAGS.mark_as_parsed()
  kwargs = dict(tokenizer=ofa, batch_size=4, image_size=32, max_source_len=64,
                max_target_len=96, decoder_prompt="src")

  def first_batches(workers):
    iterator = pipeline.make_eval_iterator("sample_text_understanding", worker_count=workers,
                                           **kwargs)
    try:
      return [next(iterator) for _ in range(2)]
    finally:
      iterator.close()

  local, remote = first_batches(0), first_batches(1)
  for a, b in zip(local, remote):
    for key in ("encoder_tokens", "decoder_inputs", "decoder_targets", "decoder_loss_weights"):
      np.testing.assert_array_equal(a[key], b[key])
  assert (local[0]["encoder_tokens"][:, 0] == ofa.bos_id).all()
  assert (local[0]["decoder_inputs"][:, 0] == ofa.decoder_start_id).all()
