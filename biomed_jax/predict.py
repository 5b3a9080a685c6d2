r"""Answer a question about an image (or a text-only prompt) with a trained model.

  python -m biomed_jax.predict --checkpoint=WORKDIR --image=chest.png \
      --prompt="What abnormality is seen in the lung?"
  python -m biomed_jax.predict --checkpoint=WORKDIR --image=chest.png \
      --prompt="Is there a pleural effusion?" --candidates=yes,no
  python -m biomed_jax.predict --checkpoint=PRETRAINED_DIR --prompts_file=questions.jsonl \
      --output=answers.jsonl

--checkpoint is a training workdir (its latest checkpoint, or --step=N; the EMA parameters
when the run kept them) or a pretrained folder (model_config.json + variables/, see
biomed_jax.model.pretrained). The model sees exactly what evaluation gives it: [bos] the
prompt's tokens EOS, padded to the run's data.max_source_len, in the tokenizer saved with the
checkpoint (SentencePiece tokenizer.model, or OFA's vocab.json + merges.txt [+ dict.txt]);
the image decoded, resized to the model's image_size and normalised as the run's
data.image_normalization says ([-1, 1] by default; biomed_jax.data.images, no augmentation);
the run's data.decoder_prompt (BiomedGPT's `src` / `prev_output`) forced and stripped.
The prompt goes in as written, so phrase it as the training templates do
(biomed_jax.data.tasks.TEMPLATES: a VQA question as is, "what does the image describe?" for
captions and classification).

--prompts_file: JSON lines {"prompt": ..., "image": optional path (relative paths are taken
from the file's folder), "candidates": optional list of answers}; other keys are copied to
the output line, which adds "answer". --candidates restricts answers to one of a closed set
(decoding inside a trie of the candidates); in a prompts file it applies to lines without
their own.

Python:
  predictor = Predictor.load("WORKDIR")
  predictor.answer("Is there a pleural effusion?", image="chest.png", candidates=["yes", "no"])
  predictor.answer_batch([{"prompt": ..., "image": ...}, ...], method="beam", beam_size=4)

The weights are placed on one device (jax.local_devices()[0]). With --multihost (or the
JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID environment, see
biomed_jax.distributed) every process runs the same command: each answers its contiguous share
of the prompts file on its own device, the answers are gathered in file order, and process 0
alone prints or writes them. Greedy and beam answers equal one process's when --batch_size
divides each share; sampling draws per batch, so its answers differ from one process's.
"""

from collections.abc import Mapping, Sequence
import dataclasses
import json
import logging as logging_std
import os
import sys
from typing import Any

from absl import app, flags, logging
from etils import epath
import jax
import numpy as np

from biomed_jax import distributed
from biomed_jax import weights as weights_lib
from biomed_jax.data import images as images_lib
from biomed_jax.data.records import DataError
from biomed_jax.data import tokenizer as tokenizer_lib
from biomed_jax.data.transforms import fit_source
from biomed_jax.decoding import METHODS, CandidateTrie, decode
from biomed_jax.model import EncoderDecoder, ModelConfig

# A pretrained folder records no data config; these are the base config's defaults.
DEFAULT_MAX_SOURCE_LEN = 128
DEFAULT_MAX_TARGET_LEN = 64
DEFAULT_BATCH_SIZE = 8
ImageInput = str | os.PathLike | bytes | np.ndarray


