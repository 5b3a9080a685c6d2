"""The vocabularies every part of the data layer shares, defined once.

Task families (BiomedGPT's six, plus instruction data), the families whose tasks need an
image, and where a closed-set task's candidate answers come from. The datasets themselves,
with their family, are registered in biomed_jax/data/readers/catalog.py; the kinds of bad
record in biomed_jax/data/readers/common.py (PROBLEM_KINDS).
"""

IMAGE_CLASSIFICATION = "image_classification"
VQA = "vqa"
CAPTIONING = "captioning"
TEXT_UNDERSTANDING = "text_understanding"
SUMMARIZATION = "summarization"
QUESTION_ANSWERING = "question_answering"
INSTRUCTION = "instruction"  # instruction-tuning sources (BioInstruct, LLaVA-Med, BoX ...)
FAMILIES = (IMAGE_CLASSIFICATION, VQA, CAPTIONING, TEXT_UNDERSTANDING, SUMMARIZATION,
            QUESTION_ANSWERING, INSTRUCTION)
IMAGE_FAMILIES = (IMAGE_CLASSIFICATION, VQA, CAPTIONING)

# Candidate answers of a closed-set task, besides a static tuple (tasks.py):
CANDIDATES_FROM_TRAIN = "train"  # every target of the training split
CANDIDATES_CLOSED_FROM_TRAIN = "train_closed"  # targets of answer_type CLOSED training records
CANDIDATES_FROM_OPTIONS = "options"  # each example's own `options`
