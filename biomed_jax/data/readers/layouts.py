"""Where each dataset comes from and the exact folder layout its reader expects.

Each text is shown in full when a folder or file is missing. `<root>` is the folder given to
the reader; under a common data root (`prepare --dataset=all --manual_dir=DATA`) it is
DATA/<folder>, with <folder> named on the first line.
"""

VQA_RAD = """\
VQA-RAD (Lau et al. 2018) -- folder `vqa_rad/`.
Get it from https://osf.io/89kps/ ("VQA_RAD Dataset Public.json" and "VQA_RAD Image Folder").
Expected layout:
  <root>/VQA_RAD Dataset Public.json    list of {qid, image_name, question, answer,
                                        answer_type: CLOSED|OPEN, phrase_type, ...}
  <root>/VQA_RAD Image Folder/<image_name>.jpg
Split: phrase_type test_freeform / test_para -> test, everything else -> train."""

SLAKE = """\
SLAKE 1.0 (Liu et al. 2021) -- folder `slake/`.
Get Slake1.0.zip from https://www.med-vqa.com/slake/ (also BoKelvin/SLAKE on the Hugging Face
hub) and unzip it. Expected layout:
  <root>/train.json, <root>/validate.json, <root>/test.json   lists of {qid, img_name,
        question, answer, q_lang: en|zh, answer_type: CLOSED|OPEN, ...}
  <root>/imgs/xmlab<N>/source.jpg      (img_name is "xmlab<N>/source.jpg")
Only English questions (q_lang == "en") are read."""

PATH_VQA = """\
PathVQA (He et al. 2020) -- folder `path_vqa/`.
Get the `pvqa` folder linked from https://github.com/UCSD-AI4H/PathVQA. Expected layout:
  <root>/qas/train/train_qa.pkl, qas/val/val_qa.pkl, qas/test/test_qa.pkl
        pickled lists of {image: "train_0422", question, answer}
  <root>/images/train/train_0422.jpg, images/val/..., images/test/..."""

PMC_VQA = """\
PMC-VQA (Zhang et al. 2023) -- folder `pmc_vqa/`.
Get train.csv, test.csv and images.zip from https://huggingface.co/datasets/xmcmic/PMC-VQA
and unzip images.zip in the same folder. Expected layout:
  <root>/train.csv, <root>/test.csv   columns Figure_path, Question, Answer, Choice A,
        Choice B, Choice C, Choice D, Answer_label
  <root>/images/<Figure_path>         e.g. images/PMC1064097_F1.jpg"""

MEDMNIST = """\
MedMNIST v2 / MedMNIST+ (Yang et al. 2023) -- folder `medmnist/` (shared by all subsets).
Get the npz files from https://zenodo.org/records/10519652 (or with the `medmnist` package's
download). Expected layout:
  <root>/<flag>.npz               28 px, e.g. pathmnist.npz, chestmnist.npz
  <root>/<flag>_64.npz, _128.npz, _224.npz   (optional larger sizes)
  arrays: train_images, train_labels, val_images, val_labels, test_images, test_labels
<flag>.npz is read when present, else the largest size available."""

IU_XRAY = """\
IU X-ray, R2Gen release (Chen et al. 2020) -- folder `iu_xray/`.
Get iu_xray.zip from the link in https://github.com/zhjohnchan/R2Gen and unzip it.
Expected layout:
  <root>/annotation.json   {"train"|"val"|"test": [{id, report, image_path: [..], split}]}
  <root>/images/<id>/0.png, <root>/images/<id>/1.png   (paths as in image_path)"""

MIMIC_CXR = """\
MIMIC-CXR, R2Gen release (Johnson et al. 2019; Chen et al. 2020) -- folder `mimic_cxr/`.
Images need credentialed access at https://physionet.org/content/mimic-cxr-jpg/; the
annotation.json is R2Gen's (https://github.com/zhjohnchan/R2Gen). Expected layout:
  <root>/annotation.json   {"train"|"val"|"test": [{id, study_id, subject_id, report,
        image_path: ["p10/p10000032/s50414267/<dicom_id>.jpg"], split}]}
  <root>/images/p10/p10000032/s50414267/<dicom_id>.jpg"""