class PredictError(ValueError):
  """Unusable input (checkpoint, prompt, image, candidates, option): the message names it."""


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
  """How answers are generated (see biomed_jax.decoding.decode).

  max_length: generated tokens at most, EOS included; None = the run's data.max_target_len
  (64 for a pretrained folder). With candidates it is raised to the longest candidate.
  seed: the sampling key (method="sample"): a fixed seed gives a fixed answer.
  """
  method: str = "greedy"
  beam_size: int = 4
  length_penalty: float = 1.0
  max_length: int | None = None
  temperature: float = 1.0
  top_p: float = 1.0
  seed: int = 0
  no_repeat_ngram_size: int = 0

  def __post_init__(self):
    problems = []
    if self.method not in METHODS:
      problems.append(f"method={self.method!r} is not one of {METHODS}")
    if self.beam_size < 1:
      problems.append(f"beam_size={self.beam_size} must be >= 1")
    if self.max_length is not None and self.max_length < 1:
      problems.append(f"max_length={self.max_length} must be >= 1")
    if not self.temperature > 0:
      problems.append(f"temperature={self.temperature} must be > 0")
    if not 0 < self.top_p <= 1:
      problems.append(f"top_p={self.top_p} must be in (0, 1]")
    if self.no_repeat_ngram_size < 0:
      problems.append(f"no_repeat_ngram_size={self.no_repeat_ngram_size} must be >= 0")
    if problems:
      raise PredictError("; ".join(problems))

  @classmethod
  def make(cls, **options) -> "DecodeOptions":
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise PredictError(f"unknown decoding options {unknown}; known: "
                         f"{[f.name for f in dataclasses.fields(cls)]}")
    return cls(**options)


# ------------------------------------------------------------------------------- Checkpoints


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
  """What a checkpoint folder holds (found by the one weights loader, biomed_jax.weights),
  with the tokenizer and input settings the run used; the weights are not read yet."""
  weights: weights_lib.Weights
  tokenizer: tokenizer_lib.BaseTokenizer
  max_source_len: int
  max_target_len: int
  decoder_prompt: str = "none"
  image_normalization: str = images_lib.DEFAULT_NORMALIZATION

  @property
  def model_config(self) -> ModelConfig:
    return self.weights.model_config

  def restore_variables(self) -> dict[str, Any]:
    """{"params", "batch_stats"} on one device: a run's EMA parameters when it kept them,
    every array checked against its saved checksum."""
    try:
      return self.weights.restore().variables
    except ValueError as e:  # WeightsError, CheckpointCorrupt: the message names the step
      raise PredictError(str(e)) from e


_NO_SAVED_TOKENIZER = "{} is missing (and no vocab.json + merges.txt beside it)"


def _saved_tokenizer(folder: epath.Path) -> str | None:
  """The folder itself when it holds tokenizer files (see biomed_jax.data.tokenizer)."""
  try:
    return str(folder) if tokenizer_lib.tokenizer_kind(str(folder)) else None
  except ValueError as e:
    raise PredictError(str(e)) from e


def _run_tokenizer(workdir: epath.Path, config: dict) -> str:
  """The tokenizer saved with the run, else the one its config names ("" = shipped)."""
  saved = _saved_tokenizer(workdir)
  if saved:
    return saved
  named = config.get("data", {}).get("tokenizer", "")
  if named and not epath.Path(named).exists():
    missing = _NO_SAVED_TOKENIZER.format(workdir / tokenizer_lib.SPM_FILE)
    raise PredictError(f"no tokenizer: {missing} and the run's config.data.tokenizer "
                       f"{named} does not exist; pass --tokenizer=PATH")
  return named


