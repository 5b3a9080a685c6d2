"""Tasks: how a dataset's records become (instruction, target) text pairs.

Every dataset's task is registered with its reader in biomed_jax/data/readers/catalog.py
(TaskSettings); this module turns those settings into Tasks and holds the templates.

A task names its dataset (a reader registry name), its family, a few instruction templates,
how the target is normalised, length limits, metrics and, for closed-set tasks, where the
candidate answers come from. Templates are `str.format` strings over the record's normalised
fields (biomed_jax/data/records.py). A part in square brackets is optional: it is dropped when
every field inside it is missing or empty, e.g. "{question}[ Options: {options}]". Fields
outside brackets are required: a missing or empty one is a DataError.

Training picks a template per example (deterministic given seed and example index, see
pipeline.py); evaluation always uses template 0.

Candidate answers (closed-set decoding) come from one of:
  * a static tuple (NLI labels, yes/no/maybe);
  * CANDIDATES_FROM_TRAIN: every target of the training split (MedMNIST class names);
  * CANDIDATES_CLOSED_FROM_TRAIN: targets of training records with answer_type CLOSED (VQA);
  * CANDIDATES_FROM_OPTIONS: each example's own `options` (multiple-choice QA / VQA);
  * None: open generation.
"""

import dataclasses
import re
import string
from typing import Any, Callable, Iterable, Mapping

from biomed_jax.data import objectives
from biomed_jax.data import readers
from biomed_jax.data.families import (CANDIDATES_CLOSED_FROM_TRAIN, CANDIDATES_FROM_OPTIONS,
                                      CANDIDATES_FROM_TRAIN, FAMILIES, IMAGE_FAMILIES)
from biomed_jax.data.readers import catalog
from biomed_jax.data.records import DataError, Record

# Target given for a multi-label record with no positive label (ChestMNIST "normal" images).
NO_FINDING = "no finding"

# ---------------------------------------------------------------------------------------------
# Instruction templates, by prompt kind. Template 0 is the evaluation prompt; for the kinds
# BiomedGPT fine-tunes on, it is BiomedGPT's own prompt.
# ---------------------------------------------------------------------------------------------
TEMPLATES: dict[str, tuple[str, ...]] = {
    "image_classification": (
        "what does the image describe?",
        "Classify this medical image.",
        "What is the finding shown in this image?",
        "Which category does this image belong to?",
    ),
    # The sample mixture's plane task: its images are the captioning task's, so it cannot
    # share BiomedGPT's "what does the image describe?" (one input, two targets).
    "imaging_plane": (
        "which imaging plane is this slice?",
        "Classify the imaging plane of this MRI slice.",
        "Is this slice axial, coronal or sagittal?",
    ),
    "vqa": (
        "{question}[ Options: {options}]",
        "Answer the question about the medical image. Question: {question}"
        "[ Options: {options}]",
        "Question: {question}[ Options: {options}] Answer:",
        "Look at the image and answer briefly: {question}[ Choose from: {options}]",
    ),
    "caption": (
        "what does the image describe?",
        "Write a caption for this medical image.",
        "Describe the image.",
        "What is shown in this image?",
    ),
    "report": (
        "what does the image describe?",
        "Write the radiology report for this image.",
        "Describe the findings in this radiograph.",
        "Generate a report of the findings and impression.",
    ),
    "nli": (
        'can "{premise}" imply "{hypothesis}"?',
        "Premise: {premise} Hypothesis: {hypothesis} Does the premise entail or contradict the "
        "hypothesis, or is it neutral?",
        'Does "{premise}" entail "{hypothesis}"? Answer entailment, neutral or contradiction.',
    ),
    "text_classification": (
        "what is the label of: {text}",
        "Classify the following text. {text}",
        "Text: {text} Label:",
    ),
    "summarization": (
        "summarize: {document}",
        "Write a short summary of the following text. {document}",
        "{document} Summarize the text above.",
        "Summary of: {document}",
    ),
    "qa": (  # context last: truncation of a long context keeps question and options
        "{question}[ Options: {options}][ Context: {context}]",
        "Answer the medical question. Question: {question}[ Options: {options}]"
        "[ Context: {context}]",
        "Question: {question}[ Choose from: {options}][ Read the context: {context}] Answer:",
        "Give the best answer. Question: {question}[ Options: {options}][ Context: {context}]",
    ),
    "trial_matching": (  # patient first: truncating a long trial text keeps the patient
        'is the patient "{patient}" eligible for the clinical trial "{trial}"?',
        "Patient: {patient} Trial: {trial} Is the patient eligible, excluded, or is the "
        "trial not relevant?",
        "Match the patient to the trial. Patient: {patient} Trial: {trial} Answer:",
    ),
    "impression": (
        "summarize the findings: {document}",
        "Write the impression for these radiology findings. {document}",
        "Findings: {document} Impression:",
    ),
    "instruction": (
        "{instruction}[ {input}]",
        "Instruction: {instruction}[ Input: {input}] Response:",
        "Follow the instruction. {instruction}[ {input}]",
    ),
    "task_instruction": (  # Natural-Instructions / BoX: definition, examples, instance
        "{instruction}[ {examples}] Input: {input} Output:",
        "Definition: {instruction} Now complete the following example. Input: {input} Output:",
        "{instruction} {input}",
    ),
    "dialogue": (
        "[{instruction} ]{input}",
        "Answer the patient as a doctor would. Patient: {input}",
        "Patient: {input} Doctor:",
    ),
    "conversation": (  # the question first: truncating a long history keeps it
        "{question}[ Conversation so far: {history}]",
        "Answer the question about the medical image: {question}[ Earlier: {history}]",
        "Question: {question}[ Previous turns: {history}] Answer:",
    ),
}


