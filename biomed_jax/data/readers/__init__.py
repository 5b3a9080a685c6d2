"""Registry of dataset readers: every benchmark and instruction set, read in its publisher's layout.

    from biomed_jax.data import readers
    for record in readers.read("vqa_rad", "/data/vqa_rad", "train"):
      ...
    counts = collections.Counter()
    records = readers.read("slake", root, "test", on_error="skip", counter=counts)

API
  READERS: dict[str, ReaderSpec]           name -> spec (family, splits, layout_help, folder)
  read(dataset, root, split, *, on_error="raise", counter=None) -> Iterator[Record]
  get(dataset) -> ReaderSpec               KeyError naming the known datasets
  FAMILIES                                 the task families a spec's `family` is one of

`root` is the dataset's own folder, laid out as `READERS[name].layout_help` says. Splits are
"train", "validation", "test" (those the publisher has; see `spec.splits`).

Bad input
  * A missing folder or file raises `MissingData` (a DataError) whose message carries the
    layout help. A file that cannot be parsed at all (broken JSON document, not an xlsx/npz)
    raises DataError naming the file. Neither is affected by `on_error`.
  * A bad record -- a malformed JSON line or row, an empty required field (question, answer,
    caption, ...), a duplicate id within the split, an image file that does not exist, a value
    outside its set (label, answer letter) -- raises `BadRecord` (a DataError naming dataset,
    file and record) with on_error="raise" (default). With on_error="skip" it is dropped and
    `counter[kind] += 1`, kind in PROBLEM_KINDS ("malformed", "empty_field", "duplicate_id",
    "missing_image", "bad_value"; "bad_image" comes only from `prepare`, which checks that
    images decode). For duplicate ids the first record is kept and later ones are the bad
    ones. Readers only check that image files exist; decoding is the pipeline's job.
  * Texts are kept as published (case, inner spacing); answers are not normalised.
"""

from collections.abc import Iterator, MutableMapping
import functools

from biomed_jax.data.readers import captioning
from biomed_jax.data.readers import common
from biomed_jax.data.readers import instruct
from biomed_jax.data.readers import layouts
from biomed_jax.data.readers import medmnist
from biomed_jax.data.readers import qa
from biomed_jax.data.readers import text
from biomed_jax.data.readers import vqa
from biomed_jax.data.readers.common import BadRecord, MissingData, PROBLEM_KINDS
from biomed_jax.data.readers.spec import ReaderSpec, make_spec
from biomed_jax.data.records import Record

IMAGE_CLASSIFICATION = "image_classification"
VQA = "vqa"
CAPTIONING = "captioning"
TEXT_UNDERSTANDING = "text_understanding"
SUMMARIZATION = "summarization"
QUESTION_ANSWERING = "question_answering"
INSTRUCTION = "instruction"
FAMILIES = (IMAGE_CLASSIFICATION, VQA, CAPTIONING, TEXT_UNDERSTANDING, SUMMARIZATION,
            QUESTION_ANSWERING, INSTRUCTION)

ALL_SPLITS = ("train", "validation", "test")
_VQA_FIELDS = ("question", "answer", "answer_type")
_QA_FIELDS = ("question", "answer")

# Sample mixture shipped with the package (biomed_jax/data/readers/sample.py):
# task -> (family, required fields).
SAMPLE_TASKS = {
    "sample_image_classification": (IMAGE_CLASSIFICATION, ("label",)),
    "sample_vqa": (VQA, ("question", "answer")),
    "sample_captioning": (CAPTIONING, ("caption",)),
    "sample_text_understanding": (TEXT_UNDERSTANDING, ("text", "label")),
    "sample_summarization": (SUMMARIZATION, ("document", "summary")),
    "sample_qa": (QUESTION_ANSWERING, ("question", "answer")),
}


def scan_sample(dataset: str, root: str, split: str, *, task: str) -> common.ScanResult:
  from biomed_jax.data.readers import sample  # pylint: disable=g-import-not-at-top
  return sample.scan(dataset, root, split, task=task)


def sample_default_root() -> str:
  from biomed_jax.data.readers import sample  # pylint: disable=g-import-not-at-top
  return sample.DEFAULT_ROOT