def locate_checkpoint(checkpoint_dir: str, step: int | None = None, *,
                      tokenizer: str | None = None,
                      max_source_len: int | None = None) -> CheckpointInfo:
  """A training workdir's checkpoint (latest or `step`) or a pretrained folder, with its
  tokenizer.

  tokenizer: a tokenizer path (a SentencePiece .model, or a folder with vocab.json +
  merges.txt [+ dict.txt]) overriding the saved one (required for a pretrained folder without
  tokenizer files). max_source_len: overrides the run's data.max_source_len.
  """
  try:
    found = weights_lib.locate(checkpoint_dir, step)
  except ValueError as e:  # WeightsError, CheckpointCorrupt (damaged metadata)
    raise PredictError(str(e)) from e
  root = epath.Path(found.directory)
  if found.kind == "pretrained":
    saved = _saved_tokenizer(root)
    if tokenizer is None and saved is None:
      missing = _NO_SAVED_TOKENIZER.format(root / tokenizer_lib.SPM_FILE)
      raise PredictError(f"no tokenizer: {missing}; pass --tokenizer=PATH (the tokenizer "
                         "the weights were trained with)")
    config, tokenizer = {}, tokenizer or saved
  else:
    config = json.loads(found.meta.get("config") or "{}")
    tokenizer = tokenizer or _run_tokenizer(root, config)
  if tokenizer and not epath.Path(tokenizer).exists():
    raise PredictError(f"tokenizer {tokenizer} does not exist")
  try:
    loaded = tokenizer_lib.load_tokenizer(tokenizer, flag="--tokenizer")
    tokenizer_lib.check_ids(loaded, found.model_config)
  except (ValueError, RuntimeError, OSError) as e:  # not a usable tokenizer for this model
    raise PredictError(f"tokenizer {tokenizer or tokenizer_lib.DEFAULT_MODEL}: {e}") from e
  data = config.get("data", {})
  return CheckpointInfo(
      weights=found, tokenizer=loaded,
      max_source_len=max_source_len or data.get("max_source_len") or DEFAULT_MAX_SOURCE_LEN,
      max_target_len=data.get("max_target_len") or DEFAULT_MAX_TARGET_LEN,
      decoder_prompt=data.get("decoder_prompt") or "none",
      image_normalization=(data.get("image_normalization") or
                           images_lib.DEFAULT_NORMALIZATION))


# ------------------------------------------------------------------------------- Inputs


def prepare_image(image: str | os.PathLike | bytes, image_size: int,
                  normalization: str = images_lib.DEFAULT_NORMALIZATION) -> np.ndarray:
  """A file path or encoded bytes -> float32 [image_size, image_size, 3] (in [-1, 1] by
  default), as the evaluation pipeline makes it (biomed_jax.data.images.load_image without
  augmentation)."""
  name = "<bytes>" if isinstance(image, bytes) else os.fspath(image)
  try:
    return images_lib.load_image(image if isinstance(image, bytes) else name, image_size,
                                 dataset="predict", record_id=None, record_source=name,
                                 normalization=normalization)
  except DataError as e:
    raise PredictError(f"image {name}: {e.problem}") from e


def _check_prompt(prompt: Any, where: str) -> str:
  if not isinstance(prompt, str):
    raise PredictError(f"{where}prompt must be text, got {type(prompt).__name__}")
  if not prompt.strip():
    raise PredictError(f"{where}the prompt is empty")
  return prompt


def _check_candidates(candidates: Any, where: str) -> tuple[str, ...] | None:
  if candidates is None:
    return None
  if isinstance(candidates, str) or not isinstance(candidates, Sequence):
    raise PredictError(f"{where}candidates must be a list of answers, got {candidates!r}")
  if not candidates:
    raise PredictError(f"{where}the candidate list is empty: give at least one answer")
  out = []
  for i, candidate in enumerate(candidates):
    if not isinstance(candidate, str) or not candidate.strip():
      raise PredictError(f"{where}candidate {i + 1} ({candidate!r}) is empty or not text")
    out.append(candidate.strip())
  return tuple(out)


def _bucket(n: int, smallest: int = 16) -> int:
  """The next power of two: candidate sets of similar size share one compiled program."""
  return max(smallest, 1 << (n - 1).bit_length())


# ------------------------------------------------------------------------------- Predictor


