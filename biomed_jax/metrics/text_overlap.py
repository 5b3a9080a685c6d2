"""ROUGE (summarization convention) and sacreBLEU (machine-translation convention).

ROUGE-1/2/L are Google's `rouge-score` (a re-implementation of ROUGE-1.5.5) with Porter
stemming, as the summarization papers report them (`rouge_scorer.RougeScorer(...,
use_stemmer=True)`; BiomedGPT's MeQSum/iCliniq/HealthcareMagic numbers, HF `evaluate`'s
default). Its tokenizer lower-cases and keeps only [a-z0-9] runs. We report the F-measure,
averaged over examples (the mean, not rouge-score's bootstrap mid-point); with several
references an example takes the best-scoring one (`score_multi`). `rougeL` is the
sentence-level LCS (newlines ignored), not the summary-level `rougeLsum`.

`sacrebleu` is corpus BLEU with sacreBLEU's defaults (13a tokenisation, case-sensitive,
exponential smoothing), comparable with the WMT literature. Captioning tables use coco-caption's
BLEU instead (see captioning.py).

All scores are percentages (0-100).
"""

from collections.abc import Sequence
import functools

from biomed_jax.metrics import inputs

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@functools.cache
def _rouge_scorer():
  from rouge_score import rouge_scorer  # pylint: disable=g-import-not-at-top
  return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
          answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """Mean ROUGE-1/2/L F-measure (keys `rouge1`, `rouge2`, `rougeL`)."""
  del answer_types
  preds, refs = inputs.reference_lists("rouge", predictions, references, require_text=True)
  scorer = _rouge_scorer()
  totals = dict.fromkeys(ROUGE_TYPES, 0.0)
  for pred, group in zip(preds, refs):
    scores = scorer.score_multi(group, pred)  # Best reference per ROUGE type, by F-measure.
    for key in ROUGE_TYPES:
      totals[key] += scores[key].fmeasure
  return {key: 100.0 * total / len(preds) for key, total in totals.items()}


def sacrebleu(predictions: Sequence[str], references: Sequence[str | Sequence[str]],
              answer_types: Sequence[str] | None = None) -> dict[str, float]:
  """Corpus BLEU with sacreBLEU's default signature (key `sacrebleu`)."""
  del answer_types
  import sacrebleu as sb  # pylint: disable=g-import-not-at-top
  preds, refs = inputs.reference_lists("sacrebleu", predictions, references, require_text=True)
  # sacreBLEU takes reference *streams*; examples with fewer references get None (its way of
  # saying "no reference here").
  n_streams = max(len(g) for g in refs)
  streams = [[g[k] if k < len(g) else None for g in refs] for k in range(n_streams)]
  return {"sacrebleu": float(sb.corpus_bleu(preds, streams).score)}