def _specs() -> list[ReaderSpec]:
  specs = [
      make_spec("vqa_rad", VQA, vqa.scan_vqa_rad, ("train", "test"), layouts.VQA_RAD,
                "vqa_rad", _VQA_FIELDS),
      make_spec("slake", VQA, vqa.scan_slake, ALL_SPLITS, layouts.SLAKE, "slake", _VQA_FIELDS),
      make_spec("path_vqa", VQA, vqa.scan_path_vqa, ALL_SPLITS, layouts.PATH_VQA, "path_vqa",
                _VQA_FIELDS),
      make_spec("pmc_vqa", VQA, vqa.scan_pmc_vqa, ("train", "test"), layouts.PMC_VQA,
                "pmc_vqa", _VQA_FIELDS),
      make_spec("iu_xray", CAPTIONING, captioning.scan_r2gen, ALL_SPLITS, layouts.IU_XRAY,
                "iu_xray", ("caption",)),
      make_spec("mimic_cxr", CAPTIONING, captioning.scan_r2gen, ALL_SPLITS, layouts.MIMIC_CXR,
                "mimic_cxr", ("caption",)),
      make_spec("roco", CAPTIONING, captioning.scan_roco, ALL_SPLITS, layouts.ROCO, "roco",
                ("caption",)),
      make_spec("peir_gross", CAPTIONING, captioning.scan_peir_gross, ("train", "test"),
                layouts.PEIR_GROSS, "peir_gross", ("caption",)),
      make_spec("mednli", TEXT_UNDERSTANDING, text.scan_mednli, ALL_SPLITS, layouts.MEDNLI,
                "mednli", ("premise", "hypothesis", "label")),
      make_spec("meqsum", SUMMARIZATION, text.scan_meqsum, ALL_SPLITS, layouts.MEQSUM,
                "meqsum", ("document", "summary")),
      make_spec("healthcaremagic", INSTRUCTION, instruct.scan_healthcaremagic, ALL_SPLITS,
                layouts.HEALTHCAREMAGIC, "chatdoctor", ("input", "output")),
      make_spec("icliniq", INSTRUCTION, instruct.scan_icliniq, ALL_SPLITS, layouts.ICLINIQ,
                "chatdoctor", ("input", "output")),
      make_spec("pubmedqa", QUESTION_ANSWERING, qa.scan_pubmedqa, ALL_SPLITS, layouts.PUBMEDQA,
                "pubmedqa", ("question", "context", "answer")),
      make_spec("medqa", QUESTION_ANSWERING, qa.scan_medqa, ALL_SPLITS, layouts.MEDQA, "medqa",
                _QA_FIELDS),
      make_spec("medmcqa", QUESTION_ANSWERING, qa.scan_medmcqa, ("train", "validation"),
                layouts.MEDMCQA, "medmcqa", _QA_FIELDS),
      make_spec("bioinstruct", INSTRUCTION, instruct.scan_bioinstruct, ("train",),
                layouts.BIOINSTRUCT, "bioinstruct", ("instruction", "output")),
      make_spec("llava_med", INSTRUCTION, instruct.scan_llava_med, ("train",),
                layouts.LLAVA_MED, "llava_med", ("question", "answer")),
  ]
  for flag in medmnist.LABELS:
    required = () if flag in medmnist.MULTI_LABEL else ("label",)
    specs.append(make_spec(flag, IMAGE_CLASSIFICATION,
                           functools.partial(medmnist.scan_medmnist, flag=flag), ALL_SPLITS,
                           layouts.MEDMNIST, "medmnist", required))
  for task, (family, required) in SAMPLE_TASKS.items():
    specs.append(make_spec(task, family, functools.partial(scan_sample, task=task),
                           ("train", "validation"), layouts.SAMPLE, "sample", required))
  return specs


READERS: dict[str, ReaderSpec] = {spec.name: spec for spec in _specs()}


def get(dataset: str) -> ReaderSpec:
  try:
    return READERS[dataset]
  except KeyError:
    raise KeyError(f"unknown dataset {dataset!r}; known: {sorted(READERS)}") from None


def read(dataset: str, root: str, split: str, *, on_error: str = "raise",
         counter: MutableMapping[str, int] | None = None,
         skipped: list[BadRecord] | None = None) -> Iterator[Record]:
  """Records of `dataset`'s `split` under `root`, checked (see the module docstring).

  With on_error="skip", `skipped` (a list) receives each dropped BadRecord."""
  return get(dataset).read(root, split, on_error=on_error, counter=counter, skipped=skipped)


__all__ = ["BadRecord", "FAMILIES", "MissingData", "PROBLEM_KINDS", "READERS", "ReaderSpec",
           "SAMPLE_TASKS", "get", "read"]
