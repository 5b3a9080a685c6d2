"""GPT-2 byte-level BPE in OFA / BiomedGPT's ids (59,457 with the released files).

The BPE itself is Hugging Face `tokenizers` (byte-level pre-tokenizer with GPT-2's regex, BPE
model, byte-level decoder); this module only maps its ids to OFA's:

  <s> <pad> </s> <unk>     0, 1, 2, 3         (<s> prefixes the encoder, starts the decoder)
  dict.txt entries         4 .. 4 + n - 1     in dict.txt order (50,260 entries: 4 .. 50,263)
  <mask>                   4 + n              (50,264)
  <code_0> .. <code_8191>  the next 8,192     (50,265 .. 58,456)
  <bin_0> .. <bin_999>     the next 1,000     (58,457 .. 59,456)

Files, as releases ship them (`find_files`):
  * fairseq: encoder.json (BPE token -> GPT-2 id) + vocab.bpe (merges) + dict.txt (one line
    per entry: a GPT-2 id as a string and a count, in fairseq order). A GPT-2 id that
    dict.txt lacks encodes as <unk>, as fairseq's Dictionary does; a dict entry that is not
    a GPT-2 id (fairseq's "madeupword0000" fillers) is a special word.
  * Hugging Face: vocab.json + merges.txt, the same formats. If dict.txt is beside them,
    vocab.json holds GPT-2 ids and is mapped through it as above. Without dict.txt, vocab.json
    must already hold OFA's ids: that is how the HF OFA release and HF's `OFATokenizer` (a
    `BartTokenizer` over BART's vocab.json, where fairseq's dict mapping is already applied:
    <s> <pad> </s> <unk> = 0..3, <mask> last) order them; `OFATokenizer` then adds <code_i>
    and <bin_i> after <mask>, as here. Entries past <mask> in such a vocab.json must be
    exactly those codes and bins. A vocab.json in OFA's ids ignores a dict.txt beside it.
Checkpoints keep vocab.json + merges.txt, plus dict.txt when the ids come through it.

BiomedGPT encodes every text field with a leading space (" what does the image describe?"),
so with `add_prefix_space` (the default) each plain-text run is encoded as " " + run, as
`GPT2Tokenizer(add_prefix_space=True)` does, and decoding drops that one space again: the
round trip is exact and the first word is the "Ġword" token the released model saw.
(`BartTokenizer` skips the added space before text that already starts with whitespace; it is
added always here, so that decoding knows to remove it.)
"""

import json
import os

from etils import epath
import numpy as np
import tokenizers
from tokenizers import decoders, models, pre_tokenizers

from biomed_jax.data.tokenizer import BaseTokenizer