ROCO = """\
ROCO (Pelka et al. 2018), radiology part -- folder `roco/`.
Clone https://github.com/razorx89/roco-dataset (captions) and fetch the images with its
scripts/fetch.py; <root> is the repository's data/ folder. Expected layout:
  <root>/{train,validation,test}/radiology/captions.txt   lines "ROCO_00002<TAB>caption"
  <root>/{train,validation,test}/radiology/images/ROCO_00002.jpg
        (or images/<PMCID>_<file>.jpg as fetch.py names them, resolved via dlinks*.txt)"""

PEIR_GROSS = """\
PEIR Gross (Jing et al. 2018) -- folder `peir_gross/`.
Build it with https://github.com/nlpaueb/bioCaption (get_peir_gross.py / download_peir_gross),
which crawls the PEIR digital library's Gross collection. Expected layout:
  <root>/train_images.tsv, <root>/test_images.tsv   lines "<image file><TAB>caption"
  <root>/peir_gross_images/<image file>"""

MEDNLI = """\
MedNLI 1.0.0 (Romanov & Shivade 2018) -- folder `mednli/`.
Credentialed access at https://physionet.org/content/mednli/. Expected layout:
  <root>/mli_train_v1.jsonl, mli_dev_v1.jsonl, mli_test_v1.jsonl
        one {sentence1, sentence2, gold_label, pairID, ...} per line"""

MEQSUM = """\
MeQSum (Ben Abacha & Demner-Fushman 2019) -- folder `meqsum/`.
Get the workbook from https://github.com/abachaa/MeQSum. Expected layout:
  <root>/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx   columns File, CHQ, Summary
No published split: data rows 1-500 -> train, 501-600 -> validation, the rest -> test."""

HEALTHCAREMAGIC = """\
HealthCareMagic-100k, ChatDoctor release (Li et al. 2023) -- folder `chatdoctor/`.
Get it from the links in https://github.com/Kent0n-Li/ChatDoctor. Expected layout:
  <root>/HealthCareMagic-100k.json   list of {instruction, input, output}
No published split: crc32(list position) % 100 < 90 -> train, < 95 -> validation, else test."""

ICLINIQ = """\
iCliniq, ChatDoctor release (Li et al. 2023) -- folder `chatdoctor/`.
Get it from the links in https://github.com/Kent0n-Li/ChatDoctor. Expected layout:
  <root>/iCliniq.json   list of {input, answer_icliniq, answer_chatgpt, answer_chatdoctor}
output = answer_icliniq. No published split: crc32(list position) % 100 < 90 -> train,
< 95 -> validation, else test."""

PUBMEDQA = """\
PubMedQA, PQA-L (Jin et al. 2019) -- folder `pubmedqa/`.
Get data/ori_pqal.json and data/test_ground_truth.json from
https://github.com/pubmedqa/pubmedqa. Expected layout:
  <root>/ori_pqal.json           {PMID: {QUESTION, CONTEXTS, LABELS, MESHES, LONG_ANSWER,
                                 final_decision: yes|no|maybe}}
  <root>/test_ground_truth.json  {PMID: decision}  (the 500 test PMIDs)
train/validation: fold 0 of the publisher's preprocess/split_dataset.py."""

MEDQA = """\
MedQA, USMLE (Jin et al. 2021) -- folder `medqa/`.
Get data_clean.zip from https://github.com/jind11/MedQA; <root> is
data_clean/questions/US (5 options) or its 4_options/ folder. Expected layout:
  <root>/train.jsonl, dev.jsonl, test.jsonl   (4_options: phrases_no_exclude_<split>.jsonl)
        one {question, options: {A: .., ...}, answer, answer_idx, meta_info} per line"""

