"""Tokenizers: one interface, two vocabularies, and the factory that picks one from a path.

  tok = load_tokenizer("")                   # the shipped PubMed SentencePiece model (T5 ids)
  tok = load_tokenizer("/ckpt/biomedgpt")    # vocab.json + merges.txt [+ dict.txt]: OFA's ids
  ids = tok.encode("region <bin_17> <bin_230> <bin_80> <bin_412>")
  tok.decode(ids + [tok.eos_id, tok.pad_id])  # -> "region <bin_17> <bin_230> <bin_80> <bin_412>"

Both implement `BaseTokenizer`: encode / decode, vocab_size, pad_id, eos_id, bos_id (None when
the vocabulary has none: the decoder then starts with pad, as T5 does), decoder_start_id,
unk_id, mask_id, bin_id(i), id_to_token, `files` (what a checkpoint copies, see
`save_tokenizer`) and pickling for Grain worker processes (the file bytes are kept, the
processor is rebuilt lazily on first use).

Special tokens (<bin_i>, <mask>, and <code_i> in the OFA vocabulary) are whitespace-delimited
words: `encode` drops one space on each side of a special and `decode` puts one back, so
"<bin_1> <bin_2> lesion" round-trips exactly and "a<bin_1>" decodes as "a <bin_1>". A token
written in any other form ("<bin_017>", "<bin_5000>" with 1,000 bins) is plain text. `decode`
stops at the first EOS and drops pad, bos and ids outside the vocabulary.

`load_tokenizer(path)`:
  ""                          the shipped SentencePiece model;
  a file (a `.model`)         SentencePiece (`Tokenizer` below);
  a folder with tokenizer.model                     SentencePiece (checkpoints, old layout);
  a folder with vocab.json + merges.txt (HF release) or encoder.json + vocab.bpe + dict.txt
  (fairseq release)           GPT-2 byte-level BPE in OFA's ids (biomed_jax.data.ofa_tokenizer).

SentencePiece id layout (vocab_size = sp_size + num_location_bins + len(EXTRA_SPECIALS)):
  [0, sp_size)                         SentencePiece pieces; T5 convention pad=0, eos=1, unk=2,
                                       no bos (a T5 `spiece.model` works as is)
  [sp_size, sp_size + bins)            location tokens <bin_0> .. <bin_{bins-1}>
  [sp_size + bins, vocab_size)         EXTRA_SPECIALS ("<mask>")
Text without specials round-trips exactly with the shipped model (identity normalisation,
whitespace kept, unknown characters fall back to UTF-8 bytes).
"""

import abc
from collections.abc import Iterable
import os
import re

from etils import epath
import sentencepiece as spm

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "assets", "tokenizer", "pubmed_unigram_32k.model")
# Fitted to the shipped sample mixture's training text (the demo's; assets/tokenizer/README).
SAMPLE_MODEL = os.path.join(os.path.dirname(DEFAULT_MODEL), "sample_unigram_4k.model")
SPM_FILE = "tokenizer.model"  # the SentencePiece model's name in checkpoints
EXTRA_SPECIALS = ("<mask>",)
_SPECIAL_PATTERN = re.compile(r"<bin_\d+>|<code_\d+>|<mask>")
# Ids the T5 batch layout relies on (decoder start and padding = 0, end of sequence = 1).
_REQUIRED_IDS = {"pad": 0, "eos": 1, "unk": 2}


