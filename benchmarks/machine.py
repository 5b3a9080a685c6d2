"""The machine a benchmark ran on, and the versions it ran, for its results file."""

from importlib import metadata
import os
import platform
import statistics


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


def spread(values, fmt: str = "{:.2f}") -> str:
  """'median (min-max)' of one side's rounds."""
  return (f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-"
          f"{fmt.format(max(values))})")


def append_results(path: str, header: str, text: str) -> None:
  """Appends `text` to a results file, writing `header` first when the file is new."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  new = not os.path.exists(path)
  with open(path, "a", encoding="utf-8") as f:
    if new:
      f.write(header)
    f.write(text)