MEDMCQA = """\
MedMCQA (Pal et al. 2022) -- folder `medmcqa/`.
Get data.zip from https://github.com/medmcqa/medmcqa. Expected layout:
  <root>/train.json, <root>/dev.json   one {id, question, opa, opb, opc, opd, cop: 1-4, exp,
        subject_name, topic_name} per line
The public test.json has no answers and is not read."""

BIOINSTRUCT = """\
BioInstruct (Tran et al. 2024) -- folder `bioinstruct/`.
Get biomed_instruct_25k.json from https://huggingface.co/datasets/bio-nlp-umass/bioinstruct.
Expected layout:
  <root>/biomed_instruct_25k.json (or bioinstruct.json)   list (or JSON lines) of
        {instruction, input, output}
Training data only (split "train")."""

LLAVA_MED = """\
LLaVA-Med instruct (Li et al. 2023) -- folder `llava_med/`.
Get llava_med_instruct_10k.json from https://github.com/microsoft/LLaVA-Med and the images
with its llava/data/download_images.py. Expected layout:
  <root>/llava_med_instruct_10k.json   list of {id, image, conversations: [{from: human|gpt,
        value}]}   (_60k / _60k_inline_mention files are read if the 10k one is absent)
  <root>/images/<image>
Training data only (split "train")."""

BOX = """\
BoX (Parmar et al. 2022) or any Natural-Instructions v2 tasks -- folder `box/`.
Task files as in https://github.com/allenai/natural-instructions (tasks/*.json); BoX's
definitions and examples are in https://github.com/Mihir3009/In-BoXBART (templates/).
Expected layout:
  <root>/tasks/task<N>_<name>.json   {Definition: [text], Positive Examples: [{input, output,
        explanation}], Instances: [{id, input, output: [..]}], ...}
  <root>/splits/default/test_tasks.txt   held-out task names, one a line (optional)
Held-out tasks -> test; the others' instances: crc32(id) % 100 < 95 -> train, else
validation (no split file: 90/5/5 over all instances)."""

SAMPLE = """\
The sample mixture shipped with biomed_jax -- folder `sample/` (default: the package's
biomed_jax/assets/sample). Expected layout:
  <root>/<task>/train.jsonl, <root>/<task>/validation.jsonl (+ <root>/<task>/images/)
        one {id, image: "images/<file>.png" | null, <fields>} per line"""

SHENZHEN = """\
Shenzhen chest X-ray set (Jaeger et al. 2014) -- folder `shenzhen/`.
Get ChinaSet_AllFiles.zip from
https://data.lhncbc.nlm.nih.gov/public/Tuberculosis-Chest-X-ray-Datasets/Shenzhen-Hospital-CXR-Set/
and unzip it (<root> may hold ChinaSet_AllFiles/).
Expected layout:
  <root>/CXR_png/CHNCXR_0001_0.png     suffix _0 normal, _1 tuberculosis
  <root>/ClinicalReadings/CHNCXR_0001_0.txt   "male 45yrs" then the reading (optional)
No published split: crc32(image id) % 100 < 70 -> train, < 80 -> validation, else test."""

MONTGOMERY = """\
Montgomery County chest X-ray set (Jaeger et al. 2014) -- folder `montgomery/`.
Get NLM-MontgomeryCXRSet.zip from
https://data.lhncbc.nlm.nih.gov/public/Tuberculosis-Chest-X-ray-Datasets/Montgomery-County-CXR-Set/
and unzip it (<root> may hold MontgomerySet/). Expected layout:
  <root>/CXR_png/MCUCXR_0001_0.png     suffix _0 normal, _1 tuberculosis
  <root>/ClinicalReadings/MCUCXR_0001_0.txt   "Patient's Sex: F", "Patient's Age: 040Y",
                                        then the reading (optional)
No published split: crc32(image id) % 100 < 70 -> train, < 80 -> validation, else test."""