class Predictor:
  """A model with its weights and tokenizer, answering prompts with optional images."""

  def __init__(self, model_config: ModelConfig, variables: dict[str, Any],
               tokenizer: tokenizer_lib.BaseTokenizer, *,
               max_source_len: int = DEFAULT_MAX_SOURCE_LEN,
               max_target_len: int = DEFAULT_MAX_TARGET_LEN,
               batch_size: int = DEFAULT_BATCH_SIZE, decoder_prompt: str = "none",
               image_normalization: str = images_lib.DEFAULT_NORMALIZATION):
    if batch_size < 1 or max_source_len < 1:
      raise PredictError(f"batch_size={batch_size} and max_source_len={max_source_len} must "
                         "be >= 1")
    self.model_config = model_config
    self.model = EncoderDecoder(model_config)
    self.variables = variables
    self.tokenizer = tokenizer
    self.max_source_len, self.max_target_len = max_source_len, max_target_len
    self.batch_size = batch_size
    self.decoder_prompt, self.image_normalization = decoder_prompt, image_normalization
    self.has_vision = "vision" in variables["params"]

  @classmethod
  def load(cls, checkpoint_dir: str, step: int | None = None, *, tokenizer: str | None = None,
           max_source_len: int | None = None,
           batch_size: int = DEFAULT_BATCH_SIZE) -> "Predictor":
    """From a training workdir (latest checkpoint or `step`) or a pretrained folder."""
    return cls.from_info(locate_checkpoint(checkpoint_dir, step, tokenizer=tokenizer,
                                           max_source_len=max_source_len), batch_size)

  @classmethod
  def from_info(cls, info: CheckpointInfo,
                batch_size: int = DEFAULT_BATCH_SIZE) -> "Predictor":
    return cls(info.model_config, info.restore_variables(), info.tokenizer,
               max_source_len=info.max_source_len, max_target_len=info.max_target_len,
               batch_size=batch_size, decoder_prompt=info.decoder_prompt,
               image_normalization=info.image_normalization)

  # -- inputs --------------------------------------------------------------------------

  def encode_prompt(self, prompt: str, where: str = "") -> np.ndarray:
    """int32 [max_source_len]: [bos] the prompt's tokens EOS, padded (cut with a warning
    when longer, keeping EOS last, as the pipeline does)."""
    tokens = self.tokenizer.encode(_check_prompt(prompt, where))
    self._check_vocabulary(tokens, f"{where}prompt")
    encoded, _, cut = fit_source(self.tokenizer, tokens, self.max_source_len)
    if cut:
      logging.warning("%sprompt of %d tokens cut to max_source_len=%d", where,
                      len(tokens) + 1, self.max_source_len)
    return encoded

  def prepare_image(self, image: str | os.PathLike | bytes) -> np.ndarray:
    """float32 [image_size, image_size, 3], normalised as the run was (see the module
    function)."""
    return prepare_image(image, self.model_config.image_size, self.image_normalization)

  def _image(self, image: ImageInput, where: str) -> np.ndarray:
    if not self.has_vision:
      raise PredictError(f"{where}these weights have no vision encoder (a text-only import): "
                         "ask without an image")
    if isinstance(image, np.ndarray):
      size = self.model_config.image_size
      if image.shape != (size, size, 3) or image.dtype != np.float32:
        raise PredictError(f"{where}an image array must be float32 [{size}, {size}, 3] from "
                           f"prepare_image, got {image.dtype} {image.shape}")
      return image
    try:
      return self.prepare_image(image)
    except PredictError as e:
      raise PredictError(f"{where}{e}") from e

  def _check_vocabulary(self, tokens: Sequence[int], what: str) -> None:
    outside = [t for t in tokens if t >= self.model_config.vocab_size]
    if outside:
      raise PredictError(f"{what} has token {self.tokenizer.id_to_token(outside[0])!r} (id "
                         f"{outside[0]}) outside the model's vocabulary of "
                         f"{self.model_config.vocab_size}")

  def _trie(self, candidates: tuple[str, ...], where: str) -> CandidateTrie:
    token_lists = []
    for candidate in candidates:
      tokens = self.tokenizer.encode(candidate)
      self._check_vocabulary(tokens, f"{where}candidate {candidate!r}")
      token_lists.append(tokens)
    edges = sum(len(t) + 1 for t in token_lists)  # an upper bound on the trie's edges
    return CandidateTrie.from_token_lists(token_lists, self.tokenizer.eos_id,
                                          pad_edges_to=_bucket(edges),
                                          pad_id=self.tokenizer.pad_id)

  # -- answers -------------------------------------------------------------------------

  def answer(self, prompt: str, image: ImageInput | None = None,
             candidates: Sequence[str] | None = None, **decode_options) -> str:
    """The answer to one prompt. image: a file path, encoded bytes, or an array from
    prepare_image; candidates: the answer is one of them. decode_options: DecodeOptions."""
    return self._answer([{"prompt": prompt, "image": image, "candidates": candidates}],
                        [""], DecodeOptions.make(**decode_options))[0]

  def answer_batch(self, items: Sequence[Mapping[str, Any]], **decode_options) -> list[str]:
    """Answers for dicts {"prompt", optional "image", optional "candidates"}, in order,
    decoded batch_size at a time (prompts sharing a candidate set decode together)."""
    return self._answer(items, [f"item {i}: " for i in range(len(items))],
                        DecodeOptions.make(**decode_options))

  def _answer(self, items: Sequence[Mapping[str, Any]], wheres: Sequence[str],
              options: DecodeOptions) -> list[str]:
    groups: dict[tuple[str, ...] | None, list[int]] = {}
    for i, (item, where) in enumerate(zip(items, wheres)):
      if not isinstance(item, Mapping) or "prompt" not in item:
        raise PredictError(f"{where}expected a dict with a \"prompt\", got {item!r}")
      _check_prompt(item["prompt"], where)
      groups.setdefault(_check_candidates(item.get("candidates"), where), []).append(i)
    answers: list[str | None] = [None] * len(items)
    chunk_index = 0
    for candidates, indices in groups.items():
      trie = None if candidates is None else self._trie(candidates, wheres[indices[0]])
      rows = min(self.batch_size, len(indices))
      for start in range(0, len(indices), rows):
        chunk = indices[start:start + rows]
        texts = self._decode_chunk([items[i] for i in chunk], [wheres[i] for i in chunk],
                                   rows, trie, candidates, options, chunk_index)
        for i, text in zip(chunk, texts):
          answers[i] = text
        chunk_index += 1
    return answers

  def _decode_chunk(self, items, wheres, rows: int, trie: CandidateTrie | None,
                    candidates: tuple[str, ...] | None, options: DecodeOptions,
                    chunk_index: int) -> list[str]:
    """One decode call; a short chunk is padded with copies of its first row, so every chunk
    of a call has the same shapes and reuses one compiled program."""
    encoder_tokens = np.stack([self.encode_prompt(item["prompt"], where)
                               for item, where in zip(items, wheres)])
    pixels = [None if item.get("image") is None else self._image(item["image"], where)
              for item, where in zip(items, wheres)]
    images = image_mask = None
    if any(p is not None for p in pixels):
      # Rows without an image get zeros and a False mask, as evaluation batches do.
      size = self.model_config.image_size
      images = np.stack([np.zeros((size, size, 3), np.float32) if p is None else p
                         for p in pixels])
      image_mask = np.array([p is not None for p in pixels])
    pad = rows - len(items)
    if pad:
      encoder_tokens = np.concatenate([encoder_tokens, np.repeat(encoder_tokens[:1], pad, 0)])
      if images is not None:
        images = np.concatenate([images, np.repeat(images[:1], pad, 0)])
        image_mask = np.concatenate([image_mask, np.repeat(image_mask[:1], pad, 0)])
    max_length = options.max_length or self.max_target_len
    if trie is not None:
      max_length = max(max_length, trie.max_length)
    rng = None
    if options.method == "sample":
      rng = jax.random.fold_in(jax.random.key(options.seed), chunk_index)
    result = decode(self.model, self.variables, encoder_tokens, images, image_mask,
                    max_length=max_length, method=options.method,
                    beam_size=options.beam_size, length_penalty=options.length_penalty,
                    temperature=options.temperature, top_p=options.top_p, rng=rng,
                    constraint=trie, no_repeat_ngram_size=options.no_repeat_ngram_size,
                    decoder_prompt=self.decoder_prompt)
    tokens = np.asarray(result.tokens)[:len(items)]
    if trie is None:
      return [self.tokenizer.decode(row.tolist()) for row in tokens]
    chosen = trie.index_of(tokens)
    if (chosen < 0).any():
      raise RuntimeError(f"constrained decoding produced {tokens[chosen < 0][0].tolist()}, "
                         "which is none of the candidates")
    return [candidates[i] for i in chosen]