class BaseTokenizer(abc.ABC):
  """Text <-> ids with special tokens as words. Subclasses set the attributes below in
  __init__ and implement the plain-text methods."""
  kind: str  # "sentencepiece" or "ofa_bpe"
  pad_id: int
  eos_id: int
  bos_id: int | None  # prefixes the encoder input and starts the decoder when set
  unk_id: int
  mask_id: int
  vocab_size: int
  num_location_bins: int
  _special_to_id: dict[str, int]
  _id_to_special: dict[int, str]

  @property
  def decoder_start_id(self) -> int:
    """The first decoder input: bos when the vocabulary has one, else pad (T5)."""
    return self.pad_id if self.bos_id is None else self.bos_id

  @property
  def special_ids(self) -> dict[str, int]:
    """The ids a model config must agree with: {"pad_id", "eos_id", "bos_id"} (bos_id is the
    decoder start, as biomed_jax.model.config.ModelConfig names it)."""
    return {"pad_id": self.pad_id, "eos_id": self.eos_id, "bos_id": self.decoder_start_id}

  @property
  @abc.abstractmethod
  def files(self) -> dict[str, str]:
    """{name in a checkpoint folder: the file it is copied from}."""

  @abc.abstractmethod
  def _encode_plain(self, text: str) -> list[int]:
    """Ids of text without specials (may be empty text)."""

  @abc.abstractmethod
  def _decode_plain(self, ids: list[int]) -> str:
    """Text of a run of ids for which _is_plain holds."""

  @abc.abstractmethod
  def _is_plain(self, token_id: int) -> bool:
    """Whether an id is an ordinary (non-special) token of the vocabulary."""

  @abc.abstractmethod
  def _plain_token(self, token_id: int) -> str:
    """The piece an ordinary id stands for (inspection)."""

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
    return self._special_to_id[f"<bin_{i}>"]

  def id_to_token(self, token_id: int) -> str:
    """The piece or special token an id stands for (for inspection and debugging)."""
    token_id = int(token_id)
    if token_id in self._id_to_special:
      return self._id_to_special[token_id]
    if 0 <= token_id < self.vocab_size:
      return self._plain_token(token_id)
    raise ValueError(f"id {token_id} outside the vocabulary [0, {self.vocab_size})")

  # -- text <-> ids -------------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    """Token ids of `text`, without bos or EOS; special tokens map to their own ids."""
    ids: list[int] = []
    after_special = False
    position = 0
    for match in _SPECIAL_PATTERN.finditer(text):
      special_id = self._special_to_id.get(match.group())
      if special_id is None:  # e.g. <bin_5000>: plain text
        continue
      ids.extend(self._plain_run(text[position:match.start()], after_special, True))
      ids.append(special_id)
      after_special, position = True, match.end()
    ids.extend(self._plain_run(text[position:], after_special, False))
    return ids

  def _plain_run(self, text: str, after_special: bool, before_special: bool) -> list[int]:
    if after_special and text.startswith(" "):
      text = text[1:]
    if before_special and text.endswith(" "):
      text = text[:-1]
    return self._encode_plain(text) if text else []

  def decode(self, ids: Iterable[int]) -> str:
    """Text of `ids`: stops at the first EOS, drops pad, bos and ids outside the vocabulary."""
    words: list[str] = []  # decoded text runs and special tokens, joined by single spaces
    run: list[int] = []
    for token_id in ids:
      token_id = int(token_id)
      if token_id == self.eos_id:
        break
      if token_id in (self.pad_id, self.bos_id):
        continue
      if self._is_plain(token_id):
        run.append(token_id)
        continue
      special = self._id_to_special.get(token_id)
      if special is None:  # padding rows of the embedding table
        continue
      if run:
        words.append(self._decode_plain(run))
        run = []
      words.append(special)
    if run:
      words.append(self._decode_plain(run))
    return " ".join(w for w in words if w)

  # -- pickling: keep the file bytes, drop the processor ------------------------------

  _processor_attr = "_processor_cache"  # the attribute holding the unpicklable processor

  def __getstate__(self):
    state = self.__dict__.copy()
    state[self._processor_attr] = None
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)


class Tokenizer(BaseTokenizer):
  """SentencePiece + location bins + extra specials, with T5 pad/eos/unk ids and no bos."""
  kind = "sentencepiece"
  bos_id = None
  _processor_attr = "_sp"

  def __init__(self, spm_path: str | None = None, num_location_bins: int = 1000):
    path = spm_path or DEFAULT_MODEL
    if not epath.Path(path).exists():
      raise FileNotFoundError(
          f"SentencePiece model not found: {path}. The default model ships in the package "
          "(biomed_jax/assets/tokenizer/); rebuild it with `python scripts/train_tokenizer.py`.")
    if num_location_bins < 0:
      raise ValueError(f"num_location_bins must be >= 0, got {num_location_bins}")
    self._model_proto = epath.Path(path).read_bytes()
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

  @property
  def files(self) -> dict[str, str]:
    return {SPM_FILE: self.spm_path}

  def _processor(self) -> spm.SentencePieceProcessor:
    if self._sp is None:
      self._sp = spm.SentencePieceProcessor(model_proto=self._model_proto)
    return self._sp

  def _is_plain(self, token_id: int) -> bool:
    return 0 <= token_id < self.sp_size

  def _plain_token(self, token_id: int) -> str:
    return self._processor().id_to_piece(token_id)

  def _encode_plain(self, text: str) -> list[int]:
    return self._processor().encode(text, out_type=int)

  def _decode_plain(self, ids: list[int]) -> str:
    return self._processor().decode(ids)

  def __repr__(self) -> str:
    return (f"Tokenizer({self.spm_path!r}, sp_size={self.sp_size}, "
            f"num_location_bins={self.num_location_bins}, vocab_size={self.vocab_size})")