# ---------------------------------------------------------------------------------------------
# Target formatters (by name, so that a Task stays a plain picklable value).
# ---------------------------------------------------------------------------------------------
def _collapse(text: str) -> str:
  return " ".join(text.split())


def format_short(text: str) -> str:
  """Labels and short answers: lower case, single spaces, no trailing period/space."""
  return _collapse(text).lower().rstrip(" .")


def format_caption(text: str) -> str:
  """Captions and reports: lower case, single spaces (punctuation kept for the metrics)."""
  return _collapse(text).lower()


def format_text(text: str) -> str:
  """Free text (summaries, instruction responses): single spaces, case kept."""
  return _collapse(text)


FORMATTERS = {"short": format_short, "caption": format_caption, "text": format_text}


def render_options(options: Any) -> str:
  """['x', 'y'] or {'A': 'x', 'B': 'y'} -> "(A) x (B) y"."""
  if isinstance(options, Mapping):
    items = [(str(k), v) for k, v in options.items()]
  else:
    items = [(string.ascii_uppercase[i], v) for i, v in enumerate(options)]
  return " ".join(f"({k}) {_collapse(str(v))}" for k, v in items if str(v).strip())


def _option_values(options: Any) -> list[str]:
  values = options.values() if isinstance(options, Mapping) else options
  return [str(v) for v in values if str(v).strip()]


_FIELD = re.compile(r"{(\w+)}")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def _field_text(value: Any, name: str) -> str:
  if value is None:
    return ""
  if name == "options":
    return render_options(value)
  if isinstance(value, (list, tuple)):
    return _collapse(" ".join(str(v) for v in value))
  return _collapse(str(value).replace("<image>", " "))


