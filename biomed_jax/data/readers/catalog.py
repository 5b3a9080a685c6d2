"""Every dataset, registered once: reader, splits, layout help, folder, family and task.

`readers.READERS` and `tasks.TASKS` are both built from `REGISTRY`, so a dataset cannot have
a reader without a task or two families. Add a dataset with one `_register(...)` line.
Lengths are BiomedGPT's where it fine-tunes on the dataset (../reference/biomedgpt.md).
"""

import functools

from biomed_jax.data import families as fam
from biomed_jax.data.readers import captioning
from biomed_jax.data.readers import clinical
from biomed_jax.data.readers import imaging
from biomed_jax.data.readers import instruct
from biomed_jax.data.readers import layouts
from biomed_jax.data.readers import medmnist
from biomed_jax.data.readers import qa
from biomed_jax.data.readers import sample
from biomed_jax.data.readers import text
from biomed_jax.data.readers import vqa
from biomed_jax.data.readers.spec import ReaderSpec, TaskSettings, make_spec

ALL_SPLITS = ("train", "validation", "test")
TRAIN_TEST = ("train", "test")
_VQA_FIELDS = ("question", "answer", "answer_type")
_QA_FIELDS = ("question", "answer")
_CAPTION_METRICS = ("rouge", "cider", "bleu4")
_VQA_METRICS = ("vqa_accuracy_closed_open",)
_NLI_LABELS = ("entailment", "contradiction", "neutral")

REGISTRY: dict[str, ReaderSpec] = {}


def _register(name, family, scan, splits, layout_help, folder, required, task,
              extra_sources=()):
  if name in REGISTRY:
    raise ValueError(f"dataset {name!r} is registered twice")
  REGISTRY[name] = make_spec(name, family, scan, splits, layout_help, folder, required, task,
                             extra_sources)


def _vqa(candidates=fam.CANDIDATES_CLOSED_FROM_TRAIN, lengths=(80, 40), metrics=_VQA_METRICS):
  return TaskSettings("vqa", "answer", lengths, metrics, candidates=candidates)


def _caption(kind, target_len):
  return TaskSettings(kind, "caption", (80, target_len), _CAPTION_METRICS, "caption")


# VQA: BiomedGPT's 80/40 tokens; PMC-VQA is multiple choice and carries its options.
_register("vqa_rad", fam.VQA, vqa.scan_vqa_rad, TRAIN_TEST, layouts.VQA_RAD, "vqa_rad",
          _VQA_FIELDS, _vqa())
_register("slake", fam.VQA, vqa.scan_slake, ALL_SPLITS, layouts.SLAKE, "slake", _VQA_FIELDS,
          _vqa())
_register("path_vqa", fam.VQA, vqa.scan_path_vqa, ALL_SPLITS, layouts.PATH_VQA, "path_vqa",
          _VQA_FIELDS, _vqa())
_register("pmc_vqa", fam.VQA, vqa.scan_pmc_vqa, TRAIN_TEST, layouts.PMC_VQA, "pmc_vqa",
          _VQA_FIELDS, _vqa(fam.CANDIDATES_FROM_OPTIONS, (160, 40), ("accuracy",)))

# Captioning / report generation: captions 80/20 (BiomedGPT); ROCO captions run longer;
# radiology reports need ~128 target tokens.
_register("iu_xray", fam.CAPTIONING, captioning.scan_r2gen, ALL_SPLITS, layouts.IU_XRAY,
          "iu_xray", ("caption",), _caption("report", 128))
_register("mimic_cxr", fam.CAPTIONING, captioning.scan_r2gen, ALL_SPLITS, layouts.MIMIC_CXR,
          "mimic_cxr", ("caption",), _caption("report", 128))
_register("roco", fam.CAPTIONING, captioning.scan_roco, ALL_SPLITS, layouts.ROCO, "roco",
          ("caption",), _caption("caption", 64), ("*/radiology/dlinks*.txt",))
_register("peir_gross", fam.CAPTIONING, captioning.scan_peir_gross, TRAIN_TEST,
          layouts.PEIR_GROSS, "peir_gross", ("caption",), _caption("caption", 20))

