"""Tiny copies of each dataset in its publisher's layout, written by the tests.

Every writer takes a folder, lays the dataset out there exactly as published (file names,
keys, column names, image folders) with 2-5 records, and returns the folder. The record
contents are module constants so tests can assert against the published values.
"""

import json
import os
import pickle
import zipfile
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image


def write_image(path: str, mode: str = "L", size=(12, 10), value: int = 90) -> str:
  """A small real image file; the format follows the extension (.jpg/.png)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  color = value if mode == "L" else (value, 255 - value, 40)
  Image.new(mode, size, color).save(path)
  return path


def write_json(path: str, data) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(data, f, indent=2, ensure_ascii=False)
  return path


def write_jsonl(path: str, rows, raw_lines: dict[int, str] | None = None) -> str:
  """JSON lines; raw_lines inserts verbatim text before the given 0-based row positions."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  raw_lines = raw_lines or {}
  with open(path, "w", encoding="utf-8") as f:
    for position, row in enumerate(rows):
      if position in raw_lines:
        f.write(raw_lines[position] + "\n")
      f.write(json.dumps(row, ensure_ascii=False) + "\n")
  return path


# ---------------------------------------------------------------------------------------------
VQA_RAD_ITEMS = [
    {"qid": 0, "image_name": "synpic54610.jpg",
     "image_case_url": "https://medpix.nlm.nih.gov/case?id=1",
     "image_organ": "HEAD", "answer": "Yes", "answer_type": "CLOSED", "question_type": "PRES",
     "question": "Is there evidence of an aortic aneurysm?", "phrase_type": "freeform",
     "evaluation": "not evaluated", "question_rephrase": "NULL", "question_relation": "NULL",
     "question_frame": "NULL", "qid_linked_id": "03f451ca-de62-4617-9679-e836026a7642"},
    {"qid": 1, "image_name": "synpic54610.jpg", "image_organ": "HEAD", "answer": 2,
     "answer_type": "OPEN", "question_type": "COUNT", "question": "How many lesions are seen?",
     "phrase_type": "para", "evaluation": "given"},
    {"qid": 2, "image_name": "synpic42202.jpg", "image_organ": "CHEST", "answer": "Left lung ",
     "answer_type": "OPEN ", "question_type": "POS", "question": "Where is the mass?",
     "phrase_type": "test_freeform", "evaluation": "given"},
    {"qid": 3, "image_name": "synpic42202.jpg", "image_organ": "CHEST", "answer": "no",
     "answer_type": "CLOSED", "question_type": "PRES", "question": "Is the heart enlarged?",
     "phrase_type": "test_para", "evaluation": "given"},
]


def write_vqa_rad(root: str, items=None) -> str:
  write_json(os.path.join(root, "VQA_RAD Dataset Public.json"),
             VQA_RAD_ITEMS if items is None else items)
  for name in ("synpic54610.jpg", "synpic42202.jpg"):
    write_image(os.path.join(root, "VQA_RAD Image Folder", name))
  return root


def _slake(qid, img_id, question, answer, answer_type, lang="en"):
  return {"img_id": img_id, "img_name": f"xmlab{img_id}/source.jpg", "question": question,
          "answer": answer, "q_lang": lang, "location": "Abdomen", "modality": "MRI",
          "answer_type": answer_type, "base_type": "vqa", "content_type": "Organ",
          "triple": ["vhead", "_", "_"], "qid": qid}


SLAKE_SPLITS = {
    "train.json": [_slake(9835, 0, "What modality is used to take this image?", "MRI", "OPEN"),
                   _slake(9836, 0, "图中的器官是什么?", "肝脏", "OPEN", lang="zh"),
                   _slake(9838, 0, "Does the picture contain liver?", "Yes", "CLOSED")],
    "validate.json": [_slake(9845, 10, "Which part of the body does this image belong to?",
                             "Abdomen", "OPEN")],
    "test.json": [_slake(1, 102, "Is the lung healthy?", "No", "CLOSED")],
}


def write_slake(root: str, splits=None) -> str:
  for name, items in (SLAKE_SPLITS if splits is None else splits).items():
    write_json(os.path.join(root, name), items)
  for img_id in (0, 10, 102):
    write_image(os.path.join(root, "imgs", f"xmlab{img_id}", "source.jpg"), mode="RGB")
  return root


