r"""SLURM GPU clusters: one sbatch job, one JAX process per GPU (or per node), with srun.

  python launch/slurm.py --nodes=4 --gpus_per_node=8 [--per=gpu|node] --config=C \
      --workdir=/shared/runs/x [--partition=P --time=24:00:00 --venv=/shared/venv] \
      [-- extra biomed_jax.main flags]

--dry-run prints the batch script and the sbatch command. Every task runs the same command;
JAX reads its coordinator (the first node), process count and id from SLURM's variables
(SLURM_JOB_NODELIST, SLURM_NTASKS, SLURM_PROCID). The workdir must be on a filesystem every
node mounts (or a gs:// bucket). SLURM sends SIGTERM before the time limit (--signal): each
process saves its checkpoint shards and exits; resubmitting resumes.
"""

import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from launch import common  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def batch_script(args) -> str:
  per_gpu = args.per == "gpu"
  tasks = args.gpus_per_node if per_gpu else 1
  python = os.path.join(args.venv, "bin", "python") if args.venv else "python"
  run = common.training_command(python, args.config, args.workdir, args.extra)
  lines = ["#!/bin/bash", f"#SBATCH --job-name={args.job_name}", f"#SBATCH --nodes={args.nodes}",
           f"#SBATCH --ntasks-per-node={tasks}", f"#SBATCH --gpus-per-node={args.gpus_per_node}",
           f"#SBATCH --time={args.time}", "#SBATCH --signal=TERM@300",
           f"#SBATCH --output={args.log_dir}/%x-%j.log"]
  if args.partition:
    lines.append(f"#SBATCH --partition={args.partition}")
  lines += ["set -euo pipefail", f"cd {shlex.quote(REPO)}"]
  if not per_gpu:  # JAX would otherwise take only GPU SLURM_LOCALID (= 0) of each node
    lines.append("export JAX_LOCAL_DEVICE_IDS=" +
                 ",".join(str(i) for i in range(args.gpus_per_node)))
  # Every task sees the node's GPUs; with one task per GPU, JAX picks GPU SLURM_LOCALID.
  srun = ["srun", f"--nodes={args.nodes}", f"--ntasks-per-node={tasks}"]
  lines.append(shlex.join([*srun, *run]))
  return "\n".join(lines) + "\n"


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--nodes", type=int, required=True)
  parser.add_argument("--gpus_per_node", type=int, default=8)
  parser.add_argument("--per", choices=("gpu", "node"), default="gpu",
                      help="one process per GPU (default) or per node")
  parser.add_argument("--partition", default="")
  parser.add_argument("--time", default="24:00:00")
  parser.add_argument("--job_name", default="biomed_jax")
  parser.add_argument("--venv", default="", help="virtual environment every node can read")
  parser.add_argument("--log_dir", default="slurm_logs")
  common.add_common_flags(parser)
  args = common.parse_with_extra(parser, argv)
  if args.nodes < 1 or args.gpus_per_node < 1:
    parser.error("--nodes and --gpus_per_node must be >= 1")
  if "://" not in args.workdir and not os.path.isabs(args.workdir):
    parser.error(f"--workdir={args.workdir} must be an absolute path on a filesystem every "
                 "node mounts, or a gs:// bucket")
  return args


def main(argv=None):
  args = parse(sys.argv[1:] if argv is None else argv)
  script = batch_script(args)
  path = os.path.join(args.log_dir, f"{args.job_name}.sbatch")
  if args.dry_run:
    print(f"# {path}\n{script}", end="")
    print(shlex.join(["sbatch", path]))
    return
  os.makedirs(args.log_dir, exist_ok=True)
  with open(path, "w") as f:
    f.write(script)
  common.execute([["sbatch", path]], dry_run=False)


if __name__ == "__main__":
  main()