# Text understanding.
_register("mednli", fam.TEXT_UNDERSTANDING, text.scan_mednli, ALL_SPLITS, layouts.MEDNLI,
          "mednli", ("premise", "hypothesis", "label"),
          TaskSettings("nli", "label", (512, 30), ("accuracy", "f1_macro"),
                       candidates=_NLI_LABELS))

# Summarization. MeQSum: consumer health question -> short question. HealthcareMagic and
# iCliniq ship as ChatDoctor instruction records (patient's message -> doctor's reply); the
# BiomedGPT paper counts them as summarization.
_DIALOGUE = TaskSettings("dialogue", "output", (512, 256), ("rouge",), "text")
_register("meqsum", fam.SUMMARIZATION, text.scan_meqsum, ALL_SPLITS, layouts.MEQSUM, "meqsum",
          ("document", "summary"),
          TaskSettings("summarization", "summary", (512, 128), ("rouge",), "text"))
_register("healthcaremagic", fam.SUMMARIZATION, instruct.scan_healthcaremagic, ALL_SPLITS,
          layouts.HEALTHCAREMAGIC, "chatdoctor", ("input", "output"), _DIALOGUE)
_register("icliniq", fam.SUMMARIZATION, instruct.scan_icliniq, ALL_SPLITS, layouts.ICLINIQ,
          "chatdoctor", ("input", "output"), _DIALOGUE)

# Question answering.
_register("pubmedqa", fam.QUESTION_ANSWERING, qa.scan_pubmedqa, ALL_SPLITS, layouts.PUBMEDQA,
          "pubmedqa", ("question", "context", "answer"),
          TaskSettings("qa", "answer", (512, 16), ("accuracy", "f1_macro"),
                       candidates=("yes", "no", "maybe")), ("test_ground_truth.json",))
_register("medqa", fam.QUESTION_ANSWERING, qa.scan_medqa, ALL_SPLITS, layouts.MEDQA, "medqa",
          _QA_FIELDS, TaskSettings("qa", "answer", (512, 64), ("accuracy",),
                                   candidates=fam.CANDIDATES_FROM_OPTIONS))
_register("medmcqa", fam.QUESTION_ANSWERING, qa.scan_medmcqa, ("train", "validation"),
          layouts.MEDMCQA, "medmcqa", _QA_FIELDS,
          TaskSettings("qa", "answer", (256, 64), ("accuracy",),
                       candidates=fam.CANDIDATES_FROM_OPTIONS))

# Instruction data.
_register("bioinstruct", fam.INSTRUCTION, instruct.scan_bioinstruct, ("train",),
          layouts.BIOINSTRUCT, "bioinstruct", ("instruction", "output"),
          TaskSettings("instruction", "output", (512, 256), ("rouge",), "text"))
_register("llava_med", fam.INSTRUCTION, instruct.scan_llava_med, ("train",), layouts.LLAVA_MED,
          "llava_med", ("question", "answer"),
          TaskSettings("conversation", "answer", (256, 256), ("rouge",), "text",
                       image="optional"))

_register("box", fam.INSTRUCTION, instruct.scan_natural_instructions, ALL_SPLITS, layouts.BOX,
          "box", ("instruction", "input", "output"),
          TaskSettings("task_instruction", "output", (512, 128), ("rouge",), "text"),
          ("splits/default/test_tasks.txt",))

# Image classification: MedMNIST v2 2-D subsets, one shared folder (ChestMNIST is
# multi-label: its target is the list of positive findings).
for _flag in medmnist.LABELS:
  _multi = _flag in medmnist.MULTI_LABEL
  _register(_flag, fam.IMAGE_CLASSIFICATION,
            functools.partial(medmnist.scan_medmnist, flag=_flag), ALL_SPLITS,
            layouts.MEDMNIST, "medmnist", () if _multi else ("label",),
            TaskSettings("image_classification", "labels" if _multi else "label", (128, 64),
                         ("accuracy", "f1_macro") if _multi else ("accuracy",),
                         candidates=fam.CANDIDATES_FROM_TRAIN))

# Image classification from image folders and label tables (readers/imaging.py).
_TB = TaskSettings("image_classification", "label", (128, 16), ("accuracy",),
                   candidates=imaging.TB_LABELS)
_register("shenzhen_cxr", fam.IMAGE_CLASSIFICATION,
          functools.partial(imaging.scan_tb_cxr, prefix="CHNCXR", top="ChinaSet_AllFiles"),
          ALL_SPLITS, layouts.SHENZHEN, "shenzhen", ("label",), _TB)
