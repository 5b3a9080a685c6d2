"""Evaluation metrics: exact match, VQA closed/open, F1, ROUGE, BLEU, CIDEr, METEOR.

    from biomed_jax import metrics
    metrics.compute(["rouge", "cider", "bleu4"], predictions, references)
    # -> {"rouge1": .., "rouge2": .., "rougeL": .., "cider": .., "bleu4": ..}

Every score is a percentage (0-100; CIDEr x100 as captioning papers print it). See
classification.py (answer normalisation), text_overlap.py (ROUGE, sacreBLEU) and captioning.py
(coco-caption BLEU/CIDEr/METEOR/ROUGE-L) for the exact conventions.
"""

from biomed_jax.metrics.classification import accuracy
from biomed_jax.metrics.classification import f1_macro
from biomed_jax.metrics.classification import f1_scores
from biomed_jax.metrics.classification import normalize_answer
from biomed_jax.metrics.classification import vqa_accuracy
from biomed_jax.metrics.inputs import MetricInputError
from biomed_jax.metrics.inputs import MetricUnavailableError
from biomed_jax.metrics.ptb_tokenizer import ptb_tokenize
from biomed_jax.metrics.registry import ALIASES
from biomed_jax.metrics.registry import compute
from biomed_jax.metrics.registry import METRICS
from biomed_jax.metrics.registry import resolve
