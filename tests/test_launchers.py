"""Every launcher's --dry-run prints the exact commands: the config and the bucket workdir,
every host (all workers of every slice, every SLURM task), --multihost, nothing run."""

import os
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = ["--config=configs/xlarge_instruct.py", "--workdir=gs://bucket/runs/xl"]


def _dry_run(script, *args):
  result = subprocess.run([sys.executable, os.path.join(REPO, "launch", script), "--dry-run",
                           *args], capture_output=True, text=True, check=True, cwd=REPO,
                          env=dict(os.environ, PATH="/nonexistent"))  # no gcloud, xpk, srun
  return [shlex.split(line) for line in result.stdout.splitlines()
          if line and not line.startswith("#")]


def _run_flags(command_text):
  """The biomed_jax.main flags inside a remote command line."""
  words = shlex.split(command_text)
  return words[words.index("biomed_jax.main") + 1:]


def test_tpu_vm_multislice_ships_installs_once_and_starts_every_host():
  commands = _dry_run("tpu_vm.py", "train", "--name=bx", "--zone=us-east5-a",
                      "--num_slices=2", "--commit=" + "a" * 40, *TRAIN, "--",
                      "--config.train.num_steps=10")
  assert commands[0][:3] == ["git", "-C", REPO] and "a" * 40 in commands[0]
  starts = [c for c in commands if "nohup" in " ".join(c)]
  assert [c[5] for c in starts] == ["bx-0", "bx-1"]  # both slices
  for start in starts:
    assert "--worker=all" in start and "--zone=us-east5-a" in start
    remote = next(w for w in start if w.startswith("--command="))[len("--command="):]
    flags = _run_flags(remote.split(">")[0])
    assert flags == [*TRAIN, "--multihost", "--config.train.num_steps=10"]
  installs = [c for c in commands if ".installed" in " ".join(c)]
  assert [c[5] for c in installs] == ["bx-0", "bx-1"]
  assert all("!= " + "a" * 40 in " ".join(c) for c in installs)  # skipped when installed
  assert _dry_run("tpu_vm.py", "up", "--name=bx", "--zone=z", "--accelerator=v5p-64",
                  "--num_slices=2") == [[
                      "gcloud", "compute", "tpus", "queued-resources", "create", "bx",
                      "--accelerator-type=v5p-64", "--runtime-version=v2-alpha-tpuv5",
                      "--node-count=2", "--node-prefix=bx", "--zone=z"]]
  logs, = _dry_run("tpu_vm.py", "logs", "--name=bx", "--zone=z")
  assert "--worker=0" in logs and any("tail" in w and "-F" in w for w in logs)
  assert len(_dry_run("tpu_vm.py", "stop", "--name=bx", "--zone=z", "--num_slices=2")) == 2
  down, = _dry_run("tpu_vm.py", "down", "--name=bx", "--zone=z")
  assert down[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "delete", "bx"]


def test_tpu_vm_refuses_a_local_workdir():
  result = subprocess.run([sys.executable, "launch/tpu_vm.py", "train", "--name=bx",
                           "--zone=z", "--config=configs/demo.py", "--workdir=/tmp/x",
                           "--dry-run"], capture_output=True, text=True, cwd=REPO)
  assert result.returncode != 0 and "must be a gs:// bucket path" in result.stderr


def test_gke_xpk_workload_runs_the_command_in_every_slice():
  create, = _dry_run("gke_xpk.py", "train", "--cluster=c", "--workload=xl",
                     "--tpu_type=v5p-64", "--num_slices=2", *TRAIN)
  assert create[:3] == ["xpk", "workload", "create"]
  assert {"--workload=xl", "--tpu-type=v5p-64", "--num-slices=2", "--cluster=c",
          f"--script-dir={REPO}"} <= set(create)
  command = next(w for w in create if w.startswith("--command="))
  assert _run_flags(command) == [*TRAIN, "--multihost"]
  stop, = _dry_run("gke_xpk.py", "stop", "--cluster=c", "--workload=xl")
  assert stop[:3] == ["xpk", "workload", "delete"] and "--workload=xl" in stop


def test_slurm_one_process_per_gpu_on_every_node():
  lines = _dry_run("slurm.py", "--nodes=4", "--gpus_per_node=8", "--partition=gpu",
                   "--config=configs/large_instruct.py", "--workdir=/shared/runs/l")
  srun = next(line for line in lines if line[0] == "srun")
  assert srun[1:3] == ["--nodes=4", "--ntasks-per-node=8"]  # 32 processes
  assert _run_flags(" ".join(srun)) == ["--config=configs/large_instruct.py",
                                        "--workdir=/shared/runs/l", "--multihost"]
  assert lines[-1][0] == "sbatch"
  per_node = _dry_run("slurm.py", "--nodes=2", "--gpus_per_node=4", "--per=node",
                      "--config=configs/demo.py", "--workdir=gs://b/r")
  assert ["export", "JAX_LOCAL_DEVICE_IDS=0,1,2,3"] in per_node
  assert next(line for line in per_node if line[0] == "srun")[2] == "--ntasks-per-node=1"