_register("montgomery_cxr", fam.IMAGE_CLASSIFICATION,
          functools.partial(imaging.scan_tb_cxr, prefix="MCUCXR", top="MontgomerySet"),
          ALL_SPLITS, layouts.MONTGOMERY, "montgomery", ("label",), _TB)
_register("rsna_pneumonia", fam.IMAGE_CLASSIFICATION, imaging.scan_rsna_pneumonia, ALL_SPLITS,
          layouts.RSNA_PNEUMONIA, "rsna_pneumonia", ("label",),
          TaskSettings("image_classification", "label", (128, 16), ("accuracy",),
                       candidates=imaging.RSNA_LABELS))
_register("cbis_ddsm", fam.IMAGE_CLASSIFICATION, imaging.scan_cbis_ddsm, TRAIN_TEST,
          layouts.CBIS_DDSM, "cbis_ddsm", ("label",),
          TaskSettings("image_classification", "label", (128, 16), ("accuracy",),
                       candidates=("benign", "malignant")))

# Clinical text (readers/clinical.py): findings -> impression, trial matching.
_IMPRESSION = TaskSettings("impression", "summary", (512, 128), ("rouge",), "text")
_register("mimic_iii", fam.SUMMARIZATION, clinical.scan_mimic_iii, ALL_SPLITS,
          layouts.MIMIC_III, "mimic_iii", ("document", "summary"), _IMPRESSION)
_register("mimic_cxr_sum", fam.SUMMARIZATION, clinical.scan_mimic_cxr_reports, ALL_SPLITS,
          layouts.MIMIC_CXR_REPORTS, "mimic_cxr_reports", ("document", "summary"), _IMPRESSION,
          ("mimic-cxr-2.0.0-split.csv*",))
_register("trec_ct_2022", fam.TEXT_UNDERSTANDING, clinical.scan_trec_ct, ALL_SPLITS,
          layouts.TREC_CT, "trec_ct_2022", ("patient", "trial", "label"),
          TaskSettings("trial_matching", "label", (1024, 8), ("accuracy", "f1_macro"),
                       candidates=tuple(clinical.TREC_LABELS.values())),
          ("topics2022.xml", "*/NCT*xxxx/NCT*.xml"))
_register("bioasq", fam.QUESTION_ANSWERING, qa.scan_bioasq, ALL_SPLITS, layouts.BIOASQ,
          "bioasq", ("question", "answer"),
          TaskSettings("qa", "answer", (512, 16), ("accuracy", "f1_macro"),
                       candidates=qa.BIOASQ_DECISIONS))

# The sample mixture shipped with the package (biomed_jax/assets/sample).
_SAMPLES = {
    "sample_image_classification": (
        fam.IMAGE_CLASSIFICATION, ("label",),
        TaskSettings("imaging_plane", "label", (128, 64), ("accuracy",),
                     candidates=fam.CANDIDATES_FROM_TRAIN)),
    "sample_vqa": (fam.VQA, ("question", "answer"), _vqa()),
    "sample_captioning": (fam.CAPTIONING, ("caption",), _caption("caption", 64)),
    "sample_text_understanding": (
        fam.TEXT_UNDERSTANDING, ("text", "label"),
        TaskSettings("text_classification", "label", (256, 30), ("accuracy", "f1_macro"),
                     candidates=fam.CANDIDATES_FROM_TRAIN)),
    "sample_summarization": (
        fam.SUMMARIZATION, ("document", "summary"),
        TaskSettings("summarization", "summary", (512, 128), ("rouge",), "text")),
    "sample_qa": (fam.QUESTION_ANSWERING, ("question", "answer"),
                  TaskSettings("qa", "answer", (512, 64), ("accuracy",),
                               candidates=fam.CANDIDATES_FROM_OPTIONS)),
}
for _name, (_family, _required, _task) in _SAMPLES.items():
  _register(_name, _family, functools.partial(sample.scan, task=_name), sample.SPLITS,
            layouts.SAMPLE, "sample", _required, _task)

SAMPLE_TASKS = tuple(_SAMPLES)
MEDMNIST_SUBSETS = tuple(medmnist.LABELS)
