"""The pure-Python PTB tokenisation against Stanford CoreNLP 3.4.1, coco-caption's tokenizer.

The expected token lines below are the Java tokenizer's own output
(`java -cp stanford-corenlp-3.4.1.jar edu.stanford.nlp.process.PTBTokenizer -preserveLines
-lowerCase`, the jar shipped inside the pycocoevalcap wheel); the test then applies
coco-caption's punctuation filter to them. When `java` is on PATH the jar is also run live on
the same sentences and on tricky fragments.
"""

import importlib.util
import os
import shutil
import subprocess

import pytest

from biomed_jax.metrics import ptb_tokenize

# pycocoevalcap/tokenizer/ptbtokenizer.py, copied: coco-caption drops these after tokenising.
COCO_PUNCTUATIONS = ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!",
                     ",", ":", "-", "--", "...", ";"]

JAVA_TOKENIZED = [
    ("The heart size is normal. The lungs are clear; no pneumothorax, effusion, or "
     "consolidation.",
     "the heart size is normal . the lungs are clear ; no pneumothorax , effusion , or "
     "consolidation ."),
    ("Stable 1.5 cm nodule in the right upper lobe (series 3, image 45).",
     "stable 1.5 cm nodule in the right upper lobe -lrb- series 3 , image 45 -rrb- ."),
    ("Interval placement of a left-sided PICC line and/or dual-lumen catheter.",
     "interval placement of a left-sided picc line and/or dual-lumen catheter ."),
    ("Patient's heart isn't enlarged, it's within normal limits and we'll follow up.",
     "patient 's heart is n't enlarged , it 's within normal limits and we 'll follow up ."),
    ("Dr. Smith reviewed the film at 10:30 a.m. on Jan. 5, 2014 - see prior study.",
     "dr. smith reviewed the film at 10:30 a.m. on jan. 5 , 2014 - see prior study ."),
    ('T2-weighted MRI shows a 3x4 cm mass; 50% of cases are benign... "Classic" appearance!',
     "t2-weighted mri shows a 3x4 cm mass ; 50 % of cases are benign ... `` classic '' "
     "appearance !"),
    ("Findings:[1] normal {none} 2.3x1.8x1.1cm lesion; 1,000 cells/mm3 at 37.5°C.",
     "findings : -lsb- 1 -rsb- normal -lcb- none -rcb- 2.3 x1 .8 x1 .1 cm lesion ; 1,000 "
     "cells/mm3 at 37.5 ° c."),
    ("Don't can't won't cannot I'm you're they've",
     "do n't ca n't wo n't can not i 'm you 're they 've"),
    ("Right lower lobe opacity, likely atelectasis.No change. Fig. 2 shows ca. 5 mm x 3 mm.",
     "right lower lobe opacity , likely atelectasis.no change . fig. 2 shows ca. 5 mm x 3 mm ."),
    ("HE staining ×200 magnification; scale bar = 50 µm. “Ground-glass” opacity… etc.",
     "he staining × 200 magnification ; scale bar = 50 µm . `` ground-glass '' opacity ... etc."),
    ("α-SMA and β-catenin positive; Ki-67 <5%; ER/PR 1:100; ½ of cases; £5 @home #tag",
     "α-sma and β-catenin positive ; ki-67 < 5 % ; er/pr 1:100 ; 1/2 of cases ; # 5 @home #tag"),
    ("a man riding a wave on top of a surfboard .",
     "a man riding a wave on top of a surfboard ."),
]

# Fragments glued together without spaces stress the longest-match rules.
TRICKY = [
    "abc.def abc.Def abc.1def abc.def. abc.def, abc.-def x-ray.the abc-def.ghi",
    "etc. The Rt. the Lt. The Inc.r/o no. 5 no. fig. approx. 5 pt. 5 U.S. The x. The",
    "o'clock rock'n'roll 'em '90s y'all d'Arcy l'hopital patients' 'tis 'twas",
    "http://www.example.com/a.html www.example.com foo@bar.comtx. grouphttp://roco.org/a.png",
    "5-10 1-2 10-mm 1.5-cm 2-3cm 50-60% -5 +3 ±2 ~5 >5 <5 =5 1.5-2.0 3+4=7",
    "1/2 3/4 11/12/2014 5 1/2 T1/T2 w/o s/p (555) 123-4567 US$5 €5 ¢5",
    "hello!! what?! ... …  -- --- ---- ----- - -text text- *abc* a*b ^^ || \\\\ C++ AT&T R&D",
    "(a) [b] {c} <d> <less >greater 'quoted' \"double\" `` '' ‘single’ — – :) ;d x",
]


def _coco_filter(java_line: str) -> str:
  return " ".join(w for w in java_line.split(" ") if w not in COCO_PUNCTUATIONS)


@pytest.mark.parametrize("text,java_line", JAVA_TOKENIZED)
def test_matches_recorded_java_output(text, java_line):
  assert ptb_tokenize(text) == _coco_filter(java_line)


def test_brackets_survive_because_filter_runs_after_lowercasing():
  # coco-caption lists "-LRB-" but the Java step already lower-cased it to "-lrb-".
  assert ptb_tokenize("mass (arrow)") == "mass -lrb- arrow -rrb-"


def test_blank_and_newlines():
  assert ptb_tokenize("") == ""
  assert ptb_tokenize("  \n ") == ""
  assert ptb_tokenize("No acute\ndisease.") == "no acute disease"


def _corenlp_jar() -> str | None:
  spec = importlib.util.find_spec("pycocoevalcap")
  if spec is None or not spec.submodule_search_locations:
    return None
  jar = os.path.join(list(spec.submodule_search_locations)[0], "tokenizer",
                     "stanford-corenlp-3.4.1.jar")
  return jar if os.path.exists(jar) else None


@pytest.mark.skipif(shutil.which("java") is None or _corenlp_jar() is None,
                    reason="needs java and pycocoevalcap's CoreNLP jar")
def test_matches_live_java_tokenizer(tmp_path):
  lines = [t for t, _ in JAVA_TOKENIZED] + TRICKY
  path = tmp_path / "captions.txt"
  path.write_text("\n".join(lines), encoding="utf-8")
  out = subprocess.run(
      ["java", "-cp", _corenlp_jar(), "edu.stanford.nlp.process.PTBTokenizer",
       "-preserveLines", "-lowerCase", str(path)],
      capture_output=True, check=True, timeout=120).stdout.decode("utf-8").split("\n")
  for text, java_line in zip(lines, out):
    assert ptb_tokenize(text) == _coco_filter(java_line.rstrip()), text