PATH_VQA_SPLITS = {
    "train": [{"image": "train_0422", "question": "What have lost their nuclei?",
               "answer": "neutrophils"},
              {"image": "train_0001", "question": "Is this lung?", "answer": "yes"}],
    "val": [{"image": "val_0261", "question": "Does this image show a normal liver?",
             "answer": "no"}],
    "test": [{"image": "test_0007", "question": "What is present?", "answer": "abscess"}],
}


def write_path_vqa(root: str, splits=None, skip_images=()) -> str:
  for part, items in (PATH_VQA_SPLITS if splits is None else splits).items():
    os.makedirs(os.path.join(root, "qas", part), exist_ok=True)
    with open(os.path.join(root, "qas", part, f"{part}_qa.pkl"), "wb") as f:
      pickle.dump(items, f)
    os.makedirs(os.path.join(root, "images", part), exist_ok=True)
    for item in items:
      if item["image"] not in skip_images:
        write_image(os.path.join(root, "images", part, f"{item['image']}.jpg"), mode="RGB")
  return root


PMC_VQA_HEADER = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C",
                  "Choice D", "Answer_label"]
PMC_VQA_TRAIN = [
    ["PMC1064097_F1.jpg", "What is the uptake pattern in the breast?", "Focal uptake pattern",
     "A:Diffuse uptake pattern", "B:Focal uptake pattern", "C:No uptake pattern",
     "D:Cannot determine from the information given", "B"],
    ["PMC2000000_F3.jpg", "Which imaging modality, was used?", "B: CT scan",
     " A: MRI", " B: CT scan", " C: PET", " D: Ultrasound", "B"],
]
PMC_VQA_TEST = [
    ["PMC3000000_F2.jpg", 'What does the "arrow" indicate?', "A lesion",
     "A:A lesion", "B:A vessel", "C:A cyst", "D:Normal tissue", "A"],
]


def write_pmc_vqa(root: str, train=None, answer_column_in_test: str = "Anwser") -> str:
  import csv  # pylint: disable=g-import-not-at-top
  os.makedirs(root, exist_ok=True)
  for name, rows, header in (
      ("train.csv", PMC_VQA_TRAIN if train is None else train, PMC_VQA_HEADER),
      ("test.csv", PMC_VQA_TEST,
       [answer_column_in_test if c == "Answer" else c for c in PMC_VQA_HEADER])):
    with open(os.path.join(root, name), "w", newline="", encoding="utf-8") as f:
      writer = csv.writer(f)
      writer.writerow(header)
      writer.writerows(rows)
      for row in rows:
        write_image(os.path.join(root, "images", row[0]), mode="RGB")
  return root


# ---------------------------------------------------------------------------------------------
def medmnist_arrays(seed: int, n: int, rgb: bool, size: int = 28) -> np.ndarray:
  shape = (n, size, size, 3) if rgb else (n, size, size)
  return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def write_medmnist(root: str, flag: str, labels: dict[str, np.ndarray], rgb: bool,
                   size: int = 28) -> dict[str, np.ndarray]:
  """Writes <flag>[_size].npz as np.savez_compressed; returns the image arrays per npz split."""
  os.makedirs(root, exist_ok=True)
  arrays = {}
  images = {}
  for i, (part, part_labels) in enumerate(labels.items()):
    images[part] = medmnist_arrays(i, len(part_labels), rgb, size)
    arrays[f"{part}_images"] = images[part]
    arrays[f"{part}_labels"] = np.asarray(part_labels, dtype=np.uint8)
  name = f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"
  np.savez_compressed(os.path.join(root, name), **arrays)
  return images


