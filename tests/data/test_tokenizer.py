"""Tokenizer: unified vocabulary layout, lossless round trips, location bins, pickling."""

import json
import os
import pickle

import pytest
import sentencepiece as spm

from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.data.readers import sample

Tokenizer = tokenizer_lib.Tokenizer


@pytest.fixture(scope="module")
def tok():
  return Tokenizer()


def _sample_texts(task, field, limit=40):
  path = os.path.join(sample.DEFAULT_ROOT, task, "validation.jsonl")
  with open(path, encoding="utf-8") as f:
    return [json.loads(line)[field] for line in f][:limit]


def _byte_piece_ids(tok, ids):
  return [i for i in ids if tok.id_to_token(i).startswith("<0x")]


def test_t5_special_ids_and_vocabulary_layout(tok):
  assert (tok.pad_id, tok.eos_id, tok.unk_id) == (0, 1, 2)
  assert [tok.id_to_token(i) for i in range(3)] == ["<pad>", "</s>", "<unk>"]
  assert tok.sp_size == 32_000
  assert tok.vocab_size == tok.sp_size + 1000 + len(tokenizer_lib.EXTRA_SPECIALS)
  assert tok.bin_id(0) == tok.sp_size and tok.bin_id(999) == tok.sp_size + 999
  assert tok.mask_id == tok.sp_size + 1000
  assert tok.id_to_token(tok.bin_id(17)) == "<bin_17>"
  assert tok.id_to_token(tok.mask_id) == "<mask>"
  with pytest.raises(ValueError):
    tok.bin_id(1000)
  with pytest.raises(ValueError):
    tok.bin_id(-1)
  with pytest.raises(ValueError):
    tok.id_to_token(tok.vocab_size)


@pytest.mark.parametrize("multiple", [1, 8, 128, 1000])
def test_padded_vocab_size(tok, multiple):
  padded = tok.padded_vocab_size(multiple)
  assert padded % multiple == 0
  assert tok.vocab_size <= padded < tok.vocab_size + multiple


@pytest.mark.parametrize("task,field", [("sample_summarization", "document"),
                                        ("sample_summarization", "summary"),
                                        ("sample_captioning", "caption"),
                                        ("sample_vqa", "question"),
                                        ("sample_qa", "context")])
def test_round_trip_on_real_biomedical_text(tok, task, field):
  texts = _sample_texts(task, field)
  assert texts
  for text in texts:
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.unk_id not in ids and tok.eos_id not in ids and tok.pad_id not in ids
    assert all(0 <= i < tok.sp_size for i in ids)


def test_pubmed_text_compresses(tok):
  text = " ".join(_sample_texts("sample_summarization", "document"))
  assert len(text) / len(tok.encode(text)) > 3.5  # characters a token; bytes would be ~1


@pytest.mark.parametrize("word", ["cardiomegaly", "pneumothorax", "atelectasis", "effusion",
                                  "hippocampus", "radiograph", "echocardiogram"])
def test_clinical_words_stay_whole(tok, word):
  assert len(tok.encode(word)) <= 2


@pytest.mark.parametrize("text", [
    "heart 🫀 brain 🧠 👩🏽‍⚕️",                           # emoji, skin tone, ZWJ sequence
    "心脏肥大 心臓肥大 심장비대",                          # CJK, Hangul
    "e\u0301 a\u0308\u0323 \u0915\u094d\u0937",        # combining marks, Devanagari conjunct
    "tab\there\nnewline\r\x00\x07\x1b[0m\u200b\ufeff",  # control and zero-width characters
    "µg vs μg, ﬁbrosis, Ａ１, ①",                        # compatibility forms kept as written
    "  two leading, trailing  ",
])
def test_round_trip_arbitrary_unicode_with_byte_fallback(tok, text):
  ids = tok.encode(text)
  assert tok.decode(ids) == text
  assert tok.unk_id not in ids


def test_unseen_characters_fall_back_to_bytes(tok):
  ids = tok.encode("\U0001fae8")  # a 2023 emoji no 2021 abstract uses: 4 UTF-8 bytes
  assert len(_byte_piece_ids(tok, ids)) == 4
  assert tok.decode(ids) == "\U0001fae8"