# ------------------------------------------------------------------------------- Command line


def _define_flags() -> None:
  # Defined only when run as a program: importing the Python API must not add flags such as
  # --seed or --output to an application's own absl flags.
  flags.DEFINE_string("checkpoint", None, "A training workdir or a pretrained folder.")
  flags.DEFINE_integer("step", None, "Training workdir: the checkpoint step (default latest).")
  flags.DEFINE_string("prompt", None, "The question or instruction.")
  flags.DEFINE_string("image", None, "An image file for --prompt (optional).")
  flags.DEFINE_string("prompts_file", None, "JSON lines {\"prompt\", \"image\", "
                      "\"candidates\"} to answer in batches (instead of --prompt).")
  flags.DEFINE_string("output", None, "Write the answer(s) here instead of stdout.")
  flags.DEFINE_list("candidates", None, "Comma-separated closed set of answers.")
  flags.DEFINE_enum("method", "greedy", list(METHODS), "Decoding method.")
  flags.DEFINE_integer("beam_size", 4, "Beam search width.")
  flags.DEFINE_float("length_penalty", 1.0, "Beam search length penalty exponent.")
  flags.DEFINE_integer("max_length", None, "Answer tokens at most (default: the run's "
                       f"data.max_target_len, {DEFAULT_MAX_TARGET_LEN} for a pretrained folder).")
  flags.DEFINE_float("temperature", 1.0, "Sampling temperature.")
  flags.DEFINE_float("top_p", 1.0, "Sampling nucleus mass.")
  flags.DEFINE_integer("seed", 0, "Sampling seed.")
  flags.DEFINE_integer("no_repeat_ngram_size", 0, "Ban repeated n-grams of this size (0: off).")
  flags.DEFINE_integer("batch_size", DEFAULT_BATCH_SIZE, "Prompts decoded together.")
  flags.DEFINE_integer("max_source_len", None, "Prompt tokens at most (default: the run's "
                       f"data.max_source_len, {DEFAULT_MAX_SOURCE_LEN} for a pretrained "
                       "folder).")
  flags.DEFINE_bool("multihost", False, "Several processes share the prompts (see the module "
                    "docstring); the environment's JAX_NUM_PROCESSES also turns this on.")
  flags.DEFINE_string("tokenizer", None, "A tokenizer replacing the saved one: a SentencePiece "
                      ".model, or a folder with vocab.json + merges.txt [+ dict.txt].")


