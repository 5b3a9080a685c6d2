"""Every fixture under one data root, each in its dataset's folder (as `prepare --dataset=all`
expects): `python tests/data/all_fixtures.py DIR` writes them."""

import os
import sys

import numpy as np

import native_fixtures as nf
import pool_fixtures as pf
from biomed_jax.data import readers
from biomed_jax.data import tasks

def write_slake_as_published(root: str) -> str:
  """SLAKE plus the kind of record its real train.json has: an empty answer (qid 9837)."""
  splits = {name: list(items) for name, items in nf.SLAKE_SPLITS.items()}
  splits["train.json"].insert(1, dict(splits["train.json"][0], qid=9837, answer=""))
  return nf.write_slake(root, splits)


NATIVE = {
    "vqa_rad": nf.write_vqa_rad, "slake": write_slake_as_published, "path_vqa": nf.write_path_vqa,
    "pmc_vqa": nf.write_pmc_vqa, "iu_xray": lambda r: nf.write_r2gen(r, nf.IU_XRAY_ANNOTATION),
    "mimic_cxr": lambda r: nf.write_r2gen(r, nf.MIMIC_ANNOTATION), "roco": nf.write_roco,
    "peir_gross": nf.write_peir_gross, "mednli": nf.write_mednli, "meqsum": nf.write_meqsum,
    "healthcaremagic": nf.write_chatdoctor, "pubmedqa": nf.write_pubmedqa,
    "medqa": nf.write_medqa, "medmcqa": nf.write_medmcqa, "bioinstruct": nf.write_bioinstruct,
    "llava_med": nf.write_llava_med,
}


def write_all(root: str) -> str:
  for name, writer in {**NATIVE, **{n: w for n, (w, _, _) in pf.EXPECTED.items()}}.items():
    writer(os.path.join(root, readers.get(name).folder))
  labels = {"train": [[0], [1], [0]], "val": [[1]], "test": [[0]]}
  chest = {"train": np.eye(14, dtype=np.uint8)[:2], "val": np.zeros((1, 14), np.uint8),
           "test": np.eye(14, dtype=np.uint8)[3:4]}
  for flag in tasks.MEDMNIST_SUBSETS:
    nf.write_medmnist(os.path.join(root, "medmnist"), flag,
                      chest if flag == "chestmnist" else labels, rgb=flag == "pathmnist")
  return root


if __name__ == "__main__":
  write_all(sys.argv[1])
