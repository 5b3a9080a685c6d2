"""OFA's vocabulary: ids equal transformers' GPT-2 / BART tokenizers followed by the dict.txt
mapping, on a byte-level BPE trained here; exact round trips; <mask>/<code_i>/<bin_i> ids as
OFA lays them out; the factory and the files a checkpoint carries."""

import pickle

import numpy as np
import pytest
import tokenizers
import transformers

from biomed_jax.data import ofa_tokenizer
from biomed_jax.data import tokenizer as tokenizer_lib

from bpe_fixtures import gpt2_tokens, make_bpe_files  # pylint: disable=g-bad-import-order

TEXTS = [
    "what does the image describe?",
    "Is there a pleural effusion in the left lung?",
    "Cardiomegaly 12.5 cm, they're 3x bigger—isn't it? (ok) [x] {y} #1 @2",
    "heart 🫀 brain 🧠 👩🏽‍⚕️ 心脏肥大 e\u0301 µg ﬁbrosis",
    "tab\there\nnewline\r\n  two  spaces   three",
    "  leading and trailing  ",
    " one leading",
    "zzzqqq unseen-words xylophone",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  return make_bpe_files(tmp_path_factory.mktemp("bpe"))


def _dict_ids(gpt2_ids, order):
  position = {g: n for n, g in enumerate(order)}
  return [4 + position[g] for g in gpt2_ids]


@pytest.mark.parametrize("text", TEXTS)
def test_fairseq_files_equal_gpt2_tokenizer_then_dict(files, text):
  ours = tokenizer_lib.load_tokenizer(str(files["fairseq"]))
  oracle = transformers.GPT2Tokenizer(str(files["fairseq"] / "encoder.json"),
                                      str(files["fairseq"] / "vocab.bpe"), add_prefix_space=True)
  gpt2_ids = oracle.encode(text, add_special_tokens=False)
  assert ours.encode(text) == _dict_ids(gpt2_ids, files["order"])
  assert ours.decode(ours.encode(text)) == text


@pytest.mark.parametrize("text", TEXTS)
def test_hf_files_equal_bart_tokenizer(files, text):
  ours = tokenizer_lib.load_tokenizer(str(files["hf"]))
  oracle = transformers.BartTokenizer(str(files["hf"] / "vocab.json"),
                                      str(files["hf"] / "merges.txt"), add_prefix_space=True)
  # BART adds the prefix space only before text that does not start with whitespace; we
  # always add it (as GPT2Tokenizer does), so that decoding can remove it again.
  bart_input = " " + text if text[:1].isspace() else text
  assert ours.encode(text) == oracle.encode(bart_input, add_special_tokens=False)
  # BART's encoder input is <s> text </s>: OFA's layout, with our ids.
  assert oracle.encode(bart_input) == [ours.bos_id] + ours.encode(text) + [ours.eos_id]
  assert ours.decode(ours.encode(text)) == text
  fairseq = tokenizer_lib.load_tokenizer(str(files["fairseq"]))
  assert fairseq.encode(text) == ours.encode(text)


def test_without_prefix_space_equals_plain_gpt2(files):
  folder = files["fairseq"]
  ours = ofa_tokenizer.OfaTokenizer(str(folder / "encoder.json"), str(folder / "vocab.bpe"),
                                    str(folder / "dict.txt"), add_prefix_space=False)
  oracle = transformers.GPT2Tokenizer(str(folder / "encoder.json"), str(folder / "vocab.bpe"))
  for text in TEXTS:
    assert ours.encode(text) == _dict_ids(oracle.encode(text), files["order"])
    assert ours.decode(ours.encode(text)) == text


def test_special_ids_match_bart_plus_ofa_added_tokens(files):
  ours = tokenizer_lib.load_tokenizer(str(files["hf"]))
  n = len(files["order"]) + 1  # dict entries incl. the madeupword filler
  assert (ours.bos_id, ours.pad_id, ours.eos_id, ours.unk_id) == (0, 1, 2, 3)
  assert ours.decoder_start_id == 0
  assert ours.special_ids == {"pad_id": 1, "eos_id": 2, "bos_id": 0}
  assert ours.mask_id == 4 + n
  assert ours.vocab_size == 4 + n + 1 + 8192 + 1000
  # HF's OFATokenizer: a BartTokenizer that adds <code_i> then <bin_i>.
  oracle = transformers.BartTokenizer(str(files["hf"] / "vocab.json"),
                                      str(files["hf"] / "merges.txt"))
  oracle.add_tokens([f"<code_{i}>" for i in range(8192)])
  oracle.add_tokens([f"<bin_{i}>" for i in range(1000)])
  assert oracle.mask_token_id == ours.mask_id
  assert len(oracle) == ours.vocab_size
  for i in (0, 1, 17, 999):
    assert ours.bin_id(i) == oracle.convert_tokens_to_ids(f"<bin_{i}>")
  for i in (0, 5, 8191):
    assert ours.code_id(i) == oracle.convert_tokens_to_ids(f"<code_{i}>")
  with pytest.raises(ValueError):
    ours.bin_id(1000)
  with pytest.raises(ValueError):
    ours.code_id(8192)


def test_full_size_dict_gives_ofa_ids(files, tmp_path):
  """A dict.txt of the released size (50,260 lines) puts the specials where ofa.md says."""
  vocab_size = len(files["vocab"])
  lines = [f"{g} 1" for g in files["order"]] + [f"{g} 1" for g in range(vocab_size, 50257)]
  lines += [f"madeupword000{i} 0" for i in range(3)]
  assert len(lines) == 50_260
  (tmp_path / "dict.txt").write_text("\n".join(lines) + "\n")
  for name in ("encoder.json", "vocab.bpe"):
    (tmp_path / name).write_bytes((files["fairseq"] / name).read_bytes())
  tok = tokenizer_lib.load_tokenizer(str(tmp_path))
  assert tok.mask_id == 50_264
  assert (tok.code_id(0), tok.code_id(8191)) == (50_265, 58_456)
  assert (tok.bin_id(0), tok.bin_id(999)) == (58_457, 59_456)
  assert tok.vocab_size == 59_457
  assert tok.encode("<mask> region <bin_17> <code_3>") == (
      [50_264] + tok.encode("region") + [58_457 + 17, 50_265 + 3])
  assert tok.id_to_token(50_263) == "madeupword0002"


def test_specials_are_words_and_decode_rules(files):
  tok = tokenizer_lib.load_tokenizer(str(files["hf"]))
  text = "<mask> lesion at <bin_17> <bin_230> <code_5> <bin_80>"
  ids = tok.encode(text)
  assert ids[0] == tok.mask_id
  assert ids[-4:] == [tok.bin_id(17), tok.bin_id(230), tok.code_id(5), tok.bin_id(80)]
  assert [i for i in ids if i >= tok.mask_id] == [tok.mask_id, tok.bin_id(17), tok.bin_id(230),
                                                   tok.code_id(5), tok.bin_id(80)]
  assert tok.decode(ids) == text
  assert tok.encode("a <bin_1> b") == tok.encode("a<bin_1>b")
  assert tok.decode(tok.encode("<bin_1>  two spaces")) == "<bin_1>  two spaces"
  for plain in ("<bin_1000>", "<bin_017>", "<code_8192>", "<MASK>", "<s>", "</s>"):
    assert all(4 <= i < tok.mask_id for i in tok.encode(plain))
    assert tok.decode(tok.encode(plain)) == plain
  words = tok.encode("small pleural effusion")
  assert tok.decode([0] + words[:1] + [1] + words[1:] + [2] + tok.encode("ignored")) == (
      "small pleural effusion")
  assert tok.decode(words + [tok.padded_vocab_size() - 1]) == "small pleural effusion"
  assert tok.decode(np.asarray(words + [2, 1, 1], np.int32)) == "small pleural effusion"
  assert tok.decode([3]) == "<unk>"
  assert tok.id_to_token(1) == "<pad>" and tok.id_to_token(tok.bin_id(3)) == "<bin_3>"


def test_gpt2_id_missing_from_dict_is_unk_and_filler_decodes_as_word(files, tmp_path):
  order = files["order"]  # dict.txt without its first GPT-2 id
  lines = [f"{g} 1" for g in order[1:]] + ["madeupword0000 0"]
  (tmp_path / "dict.txt").write_text("\n".join(lines) + "\n")
  for name in ("encoder.json", "vocab.bpe"):
    (tmp_path / name).write_bytes((files["fairseq"] / name).read_bytes())
  tok = tokenizer_lib.load_tokenizer(str(tmp_path))
  token = gpt2_tokens(files["vocab"])[order[0]]
  text = bytes(tokenizers.decoders.ByteLevel().decode([token]), "utf-8").decode()
  oracle = transformers.GPT2Tokenizer(str(tmp_path / "encoder.json"),
                                      str(tmp_path / "vocab.bpe"), add_prefix_space=True)
  gpt2 = oracle.encode(text, add_special_tokens=False)
  expected = [3 if g == order[0] else 4 + order[1:].index(g) for g in gpt2]
  assert tok.encode(text) == expected
  assert tok.decode([tok.mask_id - 1]) == "madeupword0000"


def test_pickle_rebuilds_lazily(files):
  tok = tokenizer_lib.load_tokenizer(str(files["fairseq"]))
  clone = pickle.loads(pickle.dumps(tok))
  assert clone._bpe is None  # pylint: disable=protected-access
  for text in TEXTS:
    assert clone.encode(text) == tok.encode(text)
  assert pickle.loads(pickle.dumps(clone)).decode(tok.encode(TEXTS[2])) == TEXTS[2]


@pytest.mark.parametrize("layout", ["fairseq", "hf"])
def test_saved_files_rebuild_the_same_tokenizer(files, tmp_path, layout):
  tok = tokenizer_lib.load_tokenizer(str(files[layout]))
  names = tokenizer_lib.save_tokenizer(tok, str(tmp_path / "ckpt"))
  assert names == (["dict.txt", "merges.txt", "vocab.json"] if layout == "fairseq"
                   else ["merges.txt", "vocab.json"])
  again = tokenizer_lib.load_tokenizer(str(tmp_path / "ckpt"))
  assert isinstance(again, ofa_tokenizer.OfaTokenizer)
  assert again.vocab_size == tok.vocab_size
  assert [again.encode(t) for t in TEXTS] == [tok.encode(t) for t in TEXTS]


def test_factory_picks_sentencepiece_for_model_files_and_old_layout(tmp_path):
  shipped = tokenizer_lib.load_tokenizer("")
  assert isinstance(shipped, tokenizer_lib.Tokenizer) and shipped.bos_id is None
  assert shipped.special_ids == {"pad_id": 0, "eos_id": 1, "bos_id": 0}
  assert tokenizer_lib.load_tokenizer(tokenizer_lib.DEFAULT_MODEL).vocab_size == (
      shipped.vocab_size)
  assert tokenizer_lib.save_tokenizer(shipped, str(tmp_path)) == ["tokenizer.model"]
  old_layout = tokenizer_lib.load_tokenizer(str(tmp_path))
  assert old_layout.encode("pleural effusion") == shipped.encode("pleural effusion")


def test_factory_errors_name_the_path_and_flag(files, tmp_path):
  missing = str(tmp_path / "absent")
  with pytest.raises(FileNotFoundError, match=f"--config.data.tokenizer={missing}: no such"):
    tokenizer_lib.load_tokenizer(missing)
  with pytest.raises(FileNotFoundError, match="--tokenizer=.*vocab.json"):
    tokenizer_lib.load_tokenizer(str(tmp_path), flag="--tokenizer")
  with pytest.raises(ValueError, match="give the folder"):
    tokenizer_lib.load_tokenizer(str(files["hf"] / "vocab.json"))
  no_dict = tmp_path / "no_dict"
  no_dict.mkdir()
  for name in ("encoder.json", "vocab.bpe"):
    (no_dict / name).write_bytes((files["fairseq"] / name).read_bytes())
  with pytest.raises(ValueError, match="dict.txt"):
    tokenizer_lib.load_tokenizer(str(no_dict))
  both = tmp_path / "both"
  both.mkdir()
  for name in ("vocab.json", "merges.txt"):
    (both / name).write_bytes((files["hf"] / name).read_bytes())
  (both / "tokenizer.model").write_bytes(open(tokenizer_lib.DEFAULT_MODEL, "rb").read())
  with pytest.raises(ValueError, match="both"):
    tokenizer_lib.load_tokenizer(str(both))
