"""Captioning / report-generation metrics, the coco-caption way.

BiomedGPT and OFA score IU X-ray, PEIR Gross, ROCO and MIMIC-CXR with pycocoevalcap (the
Python 3 coco-caption): captions are PTB-tokenised, lower-cased and stripped of punctuation
(`ptb_tokenizer.ptb_tokenize`, a pure-Python equivalent of its Java step), then scored by
pycocoevalcap's own scorers, called here unchanged:

- `bleu` / `bleu4`: pycocoevalcap `Bleu(4)`: corpus-level BLEU-1..4 (clipped n-gram counts
  summed over the corpus, brevity penalty from the reference length closest to each
  hypothesis, no smoothing beyond its 1e-9/1e-15 guards). This, not sacreBLEU, is what
  captioning and report-generation tables call BLEU-4, so it is the one reported as `bleu4`.
- `cider`: pycocoevalcap `Cider()`, i.e. CIDEr-D (n = 1..4, tf-idf with document frequencies
  from the evaluated references themselves, clipped counts, Gaussian length penalty sigma = 6,
  x10). With a single example every idf is 0 and so is CIDEr: it is a corpus metric.
- `meteor`: METEOR 1.5 (`meteor-1.5.jar` and its English paraphrase table, shipped inside the
  pycocoevalcap wheel) run with coco-caption's flags `-stdio -l en -norm`; needs a Java runtime
  and reads nothing from the network. The corpus score is the jar's aggregate over all
  examples, as coco-caption reports it.
- `rouge_l_coco`: pycocoevalcap `Rouge()`: ROUGE-L with beta = 1.2 on the PTB tokens, no
  stemming (what coco-caption and BiomedGPT's scripts/caption/metric_caption.py call ROUGE_L;
  different from rouge-score's `rougeL`).

All scores are percentages: BLEU, METEOR and ROUGE-L x100 and CIDEr x100 (so coco's 1.242
CIDEr is 124.2, as captioning papers print it).
"""

import atexit
from collections.abc import Sequence
import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading

from biomed_jax.metrics import inputs
from biomed_jax.metrics.ptb_tokenizer import ptb_tokenize


def _tokenized(metric: str, predictions, references) -> tuple[dict, dict]:
  """coco-caption's (gts, res) dicts: example index -> list of tokenised captions."""
  preds, refs = inputs.reference_lists(metric, predictions, references, require_text=True)
  gts = {i: [ptb_tokenize(r) for r in group] for i, group in enumerate(refs)}
  res = {i: [ptb_tokenize(p)] for i, p in enumerate(preds)}
  return gts, res


def _coco_bleu(metric: str, predictions, references) -> list[float]:
  from pycocoevalcap.bleu.bleu import Bleu  # pylint: disable=g-import-not-at-top
  gts, res = _tokenized(metric, predictions, references)
  scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
  return [100.0 * s for s in scores]


def bleu(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
         answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """coco-caption corpus BLEU-1..4 (keys `bleu1` ... `bleu4`)."""
  del answer_types
  scores = _coco_bleu("bleu", predictions, references)
  return {f"bleu{n}": s for n, s in enumerate(scores, start=1)}


def bleu4(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
          answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """coco-caption corpus BLEU-4 (key `bleu4`)."""
  del answer_types
  return {"bleu4": _coco_bleu("bleu4", predictions, references)[3]}


def cider(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
          answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """coco-caption CIDEr-D x100 (key `cider`)."""
  del answer_types
  from pycocoevalcap.cider.cider import Cider  # pylint: disable=g-import-not-at-top
  gts, res = _tokenized("cider", predictions, references)
  score, _ = Cider().compute_score(gts, res)
  return {"cider": 100.0 * float(score)}


def rouge_l_coco(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
                 answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """coco-caption ROUGE-L (beta 1.2, PTB tokens, best reference) x100 (key `rouge_l_coco`)."""
  del answer_types
  from pycocoevalcap.rouge.rouge import Rouge  # pylint: disable=g-import-not-at-top
  gts, res = _tokenized("rouge_l_coco", predictions, references)
  score, _ = Rouge().compute_score(gts, res)
  return {"rouge_l_coco": 100.0 * float(score)}


# ---------------------------------------------------------------------------------------------
# METEOR: one long-lived JVM (loading the paraphrase table takes ~10 s), spoken to with
# coco-caption's line protocol: "SCORE ||| ref ||| ... ||| hyp" -> statistics line, then
# "EVAL ||| stats ||| ..." -> one score per example and the corpus score.
# ---------------------------------------------------------------------------------------------
class _MeteorProcess:
  """The METEOR 1.5 jar in -stdio mode."""

  def __init__(self):
    java = shutil.which("java")
    if java is None:
      raise inputs.MetricUnavailableError(
          "METEOR needs a Java runtime (`java` on PATH), e.g. `apt-get install "
          "openjdk-17-jre-headless`; the other metrics do not.")
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
      raise inputs.MetricUnavailableError(
          "METEOR needs the pycocoevalcap package (it ships meteor-1.5.jar)")
    jar_dir = os.path.join(list(spec.submodule_search_locations)[0], "meteor")
    if not os.path.exists(os.path.join(jar_dir, "meteor-1.5.jar")):
      raise inputs.MetricUnavailableError(f"meteor-1.5.jar is missing from {jar_dir}")
    # stderr goes to a file: a pipe nobody reads could fill up and stall the JVM.
    self._stderr = tempfile.TemporaryFile()
    self._proc = subprocess.Popen(
        [java, "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"],
        cwd=jar_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
    self._lock = threading.Lock()

  def _readline(self) -> str:
    line = self._proc.stdout.readline()
    if not line:
      self._proc.wait()
      self._stderr.seek(0)
      err = self._stderr.read().decode(errors="replace").strip()[-2000:]
      raise inputs.MetricUnavailableError(
          f"the METEOR jar exited (code {self._proc.returncode}): {err}")
    return line.decode().strip()

  def _send(self, line: str) -> None:
    try:
      self._proc.stdin.write((line + "\n").encode())
      self._proc.stdin.flush()
    except BrokenPipeError:
      self._readline()  # Raises with the jar's error output.

  def score(self, hypotheses: list[str], references: list[list[str]]) -> float:
    with self._lock:
      stats = []
      for hyp, refs in zip(hypotheses, references):
        self._send(" ||| ".join(["SCORE", *refs, hyp]))
        stats.append(self._readline())
      self._send(" ||| ".join(["EVAL", *stats]))
      for _ in hypotheses:
        self._readline()  # Per-example scores.
      return float(self._readline())

  def alive(self) -> bool:
    return self._proc.poll() is None

  def close(self) -> None:
    if self.alive():
      self._proc.stdin.close()
      self._proc.kill()
    self._proc.wait()
    self._stderr.close()


_METEOR: _MeteorProcess | None = None
_METEOR_LOCK = threading.Lock()


def _meteor_process() -> _MeteorProcess:
  global _METEOR
  with _METEOR_LOCK:
    if _METEOR is None or not _METEOR.alive():
      _METEOR = _MeteorProcess()
      atexit.register(_METEOR.close)
    return _METEOR


def meteor(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
           answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """coco-caption METEOR 1.5 x100 (key `meteor`); MetricUnavailableError without Java."""
  del answer_types
  gts, res = _tokenized("meteor", predictions, references)
  hyps = [res[i][0] for i in range(len(res))]
  refs = [gts[i] for i in range(len(gts))]
  return {"meteor": 100.0 * _meteor_process().score(hyps, refs)}
