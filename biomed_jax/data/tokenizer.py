"""The unified vocabulary: SentencePiece pieces, then location bins, then extra specials.

    tok = Tokenizer()                     # the shipped PubMed unigram model (32,000 pieces)
    ids = tok.encode("region <bin_17> <bin_230> <bin_80> <bin_412>")
    tok.decode(ids + [tok.eos_id, 0, 0])  # -> "region <bin_17> <bin_230> <bin_80> <bin_412>"

Id layout (vocab_size = sp_size + num_location_bins + len(EXTRA_SPECIALS)):
  [0, sp_size)                         SentencePiece pieces; T5 convention pad=0, eos=1, unk=2,
                                       no bos (a T5 `spiece.model` works as is)
  [sp_size, sp_size + bins)            location tokens <bin_0> .. <bin_{bins-1}>
  [sp_size + bins, vocab_size)         EXTRA_SPECIALS ("<mask>")

Special tokens are whitespace-delimited words: `encode` drops one space on each side of a
special and `decode` puts one back, so "<bin_1> <bin_2> lesion" round-trips exactly and
"a<bin_1>" decodes as "a <bin_1>". Text without specials round-trips exactly with the shipped
model (identity normalisation, whitespace kept, unknown characters fall back to UTF-8 bytes).
A token written in any other form ("<bin_017>", "<bin_5000>" with 1,000 bins) is plain text.

The tokenizer pickles as the serialized model bytes (Grain worker processes pickle it) and
rebuilds its SentencePiece processor lazily on first use.
"""

from collections.abc import Iterable
import os
import re

import sentencepiece as spm

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "assets", "tokenizer", "pubmed_unigram_32k.model")
EXTRA_SPECIALS = ("<mask>",)
_SPECIAL_PATTERN = re.compile(r"<bin_\d+>|<mask>")
# Ids the batch layout relies on (decoder start and padding = 0, end of sequence = 1).
_REQUIRED_IDS = {"pad": 0, "eos": 1, "unk": 2}


class Tokenizer:
  """SentencePiece + location bins + extra specials, with T5 pad/eos/unk ids."""

  def __init__(self, spm_path: str | None = None, num_location_bins: int = 1000):
    path = spm_path or DEFAULT_MODEL
    if not os.path.exists(path):
      raise FileNotFoundError(
          f"SentencePiece model not found: {path}. The default model ships in the package "
          "(biomed_jax/assets/tokenizer/); rebuild it with `python scripts/train_tokenizer.py`.")
    if num_location_bins < 0:
      raise ValueError(f"num_location_bins must be >= 0, got {num_location_bins}")
    with open(path, "rb") as f:
      self._model_proto = f.read()
    self.spm_path = path
    self.num_location_bins = num_location_bins
    self._sp = None
    sp = self._processor()
    ids = {"pad": sp.pad_id(), "eos": sp.eos_id(), "unk": sp.unk_id()}
    if ids != _REQUIRED_IDS:
      raise ValueError(f"{path}: SentencePiece ids {ids} differ from the T5 convention "
                       f"{_REQUIRED_IDS} the batch layout relies on; train the model with "
                       "pad_id=0 eos_id=1 unk_id=2 bos_id=-1.")
    self.pad_id, self.eos_id, self.unk_id = ids["pad"], ids["eos"], ids["unk"]
    self.sp_size = sp.get_piece_size()
    self.vocab_size = self.sp_size + num_location_bins + len(EXTRA_SPECIALS)
    self.mask_id = self.sp_size + num_location_bins + EXTRA_SPECIALS.index("<mask>")
    self._special_to_id = {f"<bin_{i}>": self.sp_size + i for i in range(num_location_bins)}
    for offset, token in enumerate(EXTRA_SPECIALS):
      self._special_to_id[token] = self.sp_size + num_location_bins + offset
    self._id_to_special = {i: token for token, i in self._special_to_id.items()}

  # -- pickling: keep the model bytes, drop the (unpicklable) processor -------------------

  def __getstate__(self):
    state = self.__dict__.copy()
    state["_sp"] = None
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)

  def _processor(self) -> spm.SentencePieceProcessor:
    if self._sp is None:
      self._sp = spm.SentencePieceProcessor(model_proto=self._model_proto)
    return self._sp

  # -- vocabulary ---------------------------------------------------------------------

  def padded_vocab_size(self, multiple: int = 128) -> int:
    """The vocabulary size rounded up to `multiple` (embedding tables shard evenly)."""
    if multiple < 1:
      raise ValueError(f"multiple must be >= 1, got {multiple}")
    return -(-self.vocab_size // multiple) * multiple

  def bin_id(self, i: int) -> int:
    """The id of location token <bin_i>."""
    if not 0 <= i < self.num_location_bins:
      raise ValueError(f"location bin {i} outside [0, {self.num_location_bins})")
    return self.sp_size + i

  def id_to_token(self, token_id: int) -> str:
    """The piece or special token an id stands for (for inspection and debugging)."""
    if 0 <= token_id < self.sp_size:
      return self._processor().id_to_piece(token_id)
    if token_id in self._id_to_special:
      return self._id_to_special[token_id]
    raise ValueError(f"id {token_id} outside the vocabulary [0, {self.vocab_size})")

  # -- text <-> ids -------------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    """Token ids of `text`, without EOS; special tokens map to their own ids."""
    sp = self._processor()
    ids: list[int] = []
    after_special = False
    position = 0
    for match in _SPECIAL_PATTERN.finditer(text):
      special_id = self._special_to_id.get(match.group())
      if special_id is None:  # e.g. <bin_5000>: plain text
        continue
      ids.extend(self._encode_plain(sp, text[position:match.start()], after_special,
                                    before_special=True))
      ids.append(special_id)
      after_special, position = True, match.end()
    ids.extend(self._encode_plain(sp, text[position:], after_special, before_special=False))
    return ids

  @staticmethod
  def _encode_plain(sp, text: str, after_special: bool, before_special: bool) -> list[int]:
    if after_special and text.startswith(" "):
      text = text[1:]
    if before_special and text.endswith(" "):
      text = text[:-1]
    return sp.encode(text, out_type=int) if text else []

  def decode(self, ids: Iterable[int]) -> str:
    """Text of `ids`: stops at the first EOS, drops PAD and ids outside the vocabulary."""
    sp = self._processor()
    words: list[str] = []  # decoded text runs and special tokens, joined by single spaces
    run: list[int] = []
    for token_id in ids:
      token_id = int(token_id)
      if token_id == self.eos_id:
        break
      if token_id == self.pad_id:
        continue
      if token_id < self.sp_size:
        run.append(token_id)
        continue
      special = self._id_to_special.get(token_id)
      if special is None:  # padding rows of the embedding table
        continue
      if run:
        words.append(sp.decode(run))
        run = []
      words.append(special)
    if run:
      words.append(sp.decode(run))
    return " ".join(w for w in words if w)

  def __repr__(self) -> str:
    return (f"Tokenizer({self.spm_path!r}, sp_size={self.sp_size}, "
            f"num_location_bins={self.num_location_bins}, vocab_size={self.vocab_size})")