@dataclasses.dataclass(frozen=True)
class Task:
  """One trainable / evaluable task over one dataset."""
  name: str
  dataset: str  # reader registry name (biomed_jax/data/readers)
  family: str  # one of FAMILIES
  templates: tuple[str, ...]
  target_field: str
  max_source_len: int  # tokens, incl. EOS
  max_target_len: int  # tokens, incl. EOS
  metrics: tuple[str, ...]
  formatter: str = "short"  # key of FORMATTERS
  # Static tuple, CANDIDATES_* constant, or None (open generation).
  candidates: tuple[str, ...] | str | None = None
  # "required" | "optional" | "none"; "" derives it from the family (image families require
  # one). Optional: used when the record has one (LLaVA-Med conversations).
  image: str = ""
  # A pre-training objective over the dataset's text (biomed_jax/data/objectives.py) and the
  # fields it reads; "" for a supervised task.
  objective: str = ""
  text_fields: tuple[str, ...] = ()

  def __post_init__(self):
    if self.family not in FAMILIES:
      raise ValueError(f"task {self.name}: unknown family {self.family!r}")
    if self.formatter not in FORMATTERS:
      raise ValueError(f"task {self.name}: unknown formatter {self.formatter!r}")
    if not self.templates:
      raise ValueError(f"task {self.name}: no templates")
    if self.image not in ("", "required", "optional", "none"):
      raise ValueError(f"task {self.name}: image must be required/optional/none")

  @property
  def image_use(self) -> str:
    if self.image:
      return self.image
    return "required" if self.family in IMAGE_FAMILIES else "none"

  @property
  def uses_image(self) -> bool:
    return self.image_use != "none"

  def format_target(self, text: str) -> str:
    return FORMATTERS[self.formatter](text)

  def target(self, record: Record) -> str:
    """The record's normalised target text; DataError when it is missing or empty."""
    value = record.fields.get(self.target_field)
    if isinstance(value, (list, tuple)):  # multi-label: positives in published order
      value = ", ".join(str(v) for v in value) or NO_FINDING
    if value is None:
      raise DataError(record.dataset, record.source, record.id,
                      f"missing field {self.target_field!r}")
    text = self.format_target(str(value))
    if not text:
      raise DataError(record.dataset, record.source, record.id,
                      f"empty field {self.target_field!r}")
    return text

  def source(self, record: Record, template_index: int = 0) -> str:
    """The instruction text of one template; DataError on a missing/empty required field."""
    template = self._resolved_template(record, template_index)
    values = {}
    for name in _FIELD.findall(template):
      value = record.fields.get(name)
      text = _field_text(value, name)
      if not text:
        raise DataError(record.dataset, record.source, record.id,
                        f"{'missing' if value is None else 'empty'} field {name!r}")
      values[name] = text
    return _collapse(template.format(**values))

  def _resolved_template(self, record: Record, template_index: int) -> str:
    """The template with its optional parts kept or dropped for this record."""

    def optional_part(match: re.Match) -> str:
      names = _FIELD.findall(match.group(1))
      if all(not _field_text(record.fields.get(n), n) for n in names):
        return ""
      return match.group(1)

    return _OPTIONAL.sub(optional_part, self.templates[template_index % len(self.templates)])

  def fitted_source(self, record: Record, template_index: int,
                    fits: Callable[[str], bool]) -> tuple[str, bool]:
    """(instruction, whether a field was cut): when the instruction does not `fit` and its
    longest field is followed by more of the template ("{document} Summarize the text
    above."), that field keeps only as many leading words as fit, so the words after it
    survive (a cut at the end of the text would drop them; OFA also cuts the field, not the
    prompt). A template that ends with its longest field is left to the caller's cut."""
    text = self.source(record, template_index)
    template = self._resolved_template(record, template_index)
    names = [n for n in _FIELD.findall(template)  # free text: options are never cut
             if n != "options" and isinstance(record.fields.get(n), str)]
    if fits(text) or not names:
      return text, False
    longest = max(names, key=lambda n: len(_field_text(record.fields.get(n), n)))
    if template.rstrip().endswith("{%s}" % longest):
      return text, False
    words = _field_text(record.fields.get(longest), longest).split()

    def with_words(n: int) -> str:
      fields = {**record.fields, longest: " ".join(words[:n])}
      return self.source(dataclasses.replace(record, fields=fields), template_index)

    low, high = 1, len(words)  # the most words that fit, by bisection; at least one word
    while low < high:
      middle = (low + high + 1) // 2
      low, high = (middle, high) if fits(with_words(middle)) else (low, middle - 1)
    return with_words(low), True

  def render(self, record: Record, template_index: int = 0) -> tuple[str, str]:
    """(instruction, target) texts of a record."""
    return self.source(record, template_index), self.target(record)

  def example_candidates(self, record: Record) -> tuple[str, ...] | None:
    """Per-example candidates (the record's options) for CANDIDATES_FROM_OPTIONS tasks."""
    if self.candidates != CANDIDATES_FROM_OPTIONS or not record.fields.get("options"):
      return None
    return tuple(self.format_target(v) for v in _option_values(record.fields["options"]))

  def candidate_answers(self, train_records: Iterable[Record] = ()) -> tuple[str, ...] | None:
    """The task-level candidate set: static, or derived from the training records.

    Records whose target is missing are ignored here (the pipeline reports them).
    """
    if isinstance(self.candidates, tuple):
      return tuple(self.format_target(c) for c in self.candidates)
    if self.candidates not in (CANDIDATES_FROM_TRAIN, CANDIDATES_CLOSED_FROM_TRAIN):
      return None
    answers = set()
    for record in train_records:
      if (self.candidates == CANDIDATES_CLOSED_FROM_TRAIN and
          str(record.fields.get("answer_type", "")).upper() != "CLOSED"):
        continue
      try:
        answers.add(self.target(record))
      except DataError:
        continue
    return tuple(sorted(answers))


