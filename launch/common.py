"""What every launcher shares: the one training command all hosts run, the workdir check,
and --dry-run (print the exact commands instead of running them)."""

import argparse
import shlex
import subprocess
import sys


def training_command(python: str, config: str, workdir: str, extra: list[str]) -> list[str]:
  """The command every process runs, on every host alike."""
  return [python, "-m", "biomed_jax.main", f"--config={config}", f"--workdir={workdir}",
          "--multihost", *extra]


def check_bucket(workdir: str) -> None:
  """Every host writes its share of each checkpoint to the workdir: it must be shared."""
  if not workdir.startswith("gs://"):
    raise SystemExit(f"error: --workdir={workdir} must be a gs:// bucket path: every host "
                     "writes its shards of each checkpoint there, and a restarted run finds "
                     "them there")


def add_dry_run_flag(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--dry-run", action="store_true",
                      help="print the exact commands instead of running them")


def add_common_flags(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--config", required=True, help="config file, e.g. configs/demo.py")
  parser.add_argument("--workdir", required=True, help="checkpoints and logs (shared by hosts)")
  add_dry_run_flag(parser)


def parse_with_extra(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
  """The launcher's flags come before `--`; what follows goes to biomed_jax.main (args.extra)."""
  own, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (
      argv, [])
  args = parser.parse_args(own)
  args.extra = extra
  if getattr(args, "num_slices", 1) < 1:
    parser.error("--num_slices must be >= 1")
  return args


def run_action(actions: dict, parse, argv: list[str] | None) -> None:
  """main() of a launcher whose first argument names one of `actions` (each args -> commands)."""
  args = parse(sys.argv[1:] if argv is None else argv)
  execute(actions[args.action](args), args.dry_run)


def execute(commands: list[list[str]], dry_run: bool) -> None:
  """Runs the commands in order (stopping at the first failure), or prints them."""
  for command in commands:
    if dry_run:
      print(shlex.join(command))
      continue
    print("+", shlex.join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True)