# ---------------------------------------------------------------------------------------------
IU_XRAY_ANNOTATION = {
    "train": [{"id": "CXR2384_IM-0942",
               "report": "The heart size and pulmonary vascularity appear within normal limits. "
                         "The lungs are free of focal airspace disease.",
               "image_path": ["CXR2384_IM-0942/0.png", "CXR2384_IM-0942/1.png"],
               "split": "train"},
              {"id": "CXR2926_IM-1328",
               "report": "Cardiomegaly. No pneumothorax or pleural effusion.",
               "image_path": ["CXR2926_IM-1328/0.png", "CXR2926_IM-1328/1.png"],
               "split": "train"}],
    "val": [{"id": "CXR1000_IM-0003", "report": "No acute cardiopulmonary abnormality.",
             "image_path": ["CXR1000_IM-0003/0.png", "CXR1000_IM-0003/1.png"],
             "split": "val"}],
    "test": [{"id": "CXR3_IM-1384", "report": "Normal chest x-XXXX.",
              "image_path": ["CXR3_IM-1384/0.png", "CXR3_IM-1384/1.png"], "split": "test"}],
}


def write_r2gen(root: str, annotation) -> str:
  write_json(os.path.join(root, "annotation.json"), annotation)
  for items in annotation.values():
    for item in items:
      for relative in item["image_path"]:
        write_image(os.path.join(root, "images", relative))
  return root


MIMIC_ANNOTATION = {
    "train": [{"id": "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014", "study_id": 50414267,
               "subject_id": 10000032,
               "report": "There is no focal consolidation, pleural effusion or pneumothorax.",
               "image_path": ["p10/p10000032/s50414267/"
                              "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg"],
               "split": "train"}],
    "val": [{"id": "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab", "study_id": 53189527,
             "subject_id": 10000032, "report": "No acute cardiopulmonary process.",
             "image_path": ["p10/p10000032/s53189527/"
                            "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.jpg"],
             "split": "val"}],
    "test": [{"id": "68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714", "study_id": 53911762,
              "subject_id": 10000032, "report": "Single frontal view of the chest.",
              "image_path": ["p10/p10000032/s53911762/"
                             "68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714.jpg"],
              "split": "test"}],
}

ROCO_CAPTIONS = {
    "train": [("ROCO_00002", " Computed tomography scan in axial view showing obliteration "
                             "of the left maxillary sinus."),
              ("ROCO_00003", " Bacterial contamination occurred after completion of root "
                             "canal treatment.")],
    "validation": [("ROCO_81834", " Axial MRI (coronal view).")],
    "test": [("ROCO_00001", " Axial MRI (coronal view)."),
             ("ROCO_00006", "  Coronal plain computed tomography image showing multiple large "
                            "tumor masses.")],
}
# The test split's ROCO_00006 image is stored under fetch.py's <PMCID>_<file> name.
ROCO_DLINK = ("ROCO_00006\twget -r ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_package/69/93/"
              "PMC3498864.tar.gz -P /path/to/Dir\tjovr-04-256f2.jpg")


def write_roco(root: str) -> str:
  for split, rows in ROCO_CAPTIONS.items():
    folder = os.path.join(root, split, "radiology")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "captions.txt"), "w", encoding="utf-8") as f:
      f.writelines(f"{rid}\t{caption}\n" for rid, caption in rows)
    for rid, _ in rows:
      name = "PMC3498864_jovr-04-256f2.jpg" if rid == "ROCO_00006" else f"{rid}.jpg"
      write_image(os.path.join(folder, "images", name), mode="RGB")
  with open(os.path.join(root, "test", "radiology", "dlinks.txt"), "w") as f:
    f.write(ROCO_DLINK + "\n")
  return root


PEIR_SPLITS = {
    "train_images.tsv": [("Aorta_atherosclerosis_1.jpg",
                          "Aorta: Atherosclerosis Severe Ulcerative Lesions gross"),
                         ("Brain_glioblastoma_2.jpg",
                          "Brain: Glioblastoma Multiforme gross natural color")],
    "test_images.tsv": [("Liver_cirrhosis_3.jpg", "Liver: Micronodular Cirrhosis gross")],
}


def write_peir_gross(root: str) -> str:
  os.makedirs(root, exist_ok=True)
  for name, rows in PEIR_SPLITS.items():
    with open(os.path.join(root, name), "w", encoding="utf-8") as f:
      f.writelines(f"{image}\t{caption}\n" for image, caption in rows)
    for image, _ in rows:
      write_image(os.path.join(root, "peir_gross_images", image), mode="RGB")
  return root


# ---------------------------------------------------------------------------------------------
def mednli_row(pair_id, premise, hypothesis, label):
  return {"sentence1": premise, "sentence2": hypothesis, "gold_label": label, "pairID": pair_id,
          "sentence1_parse": "(ROOT ...)", "sentence1_binary_parse": "( ... )",
          "sentence2_parse": "(ROOT ...)", "sentence2_binary_parse": "( ... )"}


