"""Instruction and dialogue data: ChatDoctor's HealthCareMagic-100k and iCliniq, BioInstruct,
LLaVA-Med instruct, and Natural-Instructions task files (In-BoXBART's BoX).

Fields: instruction, input, output; LLaVA-Med: question, answer and history (one record per
exchange of a conversation, the earlier exchanges as history). None of these publish a split:
HealthCareMagic and iCliniq are split by `common.hash_split` of the record id (90/5/5);
BioInstruct and LLaVA-Med are training data only.
"""

import os

from biomed_jax.data.readers import common
from biomed_jax.data.records import Record

# ---------------------------------------------------------------------------------------------
# ChatDoctor: HealthCareMagic-100k.json, a list of {instruction, input, output};
# iCliniq.json, a list of {input, answer_icliniq, answer_chatgpt, answer_chatdoctor}.
# Ids are list positions.


def _scan_chatdoctor(dataset: str, path: str, split: str, output_key: str,
                     extra_keys: tuple[str, ...]) -> common.ScanResult:
  for index, item in common.load_json_records(dataset, path):
    if isinstance(item, common.BadRecord):
      yield item
      continue
    record_id = str(index)
    if common.hash_split(record_id) != split:
      continue
    fields = {
        "instruction": common.text(item.get("instruction")),
        "input": common.text(item.get("input")),
        "output": common.text(item.get(output_key)),
    }
    fields.update({key: common.text(item.get(key)) for key in extra_keys if key in item})
    yield Record(dataset=dataset, split=split, id=record_id, source=path, fields=fields)


def scan_healthcaremagic(dataset: str, root: str, split: str) -> common.ScanResult:
  path = common.require(dataset, os.path.join(root, "HealthCareMagic-100k.json"))
  return _scan_chatdoctor(dataset, path, split, "output", ())


def scan_icliniq(dataset: str, root: str, split: str) -> common.ScanResult:
  path = common.require(dataset, os.path.join(root, "iCliniq.json"))
  return _scan_chatdoctor(dataset, path, split, "answer_icliniq",
                          ("answer_chatgpt", "answer_chatdoctor"))


# ---------------------------------------------------------------------------------------------
# BioInstruct (Tran et al. 2024): biomed_instruct_25k.json as published on the Hugging Face hub
# (bioinstruct.json accepted too), a JSON list or JSON lines of {instruction, input, output}.
BIOINSTRUCT_FILES = ("biomed_instruct_25k.json", "bioinstruct.json")


def scan_bioinstruct(dataset: str, root: str, split: str) -> common.ScanResult:
  del split  # training data only
  path = common.first_existing(dataset, root, BIOINSTRUCT_FILES)
  for position, item in common.load_json_records(dataset, path):
    if isinstance(item, common.BadRecord):
      yield item
      continue
    yield Record(dataset=dataset, split="train", id=str(position), source=path, fields={
        "instruction": common.text(item.get("instruction")),
        "input": common.text(item.get("input")),
        "output": common.text(item.get("output")),
    })


# ---------------------------------------------------------------------------------------------
# LLaVA-Med: llava_med_instruct_10k.json (also _60k, _60k_inline_mention), a list of
# {id, image, conversations: [{from: human|gpt, value}]}; images/<image> as written by
# llava/data/download_images.py. Every human/gpt exchange is one record, id "<id>#<turn>"
# (turn from 1), carrying the exchanges before it as its history, so a conversation of k
# exchanges trains k answers. The "<image>" placeholder is dropped from the text: the image
# travels in Record.images (every turn of the conversation is about it); an item without an
# image is text-only.
LLAVA_MED_FILES = ("llava_med_instruct_10k.json", "llava_med_instruct_60k.json",
                   "llava_med_instruct_60k_inline_mention.json")
_IMAGE_TOKEN = "<image>"


def _without_image_token(value: str) -> str:
  return value.replace(_IMAGE_TOKEN, "").strip()


def conversation_history(texts: list[str]) -> str:
  """Earlier exchanges [q1, a1, q2, a2, ...] as one text: "Q: q1 A: a1 Q: q2 A: a2"."""
  return " ".join(f"{'Q' if i % 2 == 0 else 'A'}: {t}" for i, t in enumerate(texts))


