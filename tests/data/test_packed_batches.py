"""data.packing on the shipped sample mixture: packed rows hold exactly the unpacked stream's
examples, in the layout tests/model/test_packed_rows.py proves the model reads correctly;
resume is exact and problem counts are those of the unpacked stream."""

import collections
import dataclasses

import numpy as np
import pytest

from biomed_jax.data import batch_contract, pipeline
from biomed_jax.data import tokenizer as tokenizer_lib

LS, LT, ROWS = 512, 64, 8
# Text tasks (abstracts of 120-440 tokens: two or three to a 512-token row) and an image task.
MIXTURE = (("sample_text_understanding", 1.0), ("sample_qa", 1.0), ("sample_vqa", 0.5))


@pytest.fixture(scope="module")
def tokenizer():
  return tokenizer_lib.load_tokenizer(tokenizer_lib.SAMPLE_MODEL)


@pytest.fixture(scope="module")
def records():
  """The sample's QA records with every third one blanked: bad examples whose events must ride on
  a later example through the packer."""
  qa, _ = pipeline.load_records("sample_qa", "train")
  qa = list(qa)
  for i in range(0, len(qa), 3):
    qa[i] = dataclasses.replace(qa[i], fields={k: "" for k in qa[i].fields})
  return {"sample_qa": qa}


def _iterator(tokenizer, records, packing, batch_size=ROWS):
  return pipeline.make_train_iterator(
      MIXTURE, tokenizer=tokenizer, batch_size=batch_size, image_size=32, max_source_len=LS,
      max_target_len=LT, seed=3, records=records, packing=packing)


def _segments(batch, pad_id):
  """(encoder tokens, decoder inputs, targets, weights, has image) of every segment."""
  out = []
  for r in range(batch["encoder_tokens"].shape[0]):
    enc_ids, dec_ids = batch["encoder_segment_ids"][r], batch["decoder_segment_ids"][r]
    for s in range(1, enc_ids.max() + 1):
      enc, dec = enc_ids == s, dec_ids == s
      # One segment = one contiguous run, positions 0.. within it.
      assert np.array_equal(batch["encoder_positions"][r][enc], np.arange(enc.sum()))
      assert np.array_equal(batch["decoder_positions"][r][dec], np.arange(dec.sum()))
      tokens = batch["encoder_tokens"][r][enc]
      out.append((tuple(tokens[tokens != pad_id]), tuple(batch["decoder_inputs"][r][dec]),
                  tuple(batch["decoder_targets"][r][dec]),
                  tuple(batch["decoder_loss_weights"][r][dec]), bool(batch["image_mask"][r])))
    assert not enc_ids.max() or batch["image_mask"][r] <= (enc_ids.max() == 1)
  return out


def _unpacked_examples(batch, pad_id):
  out = []
  for r in range(batch["encoder_tokens"].shape[0]):
    tokens, targets = batch["encoder_tokens"][r], batch["decoder_targets"][r]
    m = np.nonzero(targets != pad_id)[0][-1] + 1
    out.append((tuple(tokens[tokens != pad_id]), tuple(batch["decoder_inputs"][r][:m]),
                tuple(targets[:m]), tuple(batch["decoder_loss_weights"][r][:m]),
                bool(batch["image_mask"][r])))
  return out


def test_packed_rows_hold_the_unpacked_stream_and_count_its_problems(tokenizer, records):
  packed = _iterator(tokenizer, records, packing=True)
  segments = []
  for _ in range(6):
    batch = next(packed)
    assert set(batch) == set(batch_contract.batch_keys(packed=True))
    for key, (shape, dtype) in batch_contract.shapes(
        batch_size=ROWS, source_len=LS, target_len=LT, image_size=32,
        keys=batch_contract.batch_keys(packed=True)).items():
      assert batch[key].shape == shape and batch[key].dtype == dtype, key
    segments += _segments(batch, tokenizer.pad_id)
  # Each packing round takes the next examples of the stream: 6 batches hold its first N.
  unpacked = _iterator(tokenizer, records, packing=False, batch_size=1)
  stream = [e for _ in range(len(segments)) for e in _unpacked_examples(next(unpacked),
                                                                        tokenizer.pad_id)]
  assert collections.Counter(segments) == collections.Counter(stream)
  text = [s for s in segments if not s[4]]
  assert len(segments) > 6 * ROWS and len(text) > len(segments) - 6 * ROWS  # rows are shared
  assert any(s[4] for s in segments)  # images came, each alone in its row (_segments)
  # The bad QA examples' events were counted once; the packed batch carried them.
  counts = packed.problem_counts
  assert counts == unpacked.problem_counts
  assert counts["sample_qa"]["empty_field"] >= 5, counts


def test_packed_stream_resumes_exactly(tokenizer, records):
  first = _iterator(tokenizer, records, packing=True)
  for _ in range(3):
    next(first)
  state = first.get_state()
  expected = [next(first) for _ in range(3)]
  resumed = _iterator(tokenizer, records, packing=True)
  resumed.set_state(state)
  for want in expected:
    got = next(resumed)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  assert resumed.problem_counts == first.problem_counts