MEDNLI_SPLITS = {
    "mli_train_v1.jsonl": [
        mednli_row("23eb94b8-66c7-11e7-a8dc-f45c89b91419", "Labs were notable for Cr 1.7 "
                   "(baseline 0.5 per old records) and lactate 2.4.",
                   "Patient has elevated Cr", "entailment"),
        mednli_row("23eb9a99-66c7-11e7-9c60-f45c89b91419", "Labs were notable for Cr 1.7.",
                   "Patient has normal Cr", "contradiction")],
    "mli_dev_v1.jsonl": [mednli_row("d0c9b3ce-6b3c-11e7-b06e-f45c89b91419",
                                    "He was started on heparin.", "He has a clot.", "neutral")],
    "mli_test_v1.jsonl": [mednli_row("ab2fd2e6-6b3c-11e7-9e7f-f45c89b91419",
                                     "No known drug allergies.", "He is allergic to penicillin.",
                                     "contradiction")],
}


def write_mednli(root: str, splits=None) -> str:
  for name, rows in (MEDNLI_SPLITS if splits is None else splits).items():
    write_jsonl(os.path.join(root, name), rows)
  return root


# MeQSum rows (File, CHQ, Summary); written as Excel writes them: shared strings, one rich-text
# string, one inline string, and an empty row between header and data.
MEQSUM_ROWS = [
    ("1-131188152.xml", "SUBJECT: who and where to get cetirizine - D\nMESSAGE: I need/want to "
                        "know who manufscturs Cetirizine.", "Who manufactures cetirizine?"),
    ("15410.xml", "SUBJECT: vdrl positive\nMESSAGE: vdrl positive medication",
     "What are the treatments for vdrl positive?"),
    ("1-132635455.xml", "Can I take Advil with amoxicillin?",
     "Can ibuprofen be taken with amoxicillin?"),
]


def _cell(ref: str, value: str, shared: list[str], kind: str = "s") -> str:
  if kind == "inlineStr":
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
  shared.append(value)
  return f'<c r="{ref}" t="s"><v>{len(shared) - 1}</v></c>'


