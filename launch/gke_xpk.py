r"""GKE TPU clusters through xpk (pip install xpk): a workload of one or more slices.

  python launch/gke_xpk.py train --cluster=C --workload=W --tpu_type=v5p-64 [--num_slices=2] \
      --config=C --workdir=gs://... [--docker_image=IMAGE | --base_docker_image=IMAGE] \
      [-- extra biomed_jax.main flags]
  python launch/gke_xpk.py logs|stop --cluster=C --workload=W

Every action takes --dry-run (print the exact commands). `train` runs `xpk workload create`:
xpk builds an image from this checkout (--script-dir) on top of --base_docker_image unless a
ready --docker_image is given, and starts the same command in every pod of every slice
(JAX finds its peers through GKE's environment). `logs` follows process 0's pod, `stop`
deletes the workload (its pods get SIGTERM: each saves its checkpoint shards first).
"""

import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from launch import common  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A JAX-on-TPU base image; the checkout is installed on top of it.
BASE_IMAGE = "python:3.11-slim"


def _xpk(args, *words) -> list[str]:
  return ["xpk", "workload", *words, f"--cluster={args.cluster}",
          *([f"--project={args.project}"] if args.project else []),
          *([f"--zone={args.zone}"] if args.zone else [])]


def train(args) -> list[list[str]]:
  common.check_bucket(args.workdir)
  command = shlex.join(common.training_command("python", args.config, args.workdir,
                                               args.extra))
  if args.docker_image:
    image = [f"--docker-image={args.docker_image}"]
  else:  # xpk copies --script-dir into the image: install the checkout first
    image = [f"--base-docker-image={args.base_docker_image}", f"--script-dir={REPO}"]
    command = f"pip install -q -e '.[tpu]' && {command}"
  return [_xpk(args, "create", f"--workload={args.workload}", f"--tpu-type={args.tpu_type}",
               f"--num-slices={args.num_slices}", *image, f"--command={command}")]


def logs(args) -> list[list[str]]:
  selector = (f"jobset.sigs.k8s.io/jobset-name={args.workload},"
              "jobset.sigs.k8s.io/job-index=0,batch.kubernetes.io/job-completion-index=0")
  return [["kubectl", "logs", "--follow", "--tail=-1", f"--selector={selector}"]]


def stop(args) -> list[list[str]]:
  return [_xpk(args, "delete", f"--workload={args.workload}")]


ACTIONS = {"train": train, "logs": logs, "stop": stop}


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("action", choices=ACTIONS)
  parser.add_argument("--cluster", required=True)
  parser.add_argument("--workload", required=True)
  parser.add_argument("--project", default="")
  parser.add_argument("--zone", default="")
  parser.add_argument("--tpu_type", default="", help="per slice, e.g. v5p-64")
  parser.add_argument("--num_slices", type=int, default=1)
  parser.add_argument("--docker_image", default="")
  parser.add_argument("--base_docker_image", default=BASE_IMAGE)
  parser.add_argument("--config", default="")
  parser.add_argument("--workdir", default="")
  common.add_dry_run_flag(parser)
  args = common.parse_with_extra(parser, argv)
  if args.action == "train" and not (args.config and args.workdir and args.tpu_type):
    parser.error("train needs --config, --workdir and --tpu_type")
  return args


def main(argv=None):
  common.run_action(ACTIONS, parse, argv)


if __name__ == "__main__":
  main()