class _QuietLibraries(logging_std.Filter):
  """Library chatter below ERROR (Orbax restore notes) stays off stderr."""

  def filter(self, record):
    return record.levelno >= logging_std.ERROR or not any(
        f"/{name}/" in record.pathname for name in ("orbax", "grain", "jax", "absl"))


def _read_prompts_file(path: str) -> list[tuple[dict[str, Any], str, str | None]]:
  """(item as written, its line label, its image path resolved and checked) per prompt."""
  try:
    with open(path) as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise PredictError(f"--prompts_file {path}: {e.strerror or e}") from e
  folder = os.path.dirname(os.path.abspath(path))
  entries = []
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    where = f"{path} line {number}: "
    try:
      item = json.loads(line)
    except json.JSONDecodeError as e:
      raise PredictError(f"{where}not JSON ({e.msg})") from e
    if not isinstance(item, dict) or "prompt" not in item:
      raise PredictError(f"{where}expected an object with a \"prompt\"")
    _check_prompt(item["prompt"], where)
    _check_candidates(item.get("candidates"), where)
    image = item.get("image")
    if image is not None:
      if not isinstance(image, str):
        raise PredictError(f"{where}image must be a path, got {image!r}")
      image = os.path.join(folder, image)
      if not os.path.isfile(image):
        raise PredictError(f"{where}image {image}: {images_lib.MISSING_IMAGE_PROBLEM}")
    entries.append((item, where, image))
  if not entries:
    raise PredictError(f"--prompts_file {path} holds no prompts")
  return entries


