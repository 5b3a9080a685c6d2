"""The PyTorch OFA reference (the port in the `modelscope` wheel), loaded as a small package.

Only `modelscope/models/multi_modal/ofa/` is taken from the wheel (downloaded once with
`pip download --no-deps` into a cache folder); those files import just torch and transformers,
except the ViT backbone of OFA-Sys models (not BiomedGPT), which imports fairseq's LayerNorm:
a stand-in module provides torch's, so nothing of modelscope or fairseq is installed.
"""

import importlib
import fcntl
import os
import subprocess
import sys
import types
import zipfile

WHEEL = "modelscope==1.40.2"
_PACKAGE = "ofa_reference_port"
_PREFIX = "modelscope/models/multi_modal/ofa/"


def _cache_dir() -> str:
  base = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
  return os.path.join(base, "biomed_jax", WHEEL.replace("==", "-"))


def _extract() -> str:
  root = _cache_dir()
  os.makedirs(root, exist_ok=True)
  with open(os.path.join(root, ".lock"), "w") as lock:  # test workers may extract at once
    fcntl.flock(lock, fcntl.LOCK_EX)
    return _extract_locked(root)


def _extract_locked(root: str) -> str:
  target = os.path.join(root, _PACKAGE)
  if os.path.exists(os.path.join(target, "modeling_ofa.py")):
    return root
  subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", root],
                 check=True)
  wheel = next(f for f in os.listdir(root) if f.startswith("modelscope-") and f.endswith(".whl"))
  with zipfile.ZipFile(os.path.join(root, wheel)) as archive:
    for name in archive.namelist():
      if name.startswith(_PREFIX) and name.endswith(".py"):
        relative = name[len(_PREFIX):]
        if relative == "__init__.py":  # the wheel's imports the speech and tokenizer modules
          continue
        path = os.path.join(target, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
          f.write(archive.read(name))
  for folder, _, _ in os.walk(target):
    open(os.path.join(folder, "__init__.py"), "a").close()
  return root


def load():
  """The reference's modeling_ofa module (OFAModel, OFAConfig via .OFAConfig)."""
  if "fairseq.modules" not in sys.modules:
    import torch
    fairseq = types.ModuleType("fairseq")
    fairseq.modules = types.ModuleType("fairseq.modules")
    fairseq.modules.LayerNorm = torch.nn.LayerNorm
    sys.modules["fairseq"] = fairseq
    sys.modules["fairseq.modules"] = fairseq.modules
  root = _extract()
  if root not in sys.path:
    sys.path.insert(0, root)
  return importlib.import_module(f"{_PACKAGE}.modeling_ofa")