# ------------------------------------------------------------------------------ Factory


def tokenizer_kind(path: str) -> str | None:
  """"sentencepiece" or "ofa_bpe" for a file or folder holding a tokenizer, else None.
  A folder with files of both kinds is an error (which one was meant is unknowable)."""
  from biomed_jax.data import ofa_tokenizer  # pylint: disable=g-import-not-at-top
  root = epath.Path(path)
  if not root.is_dir():
    return "sentencepiece" if root.exists() else None
  kinds = []
  if (root / SPM_FILE).exists():
    kinds.append("sentencepiece")
  if ofa_tokenizer.find_files(path) is not None:
    kinds.append("ofa_bpe")
  if len(kinds) > 1:
    raise ValueError(f"{path} holds both a SentencePiece {SPM_FILE} and BPE files "
                     f"({', '.join(ofa_tokenizer.FILE_SETS_HELP)}): keep one tokenizer")
  return kinds[0] if kinds else None


def load_tokenizer(path: str | None, flag: str = "--config.data.tokenizer") -> BaseTokenizer:
  """The tokenizer at `path` ("" or None: the shipped SentencePiece model); see the module
  docstring for what a path may be. A missing path or a folder without tokenizer files is a
  FileNotFoundError naming the path and `flag`."""
  from biomed_jax.data import ofa_tokenizer  # pylint: disable=g-import-not-at-top
  if not path:
    return Tokenizer()
  path = os.fspath(path)
  if not epath.Path(path).exists():
    raise FileNotFoundError(f"{flag}={path}: no such file or folder (give a SentencePiece "
                            ".model file or a folder with vocab.json + merges.txt)")
  bpe_names = {name for names in ofa_tokenizer.FILE_SETS for name in names}
  if os.path.basename(path.rstrip("/")) in bpe_names | {ofa_tokenizer.DICT_FILE}:
    raise ValueError(f"{flag}={path}: give the folder that holds the BPE files "
                     f"({' or '.join(ofa_tokenizer.FILE_SETS_HELP)}), not one file")
  kind = tokenizer_kind(path)
  if kind is None:
    raise FileNotFoundError(
        f"{flag}={path}: the folder holds no tokenizer: expected {SPM_FILE} (SentencePiece) "
        f"or {' or '.join(ofa_tokenizer.FILE_SETS_HELP)} (GPT-2 BPE in OFA's ids)")
  if kind == "ofa_bpe":
    return ofa_tokenizer.OfaTokenizer.from_folder(path)
  if epath.Path(path).is_dir():
    path = os.path.join(path, SPM_FILE)
  return Tokenizer(path)


def check_ids(tokenizer: BaseTokenizer, model_config) -> None:
  """Refuses a tokenizer whose pad / eos / decoder-start ids differ from a ModelConfig's."""
  model_ids = {name: getattr(model_config, name) for name in tokenizer.special_ids}
  if tokenizer.special_ids != model_ids:
    raise ValueError(f"the tokenizer's ids {tokenizer.special_ids} differ from the model "
                     f"config's {model_ids}: set model.pad_id / eos_id / bos_id to the "
                     "tokenizer's, or use the tokenizer the model was built for")


def save_tokenizer(tokenizer: BaseTokenizer, directory: str) -> list[str]:
  """Copies the tokenizer's files into `directory` (a workdir or a pretrained folder; local or
  gs://), keeping files already there, so that `load_tokenizer(directory)` rebuilds it.
  Returns the names written or kept."""
  root = epath.Path(directory)
  root.mkdir(parents=True, exist_ok=True)
  for name, source in tokenizer.files.items():
    target = root / name
    if not target.exists():
      target.write_bytes(epath.Path(source).read_bytes())
  return sorted(tokenizer.files)