FILE_SETS = (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe"))
FILE_SETS_HELP = ("vocab.json + merges.txt [+ dict.txt]", "encoder.json + vocab.bpe + dict.txt")
DICT_FILE = "dict.txt"
SAVED_VOCAB, SAVED_MERGES = FILE_SETS[0]
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
BOS_ID, PAD_ID, EOS_ID, UNK_ID = range(4)
NUM_CODES = 8192
NUM_BINS = 1000


def find_files(folder: str) -> tuple[str, str, str | None] | None:
  """(vocab, merges, dict.txt or None) in `folder`, or None when it holds no BPE files."""
  root = epath.Path(folder)
  dict_path = root / DICT_FILE
  for vocab, merges in FILE_SETS:
    if (root / vocab).exists() and (root / merges).exists():
      return (os.path.join(folder, vocab), os.path.join(folder, merges),
              os.path.join(folder, DICT_FILE) if dict_path.exists() else None)
  return None


def _read_merges(path: str) -> list[tuple[str, str]]:
  merges = []
  for number, line in enumerate(epath.Path(path).read_text(encoding="utf-8").split("\n"), 1):
    if not line or line.startswith("#version"):
      continue
    parts = line.split(" ")
    if len(parts) != 2:
      raise ValueError(f"{path} line {number}: expected two BPE symbols, got {line!r}")
    merges.append((parts[0], parts[1]))
  return merges


def _read_dict(path: str) -> list[str]:
  """fairseq Dictionary.add_from_file: "<symbol> <count> [#fairseq:overwrite]" per line."""
  symbols = []
  for number, line in enumerate(epath.Path(path).read_text(encoding="utf-8").splitlines(), 1):
    line = line.rstrip()
    if line.endswith(" #fairseq:overwrite"):
      line = line[:-len(" #fairseq:overwrite")]
    symbol, sep, count = line.rpartition(" ")
    if not sep or not count.isdigit():
      raise ValueError(f"{path} line {number}: expected '<symbol> <count>', got {line!r}")
    symbols.append(symbol)
  return symbols


def _in_ofa_order(vocab: dict[str, int]) -> bool:
  return all(vocab.get(token) == i for i, token in enumerate(SPECIALS)) and "<mask>" in vocab


class OfaTokenizer(BaseTokenizer):
  """GPT-2 byte-level BPE (HF tokenizers) mapped to OFA's 59,457 ids; see the module doc."""
  kind = "ofa_bpe"
  num_codes = NUM_CODES
  num_location_bins = NUM_BINS
  _processor_attr = "_bpe"

  def __init__(self, vocab_path: str, merges_path: str, dict_path: str | None = None, *,
               add_prefix_space: bool = True):
    try:
      vocab = json.loads(epath.Path(vocab_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
      raise ValueError(f"{vocab_path}: not a BPE vocabulary (JSON token -> id): {e}") from e
    self._vocab, self._merges = vocab, _read_merges(merges_path)
    self.add_prefix_space = add_prefix_space
    self.pad_id, self.eos_id, self.bos_id, self.unk_id = PAD_ID, EOS_ID, BOS_ID, UNK_ID
    names = dict(enumerate(SPECIALS))  # OFA id -> special word, for the non-BPE entries
    if _in_ofa_order(vocab):
      dict_path = None
      self.mask_id = vocab["<mask>"]
      base = {t: i for t, i in vocab.items() if i <= self.mask_id}
      if sorted(base.values()) != list(range(self.mask_id + 1)):
        raise ValueError(f"{vocab_path}: ids 0..{self.mask_id} (<mask>) are not each used "
                         "exactly once")
      size = max(vocab.values()) + 1
      bpe_to_ofa = np.arange(size, dtype=np.int64)
      ofa_to_bpe = np.where(np.arange(self.mask_id + 1) < len(SPECIALS), -1,
                            np.arange(self.mask_id + 1))
      ofa_to_bpe[self.mask_id] = -1
    else:
      if dict_path is None:
        raise ValueError(
            f"{vocab_path} holds GPT-2 ids (no <s> <pad> </s> <unk> at 0-3 and no <mask>): "
            f"the fairseq {DICT_FILE} that maps them to OFA's ids must be beside it")
      symbols = _read_dict(dict_path)
      self.mask_id = len(SPECIALS) + len(symbols)
      bpe_to_ofa = np.full(max(vocab.values()) + 1, UNK_ID, np.int64)
      ofa_to_bpe = np.full(self.mask_id + 1, -1, np.int64)
      for position, symbol in enumerate(symbols):
        ofa_id = len(SPECIALS) + position
        if symbol.isdigit() and int(symbol) < bpe_to_ofa.size:
          bpe_to_ofa[int(symbol)] = ofa_id
          ofa_to_bpe[ofa_id] = int(symbol)
        else:
          names[ofa_id] = symbol
    self.vocab_path, self.merges_path, self.dict_path = vocab_path, merges_path, dict_path
    self._bpe_to_ofa, self._ofa_to_bpe = bpe_to_ofa, ofa_to_bpe
    self.code_offset = self.mask_id + 1
    self.bin_offset = self.code_offset + NUM_CODES
    self.vocab_size = self.bin_offset + NUM_BINS
    self._special_to_id = {"<mask>": self.mask_id}
    self._special_to_id.update({f"<code_{i}>": self.code_offset + i for i in range(NUM_CODES)})
    self._special_to_id.update({f"<bin_{i}>": self.bin_offset + i for i in range(NUM_BINS)})
    extra = {t: i for t, i in vocab.items() if i > self.mask_id}
    wrong = [(t, i) for t, i in extra.items() if self._special_to_id.get(t) != i]
    if dict_path is None and wrong:
      raise ValueError(f"{vocab_path}: entry {wrong[0]} past <mask> is not OFA's code/bin "
                       f"layout (<code_0> = {self.code_offset}, <bin_0> = {self.bin_offset})")
    self._id_to_special = {**names, **{i: t for t, i in self._special_to_id.items()}}
    self._bpe = None
    self._processor()  # bad merges fail here, not in a worker process

  @classmethod
  def from_folder(cls, folder: str, **kwargs) -> "OfaTokenizer":
    found = find_files(folder)
    if found is None:
      raise FileNotFoundError(f"{folder} holds no BPE files ({' or '.join(FILE_SETS_HELP)})")
    return cls(*found, **kwargs)

  @property
  def files(self) -> dict[str, str]:
    out = {SAVED_VOCAB: self.vocab_path, SAVED_MERGES: self.merges_path}
    if self.dict_path is not None:
      out[DICT_FILE] = self.dict_path
    return out

  def code_id(self, i: int) -> int:
    """The id of image code <code_i>."""
    if not 0 <= i < NUM_CODES:
      raise ValueError(f"image code {i} outside [0, {NUM_CODES})")
    return self.code_offset + i

  def _processor(self) -> tokenizers.Tokenizer:
    if self._bpe is None:
      bpe = tokenizers.Tokenizer(models.BPE(vocab=self._vocab, merges=self._merges))
      bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
      bpe.decoder = decoders.ByteLevel()
      self._bpe = bpe
    return self._bpe

  def _is_plain(self, token_id: int) -> bool:
    return 0 <= token_id < self._ofa_to_bpe.size and self._ofa_to_bpe[token_id] >= 0

  def _plain_token(self, token_id: int) -> str:
    return self._processor().id_to_token(int(self._ofa_to_bpe[token_id]))

  def _encode_plain(self, text: str) -> list[int]:
    if self.add_prefix_space:
      text = " " + text
    ids = self._processor().encode(text, add_special_tokens=False).ids
    return self._bpe_to_ofa[np.asarray(ids, np.int64)].tolist()

  def _decode_plain(self, ids: list[int]) -> str:
    bpe_ids = self._ofa_to_bpe[np.asarray(ids, np.int64)].tolist()
    text = self._processor().decode(bpe_ids, skip_special_tokens=False)
    if self.add_prefix_space and text.startswith(" "):
      text = text[1:]
    return text

  def __repr__(self) -> str:
    return (f"OfaTokenizer({self.vocab_path!r}, dict={self.dict_path!r}, "
            f"vocab_size={self.vocab_size})")
