"""mergekit 0.1.5's merge methods as the oracle, installed on their own into a cache folder.

mergekit 0.1.5 requires transformers >= 5, while the T5 oracle pins transformers 4.57.1: so
it is installed once with `pip install --no-deps --target` into ~/.cache/biomed_jax/,
together with the few pure packages its merge-method modules import (pydantic and its
parts), and put on sys.path for the tests only. Its merge methods import torch and
pydantic, not transformers' model code, so the pinned transformers serves.
"""

import fcntl
import importlib
import os
import subprocess
import sys

PACKAGES = ("mergekit==0.1.5", "pydantic==2.14.4", "pydantic-core==2.50.5",
            "annotated-types==0.8.0", "typing-inspection==0.4.5")


def _target() -> str:
  base = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
  return os.path.join(base, "biomed_jax", "mergekit-0.1.5")


def load():
  """mergekit.merge_methods (merge_tensors: one tensor merged by a named method)."""
  target = _target()
  os.makedirs(os.path.dirname(target), exist_ok=True)
  with open(target + ".lock", "w") as lock:  # test workers may install at once
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not os.path.exists(os.path.join(target, "mergekit", "merge_methods", "api.py")):
      subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                      target, *PACKAGES], check=True)
  if target not in sys.path:
    sys.path.insert(0, target)
  return importlib.import_module("mergekit.merge_methods")