# ---------------------------------------------------------------------------------------------
# The registry.
# ---------------------------------------------------------------------------------------------
TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
  """Adds a task (e.g. a user's own dataset); names are unique."""
  if task.name in TASKS:
    raise ValueError(f"task {task.name!r} is already registered")
  TASKS[task.name] = task
  return task


def get_task(name: str) -> Task:
  """A registered task; "task@i,j": that task trained on its templates i and j only
  (evaluation uses the first listed); "objective:task": a pre-training objective over the
  task's text (biomed_jax/data/objectives.py). Derived on demand, so worker processes get
  them too."""
  objective, plain = objectives.split_name(name)
  if objective:
    return objectives.derive(objective, get_task(plain), name)
  base, sep, indices = name.partition("@")
  try:
    task = TASKS[base]
  except KeyError:
    raise KeyError(f"unknown task {base!r}; registered: {', '.join(sorted(TASKS))}") from None
  if not sep:
    return task
  try:
    chosen = tuple(task.templates[int(i)] for i in indices.split(","))
  except (ValueError, IndexError):
    raise KeyError(f"task {name!r}: templates are indices 0-{len(task.templates) - 1}, "
                   f"comma-separated") from None
  return dataclasses.replace(task, name=name, templates=chosen)


def evaluated_by_default(mixture_names) -> list[str]:
  """The tasks a run evaluates when config.eval.tasks is empty: the mixture's supervised
  tasks (pre-training objectives train only)."""
  return [name for name in mixture_names if not get_task(name).objective]


def from_settings(spec) -> Task:
  """The Task of a registered dataset (a readers.ReaderSpec with `task` settings)."""
  settings = spec.task
  return Task(name=spec.name, dataset=spec.name, family=spec.family,
              templates=TEMPLATES[settings.kind], target_field=settings.target,
              max_source_len=settings.lengths[0], max_target_len=settings.lengths[1],
              metrics=settings.metrics, formatter=settings.formatter,
              candidates=settings.candidates, image=settings.image)


for _spec in readers.READERS.values():
  if _spec.task is not None:
    register(from_settings(_spec))

SAMPLE_TASKS = readers.SAMPLE_TASKS
MEDMNIST_SUBSETS = catalog.MEDMNIST_SUBSETS