def test_location_bins_and_mask_map_to_their_ids(tok):
  text = "<mask> lesion at <bin_17> <bin_230> <bin_80> <bin_412>"
  ids = tok.encode(text)
  assert ids[0] == tok.mask_id
  assert ids[-4:] == [tok.bin_id(17), tok.bin_id(230), tok.bin_id(80), tok.bin_id(412)]
  assert tok.encode("<bin_0><bin_999>") == [tok.bin_id(0), tok.bin_id(999)]
  assert tok.decode(ids) == text
  assert tok.decode([tok.bin_id(3), tok.bin_id(4)]) == "<bin_3> <bin_4>"


def test_specials_are_whitespace_delimited_words(tok):
  assert tok.encode("a <bin_1> b") == tok.encode("a<bin_1>b")
  assert tok.decode(tok.encode("a<bin_1>b")) == "a <bin_1> b"
  assert tok.decode(tok.encode("<bin_1>  two spaces")) == "<bin_1>  two spaces"


@pytest.mark.parametrize("text", ["<bin_1000>", "<bin_017>", "<bin_-1>", "<bin_>", "<MASK>"])
def test_malformed_specials_are_plain_text(tok, text):
  ids = tok.encode(text)
  assert all(i < tok.sp_size for i in ids)
  assert tok.decode(ids) == text


def test_decode_stops_at_eos_and_drops_padding(tok):
  words = tok.encode("small pleural effusion")
  assert tok.decode([0] + words[:1] + [0] + words[1:] + [1] + tok.encode("ignored")) == (
      "small pleural effusion")
  assert tok.decode([1] + words) == ""
  # Ids past the vocabulary (padding rows of the embedding table) are dropped.
  assert tok.decode(words + [tok.padded_vocab_size() - 1]) == "small pleural effusion"


def test_decode_accepts_numpy_arrays(tok):
  np = pytest.importorskip("numpy")
  ids = tok.encode("axial slice <bin_5>") + [1, 0, 0]
  assert tok.decode(np.asarray(ids, np.int32)) == "axial slice <bin_5>"


def test_pickle_keeps_model_bytes_and_rebuilds_lazily(tok):
  text = "Cardiomegaly <bin_12> 🫀"
  fresh = Tokenizer()
  clone = pickle.loads(pickle.dumps(fresh))  # before first use
  assert clone._sp is None  # pylint: disable=protected-access
  assert clone.encode(text) == tok.encode(text)
  used = pickle.loads(pickle.dumps(clone))  # after use: the processor is not pickled
  assert used._sp is None  # pylint: disable=protected-access
  assert used.decode(used.encode(text)) == text
  assert used.vocab_size == tok.vocab_size


def _train_tiny_model(tmp_path, **ids):
  corpus = tmp_path / "corpus.txt"
  corpus.write_text("\n".join(["the chest radiograph shows cardiomegaly",
                               "no pleural effusion or pneumothorax",
                               "axial T1-weighted MRI of the brain"] * 20))
  prefix = str(tmp_path / "tiny")
  spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=prefix, vocab_size=40,
                                 model_type="unigram", minloglevel=2, num_threads=1, **ids)
  return prefix + ".model"


def test_other_t5_style_model_and_bin_count(tmp_path):
  path = _train_tiny_model(tmp_path, pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
  tok = Tokenizer(path, num_location_bins=10)
  assert tok.sp_size == 40 and tok.vocab_size == 40 + 10 + 1
  assert tok.encode("<bin_9> <bin_10>")[0] == tok.bin_id(9) == 49
  assert tok.mask_id == 50
  assert tok.decode(tok.encode("no pleural effusion")) == "no pleural effusion"


def test_model_with_other_special_ids_is_rejected(tmp_path):
  path = _train_tiny_model(tmp_path)  # SentencePiece defaults: unk=0, bos=1, eos=2, no pad
  with pytest.raises(ValueError, match="pad_id=0 eos_id=1 unk_id=2"):
    Tokenizer(path)


def test_missing_model_file_says_how_to_rebuild(tmp_path):
  with pytest.raises(FileNotFoundError, match="train_tokenizer.py"):
    Tokenizer(str(tmp_path / "absent.model"))
