"""biomed_jax.predict with OFA's vocabulary and ids: a pretrained folder carrying vocab.json +
merges.txt + dict.txt, answers equal to decode on tokens built by hand (<s> prompt </s>, pad
1), the decoder prompt forced and stripped, and a tokenizer whose ids differ from the model's
refused with both named."""

import os
import sys

import flax.linen as nn
import jax
import numpy as np
import pytest

from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.decoding import CandidateTrie, decode
from biomed_jax.model import EncoderDecoder, model_config, save_pretrained
from biomed_jax.predict import PredictError, Predictor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
from bpe_fixtures import make_bpe_files  # pylint: disable=g-import-not-at-top,wrong-import-position

PROMPT = "Is there a pleural effusion in the left lung?"
SOURCE_LEN = 32  # predict's default max_source_len is 128; the folder records none


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  root = tmp_path_factory.mktemp("ofa")
  files = make_bpe_files(root)
  tok = tokenizer_lib.load_tokenizer(str(files["fairseq"]))
  cfg = model_config("t5_tiny", vocab_size=tok.padded_vocab_size(), image_size=32,
                     dropout_rate=0.0, tie_embeddings=False, pad_id=1, eos_id=2, bos_id=0)
  model = EncoderDecoder(cfg)
  tokens = np.zeros((1, 8), np.int32)
  variables = nn.meta.unbox(jax.jit(model.init)(jax.random.key(2, impl="unsafe_rbg"), tokens,
                                                tokens))
  out = root / "pretrained"
  save_pretrained(str(out), cfg, variables)
  assert tokenizer_lib.save_tokenizer(tok, str(out)) == ["dict.txt", "merges.txt", "vocab.json"]
  return {"dir": str(out), "model": model, "variables": variables, "tok": tok,
          "files": files}


def _encoder(tok, prompt, length=SOURCE_LEN):
  ids = [0] + tok.encode(prompt) + [2]
  return np.array([ids + [1] * (length - len(ids))], np.int32)


def test_answers_equal_decode_in_ofa_ids(folder):
  predictor = Predictor.load(folder["dir"], max_source_len=SOURCE_LEN)
  tok = predictor.tokenizer
  assert isinstance(tok, tokenizer_lib.BaseTokenizer) and tok.kind == "ofa_bpe"
  enc = _encoder(tok, PROMPT)
  np.testing.assert_array_equal(predictor.encode_prompt(PROMPT), enc[0])
  free = decode(folder["model"], folder["variables"], enc, max_length=6)
  assert predictor.answer(PROMPT, max_length=6) == tok.decode(np.asarray(free.tokens)[0])
  candidates = ["no effusion", "yes", "right upper lobe"]
  trie = CandidateTrie.from_token_lists([tok.encode(c) for c in candidates], 2, pad_id=1)
  best = decode(folder["model"], folder["variables"], enc, max_length=trie.max_length,
                constraint=trie)
  expected = candidates[trie.index_of(np.asarray(best.tokens))[0]]
  assert predictor.answer(PROMPT, candidates=candidates) == expected


def test_decoder_prompt_is_forced_and_stripped(folder):
  base = Predictor.load(folder["dir"], max_source_len=SOURCE_LEN)
  prompted = Predictor(base.model_config, base.variables, base.tokenizer,
                       max_source_len=SOURCE_LEN, decoder_prompt="prev_output")
  enc = _encoder(base.tokenizer, PROMPT)
  got = decode(folder["model"], folder["variables"], enc, max_length=6,
               decoder_prompt="prev_output")
  assert prompted.answer(PROMPT, max_length=6) == base.tokenizer.decode(
      np.asarray(got.tokens)[0])


def test_tokenizer_with_other_ids_is_refused(folder):
  with pytest.raises(PredictError, match=r"ids \{'pad_id': 0, 'eos_id': 1, 'bos_id': 0\} "
                     r"differ from the model config's \{'pad_id': 1, 'eos_id': 2"):
    Predictor.load(folder["dir"], tokenizer=tokenizer_lib.DEFAULT_MODEL)
  with pytest.raises(PredictError, match="absent does not exist"):
    Predictor.load(folder["dir"], tokenizer=os.path.join(folder["dir"], "absent"))
