r"""Cloud TPU VMs, one slice or several (multislice through queued resources), with gcloud.

  python launch/tpu_vm.py up    --name=N --zone=Z --accelerator=v5p-64 [--num_slices=2]
  python launch/tpu_vm.py train --name=N --zone=Z [--num_slices=2] --config=C --workdir=gs://... \
      [-- extra biomed_jax.main flags]
  python launch/tpu_vm.py logs|stop|down --name=N --zone=Z [--num_slices=2]

Every action takes --dry-run (print the exact commands). `train` ships the committed checkout
(`git archive HEAD`) to every host and installs it only when the commit changed (a stamp file
records the installed commit; the virtual environment is kept), then starts the same command
on every host of every slice in the background, each host logging to ~/biomed_jax_train.log.
`logs` streams process 0's log, `stop` sends SIGTERM (each host saves its checkpoint shards
and exits), `down` deletes the slice(s).
"""

import argparse
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from launch import common  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG, PID, VENV, CHECKOUT = ("biomed_jax_train.log", "biomed_jax_train.pid", "biomed_jax_venv",
                            "biomed_jax")


def _nodes(args) -> list[str]:
  """Queued resources name the slices <prefix>-0 .. <prefix>-(n-1)."""
  return [args.name] if args.num_slices == 1 else [f"{args.name}-{i}"
                                                   for i in range(args.num_slices)]


def _gcloud(args, *words) -> list[str]:
  return ["gcloud", "compute", "tpus", *words, f"--zone={args.zone}",
          *([f"--project={args.project}"] if args.project else [])]


def _ssh(args, node, script, worker="all") -> list[str]:
  return _gcloud(args, "tpu-vm", "ssh", node, f"--worker={worker}", f"--command={script}")


def commit() -> str:
  return subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], check=True,
                        capture_output=True, text=True).stdout.strip()


def up(args) -> list[list[str]]:
  if args.num_slices == 1:
    return [_gcloud(args, "tpu-vm", "create", args.name,
                    f"--accelerator-type={args.accelerator}", f"--version={args.version}")]
  return [_gcloud(args, "queued-resources", "create", args.name,
                  f"--accelerator-type={args.accelerator}", f"--runtime-version={args.version}",
                  f"--node-count={args.num_slices}", f"--node-prefix={args.name}")]


def train(args) -> list[list[str]]:
  common.check_bucket(args.workdir)
  sha = args.commit or commit()
  archive = f"biomed_jax-{sha[:12]}.tar.gz"
  local_archive = os.path.join("/tmp", archive)
  install = (
      f"set -e; if [ \"$(cat {CHECKOUT}/.installed 2>/dev/null)\" != {sha} ]; then "
      f"rm -rf {CHECKOUT} && mkdir {CHECKOUT} && tar -xzf {archive} -C {CHECKOUT} && "
      f"{{ [ -d {VENV} ] || python3 -m venv {VENV}; }} && "
      f"{VENV}/bin/pip install -q -e '{CHECKOUT}[tpu]' && echo {sha} > {CHECKOUT}/.installed; fi")
  run = common.training_command(f"../{VENV}/bin/python", args.config, args.workdir, args.extra)
  start = (f"cd {CHECKOUT} && nohup {shlex.join(run)} > ~/{LOG} 2>&1 < /dev/null & "
           f"echo $! > ~/{PID}")
  commands = [["git", "-C", REPO, "archive", "--format=tar.gz", "-o", local_archive, sha]]
  for node in _nodes(args):
    commands.append(_gcloud(args, "tpu-vm", "scp", local_archive, f"{node}:{archive}",
                            "--worker=all"))
    commands.append(_ssh(args, node, install))
  commands += [_ssh(args, node, start) for node in _nodes(args)]
  return commands


def logs(args) -> list[list[str]]:
  return [_ssh(args, _nodes(args)[0], f"tail -n +1 -F ~/{LOG}", worker="0")]


def stop(args) -> list[list[str]]:
  return [_ssh(args, node, f"kill -TERM $(cat ~/{PID}) 2>/dev/null || true")
          for node in _nodes(args)]


def down(args) -> list[list[str]]:
  if args.num_slices == 1:
    return [_gcloud(args, "tpu-vm", "delete", args.name, "--quiet")]
  return [_gcloud(args, "queued-resources", "delete", args.name, "--force", "--quiet")]


ACTIONS = {"up": up, "train": train, "logs": logs, "stop": stop, "down": down}


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("action", choices=ACTIONS)
  parser.add_argument("--name", required=True, help="TPU VM (or queued resource) name")
  parser.add_argument("--zone", required=True)
  parser.add_argument("--project", default="")
  parser.add_argument("--accelerator", default="", help="e.g. v5p-64 (per slice)")
  parser.add_argument("--num_slices", type=int, default=1)
  parser.add_argument("--version", default="v2-alpha-tpuv5", help="TPU software version")
  parser.add_argument("--config", default="")
  parser.add_argument("--workdir", default="")
  parser.add_argument("--commit", default="", help="commit to ship (default: HEAD)")
  common.add_dry_run_flag(parser)
  args = common.parse_with_extra(parser, argv)
  if args.action == "up" and not args.accelerator:
    parser.error("up needs --accelerator")
  if args.action == "train" and not (args.config and args.workdir):
    parser.error("train needs --config and --workdir")
  return args


def main(argv=None):
  common.run_action(ACTIONS, parse, argv)


if __name__ == "__main__":
  main()