def write_xlsx(path: str, header: list[str], rows: list[tuple[str, ...]],
               rich_text_row: int | None = 1, blank_row_after_header: bool = True) -> str:
  """A minimal workbook in Excel's own part layout (shared strings, rels, one sheet)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  shared: list[str] = []
  sheet_rows = []
  cells = "".join(_cell(f"{chr(65 + c)}1", v, shared) for c, v in enumerate(header))
  sheet_rows.append(f'<row r="1">{cells}</row>')
  row_number = 3 if blank_row_after_header else 2
  rich_index = None
  for i, row in enumerate(rows):
    cells = []
    for c, value in enumerate(row):
      ref = f"{chr(65 + c)}{row_number}"
      if i == 2 and c == 2:
        cells.append(_cell(ref, value, shared, kind="inlineStr"))
      else:
        if i == rich_text_row and c == 1:
          rich_index = len(shared)
        cells.append(_cell(ref, value, shared))
    sheet_rows.append(f'<row r="{row_number}">{"".join(cells)}</row>')
    row_number += 1
  main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
  items = []
  for index, value in enumerate(shared):
    if index == rich_index:  # split into two formatted runs, plus a phonetic run to ignore
      half = len(value) // 2
      items.append(f'<si><r><rPr><b/></rPr><t>{escape(value[:half])}</t></r>'
                   f'<r><t xml:space="preserve">{escape(value[half:])}</t></r>'
                   f'<rPh sb="0" eb="1"><t>ignored</t></rPh></si>')
    else:
      items.append(f'<si><t xml:space="preserve">{escape(value)}</t></si>')
  parts = {
      "[Content_Types].xml":
          '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
          'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
          'officedocument.spreadsheetml.sheet.main+xml"/></Types>',
      "_rels/.rels":
          '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
          'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http:'
          '//schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
          'Target="xl/workbook.xml"/></Relationships>',
      "xl/workbook.xml":
          f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="http://'
          'schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
          '<sheet name="Sheet1" sheetId="1" r:id="rId3"/></sheets></workbook>',
      "xl/_rels/workbook.xml.rels":
          '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
          'openxmlformats.org/package/2006/relationships"><Relationship Id="rId3" Type="http:'
          '//schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
          'Target="worksheets/sheet1.xml"/><Relationship Id="rId4" Type="http://schemas.'
          'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
          'Target="sharedStrings.xml"/></Relationships>',
      "xl/sharedStrings.xml":
          f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{main}" count="{len(shared)}" '
          f'uniqueCount="{len(shared)}">{"".join(items)}</sst>',
      "xl/worksheets/sheet1.xml":
          f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}"><sheetData>'
          f'{"".join(sheet_rows)}</sheetData></worksheet>',
  }
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
    for name, content in parts.items():
      archive.writestr(name, content)
  return path


def write_meqsum(root: str, rows=None) -> str:
  write_xlsx(os.path.join(root, "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"),
             ["File", "CHQ", "Summary"], MEQSUM_ROWS if rows is None else rows)
  return root


HEALTHCAREMAGIC_ITEMS = [
    {"instruction": "If you are a doctor, please answer the medical questions based on the "
                    "patient's description.",
     "input": f"I have had a headache for {n} days.", "output": f"Answer number {n}."}
    for n in range(12)
]
ICLINIQ_ITEMS = [
    {"input": f"Hello doctor, question {n}.", "answer_icliniq": f"Hi, answer {n}.",
     "answer_chatgpt": "As an AI ...", "answer_chatdoctor": "Hello ..."} for n in range(6)
]


def write_chatdoctor(root: str) -> str:
  write_json(os.path.join(root, "HealthCareMagic-100k.json"), HEALTHCAREMAGIC_ITEMS)
  write_json(os.path.join(root, "iCliniq.json"), ICLINIQ_ITEMS)
  return root


# ---------------------------------------------------------------------------------------------
def _pqal(question, decision, contexts=("Background sentence.", "Results sentence.")):
  return {"QUESTION": question, "CONTEXTS": list(contexts), "LABELS": ["BACKGROUND", "RESULTS"],
          "MESHES": ["Humans"], "YEAR": "2011", "reasoning_required_pred": decision,
          "reasoning_free_pred": decision, "final_decision": decision,
          "LONG_ANSWER": f"Long answer: {decision}."}


PUBMEDQA_ITEMS = {
    "21645374": _pqal("Do mitochondria play a role in remodelling lace plant leaves during "
                      "programmed cell death?", "yes",
                      ("Programmed cell death (PCD) is the regulated death of cells.",
                       "The following paper elucidates the role of mitochondrial dynamics.")),
    "16418930": _pqal("Landolt C and snellen e acuity: differences in strabismus amblyopia?",
                      "no"),
    "9488747": _pqal("Syncope during bathing in infants?", "yes"),
    "17208539": _pqal("Are the long-term results of the transanal pull-through equal?", "no"),
    "10808977": _pqal("Can tailored interventions increase mammography use?", "yes"),
    "23831910": _pqal("Double balloon enteroscopy: is it efficacious?", "maybe"),
    "26037986": _pqal("30-Day mortality in emergency laparotomies?", "yes"),
    "25587859": _pqal("Is there a connection between sublingual varices and hypertension?",
                      "maybe"),
}
PUBMEDQA_TEST = {"16418930": "no", "23831910": "maybe"}


def write_pubmedqa(root: str, items=None) -> str:
  write_json(os.path.join(root, "ori_pqal.json"), PUBMEDQA_ITEMS if items is None else items)
  write_json(os.path.join(root, "test_ground_truth.json"), PUBMEDQA_TEST)
  return root


def medqa_row(question, options, answer_idx, meta="step1"):
  return {"question": question, "answer": options[answer_idx], "options": options,
          "meta_info": meta, "answer_idx": answer_idx}


MEDQA_SPLITS = {
    "train.jsonl": [
        medqa_row("A 23-year-old pregnant woman at 22 weeks gestation presents with burning "
                  "upon urination. Which of the following is the best treatment?",
                  {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Ciprofloxacin",
                   "D": "Doxycycline", "E": "Nitrofurantoin"}, "E"),
        medqa_row("Which enzyme is deficient?", {"A": "Hexokinase", "B": "Glucokinase",
                                                 "C": "Aldolase B", "D": "Fructokinase",
                                                 "E": "Galactokinase"}, "C", "step2&3")],
    "dev.jsonl": [medqa_row("Most likely diagnosis?", {"A": "Asthma", "B": "COPD",
                                                       "C": "Pneumonia", "D": "Sarcoidosis",
                                                       "E": "Tuberculosis"}, "B")],
    "test.jsonl": [medqa_row("Next best step?", {"A": "CT", "B": "MRI", "C": "X-ray",
                                                 "D": "Biopsy", "E": "Observe"}, "D")],
}


def write_medqa(root: str, raw_lines=None) -> str:
  for name, rows in MEDQA_SPLITS.items():
    write_jsonl(os.path.join(root, name), rows, raw_lines if name == "train.jsonl" else None)
  return root


def medmcqa_row(rid, question, options, cop, subject="Anatomy"):
  return {"question": question, "exp": "Explanation.", "cop": cop, "opa": options[0],
          "opb": options[1], "opc": options[2], "opd": options[3], "subject_name": subject,
          "topic_name": None, "id": rid, "choice_type": "single"}


MEDMCQA_SPLITS = {
    "train.json": [
        medmcqa_row("e9ad821a-c438-4965-9f77-760819dfa155", "Chronic urethral obstruction due "
                    "to benign prismatic hyperplasia can lead to the following change in "
                    "kidney parenchyma", ["Hyperplasia", "Hyperophy", "Atrophy", "Dyplasia"], 3),
        medmcqa_row("e3d3c4e1-4fb2-45e7-9f88-247cc8f373b3", "Which vitamin is supplied from "
                    "only animal source:", ["Vitamin C", "Vitamin B7", "Vitamin B12",
                                            "Vitamin D"], 3, "Biochemistry"),
        medmcqa_row("5c38bea6-787a-44a9-b2df-88f4218ab914", "All of the following are features "
                    "of X except", ["a", "b", "c", "d"], 4)],
    "dev.json": [medmcqa_row("45258d3d-b974-44dd-a161-c3fccbdadd88", "Which of the following "
                             "is not true for myelinated nerve fibers:",
                             ["Impulse through myelinated fibers is slower",
                              "Membrane currents are generated at nodes of Ranvier",
                              "Saltatory conduction", "Local anesthesia is effective"], 1,
                             "Physiology")],
}


def write_medmcqa(root: str, splits=None) -> str:
  for name, rows in (MEDMCQA_SPLITS if splits is None else splits).items():
    write_jsonl(os.path.join(root, name), rows)
  return root


BIOINSTRUCT_ITEMS = [
    {"instruction": "Summarize the clinical note in one sentence.",
     "input": "Patient is a 54-year-old male with chest pain radiating to the left arm.",
     "output": "A 54-year-old man presents with chest pain radiating to the left arm."},
    {"instruction": "List three common side effects of metformin.", "input": "",
     "output": "Diarrhea, nausea and abdominal discomfort."},
]


def write_bioinstruct(root: str) -> str:
  write_json(os.path.join(root, "biomed_instruct_25k.json"), BIOINSTRUCT_ITEMS)
  return root


LLAVA_MED_ITEMS = [
    {"id": "10.1155/2014/935932_F1", "image": "10.1155_2014_935932_F1.jpg",
     "conversations": [
         {"from": "human", "value": "What is the main finding in the image?\n<image>"},
         {"from": "gpt", "value": "The image shows a large mass in the right kidney."},
         {"from": "human", "value": "Is there calcification?"},
         {"from": "gpt", "value": "Yes, there are small calcifications."}]},
    {"id": "PMC4083729_F2", "image": "PMC4083729_F2.jpg",
     "conversations": [{"from": "human", "value": "<image>\nDescribe the modality."},
                       {"from": "gpt", "value": "It is an axial CT scan."}]},
]


def write_llava_med(root: str, items=None) -> str:
  items = LLAVA_MED_ITEMS if items is None else items
  write_json(os.path.join(root, "llava_med_instruct_10k.json"), items)
  for item in items:
    write_image(os.path.join(root, "images", item["image"]), mode="RGB")
  return root