RSNA_PNEUMONIA = """\
RSNA Pneumonia Detection Challenge (2018) -- folder `rsna_pneumonia/`.
Get rsna-pneumonia-detection-challenge.zip from
https://www.kaggle.com/c/rsna-pneumonia-detection-challenge/data and unzip it. Expected layout:
  <root>/stage_2_train_labels.csv          patientId, x, y, width, height, Target (one row
                                           per opacity box; Target 1 = pneumonia)
  <root>/stage_2_detailed_class_info.csv   patientId, class (optional)
  <root>/stage_2_train_images/<patientId>.dcm
The test images have no labels. Split: crc32(patientId) % 100 < 90 -> train, < 95 ->
validation, else test (the zero-shot evaluation split)."""

CBIS_DDSM = """\
CBIS-DDSM (Lee et al. 2017) -- folder `cbis_ddsm/`.
Get the DICOM images with the NBIA Data Retriever and the four case-description CSVs from
https://www.cancerimagingarchive.net/collection/cbis-ddsm/. Expected layout:
  <root>/mass_case_description_{train,test}_set.csv, calc_case_description_{train,test}_set.csv
        columns patient_id, left or right breast, image view, abnormality id, abnormality type,
        pathology (MALIGNANT | BENIGN | BENIGN_WITHOUT_CALLBACK), image file path, ...
  <root>/CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/<study UID>/<series UID>/1-1.dcm
        (the full mammogram; when the CSV's UIDs differ from the download's, the one .dcm
        under the first folder is used). Label: benign / malignant."""

MIMIC_III = """\
MIMIC-III Clinical Database 1.4 (Johnson et al. 2016), radiology notes -- folder `mimic_iii/`.
Credentialed access at https://physionet.org/content/mimiciii/1.4/. Expected layout:
  <root>/NOTEEVENTS.csv.gz (or NOTEEVENTS.csv)   ROW_ID, ..., CATEGORY, DESCRIPTION, ISERROR, TEXT
Radiology notes: FINDINGS section -> IMPRESSION section. No published split: crc32(ROW_ID)
% 100 < 90 -> train, < 95 -> validation, else test."""

MIMIC_CXR_REPORTS = """\
MIMIC-CXR 2.0 reports, findings -> impression -- folder `mimic_cxr_reports/`.
Johnson et al. 2019. Credentialed access: mimic-cxr-reports.zip from
https://physionet.org/content/mimic-cxr/ and mimic-cxr-2.0.0-split.csv.gz from
https://physionet.org/content/mimic-cxr-jpg/. Expected layout:
  <root>/files/p10/p10000032/s50414267.txt   one free-text report per study
  <root>/mimic-cxr-2.0.0-split.csv.gz        dicom_id, study_id, subject_id, split
                                             (train | validate | test)"""

TREC_CT = """\
TREC 2022 Clinical Trials track -- folder `trec_ct_2022/`.
Get topics2022.xml, qrels2022.txt and ClinicalTrials.2021-04-27.part{1..5}.zip from
https://www.trec-cds.org/2022.html and unzip the parts. Expected layout:
  <root>/topics2022.xml     <topics><topic number="1">patient description</topic>...
  <root>/qrels2022.txt      lines "topic 0 NCT00000102 relevance" (0 not relevant,
                            1 excluded, 2 eligible)
  <root>/<part>/NCT0000xxxx/NCT00000102.xml   ClinicalTrials.gov records
Split by topic: crc32("topic N") % 100 < 70 -> train, < 80 -> validation, else test."""

BIOASQ = """\
BioASQ Task B (Tsatsaronis et al. 2015), yes/no questions -- folder `bioasq/`.
Register at http://participants-area.bioasq.org/datasets/ and get the Task B training set
and the gold test batches of the following year. Expected layout:
  <root>/training<N>b.json     {"questions": [{id, type, body, exact_answer, ideal_answer,
                               snippets: [{text, ...}], ...}]}
  <root>/<N+1>B<k>_golden.json the test batches' gold files (optional; test split)
train/validation: crc32(question id) % 100 < 90 -> train, else validation."""