def scan_llava_med(dataset: str, root: str, split: str) -> common.ScanResult:
  del split  # training data only
  path = common.first_existing(dataset, root, LLAVA_MED_FILES)
  image_dir = os.path.join(root, "images")  # needed only by items that name an image
  items = common.expect_list(dataset, path, common.load_json(dataset, path))
  for index, item in enumerate(items):
    record_id = common.text(item.get("id")).strip() if isinstance(item, dict) else ""
    if not record_id:
      yield common.BadRecord(dataset, path, f"#{index}", "not an object with an id",
                             common.MALFORMED)
      continue
    turns = item.get("conversations")
    turns = turns if isinstance(turns, list) else []
    roles = [t.get("from") if isinstance(t, dict) else None for t in turns]
    expected = ["human" if i % 2 == 0 else "gpt" for i in range(len(roles))]
    if not roles or len(roles) % 2 or roles != expected:
      yield common.BadRecord(dataset, path, record_id,
                             f"conversations must alternate human/gpt in pairs, got {roles}",
                             common.MALFORMED)
      continue
    texts = [_without_image_token(common.text(t.get("value"))) for t in turns]
    image = common.text(item.get("image")).strip()
    images = (os.path.join(image_dir, image),) if image else ()
    for turn in range(len(texts) // 2):
      yield Record(dataset=dataset, split="train", id=f"{record_id}#{turn + 1}", source=path,
                   images=images, fields={
                       "question": texts[2 * turn], "answer": texts[2 * turn + 1],
                       "history": conversation_history(texts[:2 * turn]),
                       "turn": str(turn + 1)})


# ---------------------------------------------------------------------------------------------
# Natural-Instructions v2 task files (Wang et al. 2022), the format of In-BoXBART's BoX
# (Parmar et al. 2022): one JSON object per task, tasks/task<N>_<name>.json, with Definition
# (a list of one text, or a text), Positive Examples [{input, output, explanation}] and
# Instances [{id, input, output: [..]}]. BoX's own instruction file spells the keys
# "Definition:" and "Examples"; both spellings are read. Held-out tasks: the names listed in
# splits/default/test_tasks.txt form the test split (unseen tasks, for zero-shot); the
# other tasks' instances are split 95/5 into train/validation by hash of the instance id.
# Without a split file every task's instances are split 90/5/5.
NI_TEST_TASKS = os.path.join("splits", "default", "test_tasks.txt")
_EXAMPLES_SHOWN = 2
_EXAMPLE_CHARS = 300  # so a long example cannot push the instance out of the prompt


def _first_text(value) -> str:
  if isinstance(value, list):
    value = value[0] if value else ""
  return common.text(value).strip()


def _rendered_examples(examples) -> str:
  shown = []
  for example in (examples if isinstance(examples, list) else [])[:_EXAMPLES_SHOWN]:
    if isinstance(example, dict):
      shown.append(f"Example input: {_first_text(example.get('input'))[:_EXAMPLE_CHARS]} "
                   f"Example output: {_first_text(example.get('output'))[:_EXAMPLE_CHARS]}")
  return " ".join(shown)


def _task_files(dataset: str, root: str) -> list[str]:
  folder = os.path.join(root, "tasks") if os.path.isdir(os.path.join(root, "tasks")) else root
  files = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".json"))
  if not files:
    raise common.MissingData(dataset, os.path.join(root, "tasks", "task<N>_<name>.json"))
  return files


def scan_natural_instructions(dataset: str, root: str, split: str) -> common.ScanResult:
  held_out = None
  if os.path.exists(os.path.join(root, NI_TEST_TASKS)):
    with open(os.path.join(root, NI_TEST_TASKS), encoding="utf-8") as f:
      held_out = {line.strip().removesuffix(".json") for line in f if line.strip()}
  for path in _task_files(dataset, root):
    task = os.path.basename(path)[:-len(".json")]
    if held_out is not None and (task in held_out) != (split == "test"):
      continue
    data = common.load_json(dataset, path)
    if not isinstance(data, dict):
      yield common.BadRecord(dataset, path, task, "not a task object", common.MALFORMED)
      continue
    definition = _first_text(data.get("Definition", data.get("Definition:")))
    examples = _rendered_examples(data.get("Positive Examples", data.get("Examples")))
    instances = data.get("Instances")
    for index, instance in enumerate(instances if isinstance(instances, list) else []):
      record_id = (common.text(instance.get("id")).strip()
                   if isinstance(instance, dict) else "") or f"{task}#{index}"
      if held_out is None and common.hash_split(record_id) != split:
        continue
      if held_out is not None and split != "test" and \
          common.hash_split(record_id, 5, 0) != split:
        continue
      if not isinstance(instance, dict):
        yield common.BadRecord(dataset, path, record_id, "instance is not an object",
                               common.MALFORMED)
        continue
      yield Record(dataset=dataset, split=split, id=record_id, source=path, fields={
          "instruction": definition, "examples": examples, "task": task,
          "input": common.text(instance.get("input")).strip(),
          "output": _first_text(instance.get("output"))})
