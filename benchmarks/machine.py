"""The machine a benchmark ran on, and the versions it ran, for its results file."""

from importlib import metadata
import os
import platform


def describe() -> str:
  cpu = "unknown CPU"
  if os.path.exists("/proc/cpuinfo"):
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          cpu = line.split(":", 1)[1].strip()
          break
  memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
  return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.system()}"


def versions(packages=("jax", "jaxlib", "flax", "optax", "grain")) -> str:
  """Python and the installed versions of `packages`."""
  found = []
  for package in packages:
    try:
      found.append(f"{package} {metadata.version(package)}")
    except metadata.PackageNotFoundError:
      pass
  return f"Python {platform.python_version()}, {', '.join(found)}"
