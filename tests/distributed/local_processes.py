"""Runs `python -m biomed_jax.main` as N local JAX processes, coordinator on localhost: the
way a pod runs it, one process per host, every process with the same command."""

import os
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def process_env(index: int, count: int, devices: int, port: int,
                cache_dir: str | None = None) -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO,
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  # A shared persistent compilation cache can let one process load the train step while the
  # other still compiles it; Gloo gives a late process only 30 s to join a communicator.
  if cache_dir:
    env.update(JAX_COMPILATION_CACHE_DIR=cache_dir,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  if count > 1:
    env.update(JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=str(count),
               JAX_PROCESS_ID=str(index))
  return env


def start(args: list[str], *, count: int, devices: int, log_dir: str,
          cache_dir: str | None = None,
          module: str = "biomed_jax.main") -> list[subprocess.Popen]:
  """Starts `count` processes of `python -m MODULE ARGS`, logs in log_dir/p<i>.log."""
  port = free_port()
  os.makedirs(log_dir, exist_ok=True)
  processes = []
  for index in range(count):
    log = open(os.path.join(log_dir, f"p{index}.log"), "ab")
    processes.append(subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT, env=process_env(index, count, devices, port, cache_dir)))
    log.close()
  return processes


def wait(processes, log_dir: str, timeout: float = 1800) -> None:
  """Waits for every process; any failure (or a timeout) kills the others and raises with
  the tail of each log."""
  try:
    codes = [p.wait(timeout=timeout) for p in processes]
  except subprocess.TimeoutExpired:
    codes = None
  if codes != [0] * len(processes):
    for p in processes:
      if p.poll() is None:
        p.kill()
        p.wait()
    tails = []
    for index in range(len(processes)):
      with open(os.path.join(log_dir, f"p{index}.log"), errors="replace") as f:
        tails.append(f"--- process {index}:\n" + "".join(f.readlines()[-15:]))
    raise AssertionError(f"exit codes {codes}\n" + "\n".join(tails))


def run(args: list[str], *, count: int, devices: int, log_dir: str,
        cache_dir: str | None = None, timeout: float = 1800,
        module: str = "biomed_jax.main") -> None:
  wait(start(args, count=count, devices=devices, log_dir=log_dir, cache_dir=cache_dir,
             module=module), log_dir, timeout)