def _predict_from_flags() -> None:
  fl = flags.FLAGS
  if not fl.checkpoint:
    raise PredictError("--checkpoint is required (a training workdir or a pretrained folder)")
  if (fl.prompt is None) == (fl.prompts_file is None):
    raise PredictError("give either --prompt (one question) or --prompts_file (JSON lines)")
  if fl.image is not None and fl.prompt is None:
    raise PredictError("--image goes with --prompt; a prompts file names images per line")
  options = DecodeOptions(method=fl.method, beam_size=fl.beam_size,
                          length_penalty=fl.length_penalty, max_length=fl.max_length,
                          temperature=fl.temperature, top_p=fl.top_p, seed=fl.seed,
                          no_repeat_ngram_size=fl.no_repeat_ngram_size)
  candidates = _check_candidates(fl.candidates, "--candidates: ")
  if fl.output is not None and not os.path.isdir(os.path.dirname(os.path.abspath(fl.output))):
    raise PredictError(f"--output {fl.output}: its folder does not exist")
  if fl.prompt is not None:
    _check_prompt(fl.prompt, "--prompt: ")
    entries = [({"prompt": fl.prompt}, "", fl.image)]
  else:
    entries = _read_prompts_file(fl.prompts_file)
  distributed.initialize(fl.multihost)  # before anything touches a device
  # Metadata and inputs first: a bad image fails before the weights are read.
  info = locate_checkpoint(fl.checkpoint, fl.step, tokenizer=fl.tokenizer,
                           max_source_len=fl.max_source_len)
  image = None
  if fl.image is not None:
    image = prepare_image(fl.image, info.model_config.image_size, info.image_normalization)
  requests = [{"prompt": item["prompt"], "image": image if fl.prompt is not None else path,
               "candidates": item.get("candidates", candidates)}
              for item, _, path in entries]
  wheres = [where for _, where, _ in entries]
  predictor = Predictor.from_info(info, fl.batch_size)
  mine, answers = distributed.process_share(len(requests)), []
  if jax.process_count() > 1:
    logging.info("process %d of %d answers prompts %d-%d of %d", jax.process_index(),
                 jax.process_count(), mine.start + 1, mine.stop, len(requests))
  if requests[mine]:
    answers = predictor._answer(requests[mine], wheres[mine], options)  # pylint: disable=protected-access
  answers = distributed.gather_texts(answers)
  if not distributed.is_primary():
    return
  if fl.prompt is not None:
    lines = [answers[0] + "\n"]
  else:
    lines = [json.dumps({**item, "answer": answer}) + "\n"
             for (item, _, _), answer in zip(entries, answers)]
  if fl.output is None:
    sys.stdout.writelines(lines)
    return
  try:
    with open(fl.output, "w") as f:
      f.writelines(lines)
  except OSError as e:
    raise PredictError(f"--output {fl.output}: {e.strerror or e}") from e


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  try:
    _predict_from_flags()
  except PredictError as e:
    print(f"error: {' '.join(str(e).split())}", file=sys.stderr, flush=True)  # one line
    # Nothing was written; leave at once: Orbax's background threads, still winding down
    # after a refused checkpoint, would otherwise print tracebacks while Python shuts down.
    logging.flush()
    os._exit(1)  # pylint: disable=protected-access


if __name__ == "__main__":
  _define_flags()
  app.run(main)
