r"""Kill battery: SIGKILL a demo training run again and again, then check it lost nothing.

  python benchmarks/kill_battery.py --kills=20 --steps=60 --workdir=/tmp/kill_battery

One uninterrupted run of --steps steps, then the same run started in another workdir and
killed --kills times: about half the kills land while a checkpoint is being written (a
temporary Orbax folder exists), the others a random 0-2 s after the run has trained a new
step. After each kill the run is started again; once the kills are spent it runs to the end.
Checked: every restart resumed from the newest complete checkpoint, every step trained on the
batch the uninterrupted run saw, and the final parameters and optimizer state are bitwise
equal. Prints one line per kill and a summary, and appends the summary to
benchmarks/results/kill_battery.md. tests/reliability/test_kill_battery.py runs a short one.
"""

import argparse
import datetime
import os
import random
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A demo run small enough to restart often: tiny model, 64 px images, batch 8.
OVERRIDES = {"model.image_size": 64, "data.batch_size": 8, "data.max_source_len": 64,
             "data.max_target_len": 16, "eval.every_steps": 100000, "train.log_every": 1000,
             "optimizer.warmup_steps": 2, "train.checkpoint_every": 2,
             "train.keep_checkpoints": 3, "train.record_batch_fingerprints": True}


def command(workdir: str, steps: int) -> list[str]:
  return [sys.executable, "-m", "biomed_jax.main", "--config=configs/demo.py",
          f"--workdir={workdir}", "--mode=train", f"--config.train.num_steps={steps}",
          *[f"--config.{k}={v}" for k, v in OVERRIDES.items()]]


def fingerprints(workdir: str) -> list[tuple[int, str]]:
  path = os.path.join(workdir, "batch_fingerprints.txt")
  if not os.path.exists(path):
    return []
  words = open(path).read().split()
  return list(zip(map(int, words[0:len(words) - len(words) % 2:2]), words[1::2]))


def complete_steps(workdir: str) -> list[int]:
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if os.path.isdir(
      folder) else []


def saving(workdir: str) -> bool:
  folder = os.path.join(workdir, "checkpoints")
  return os.path.isdir(folder) and any("tmp" in d for d in os.listdir(folder))


def _kill_once(workdir: str, steps: int, rng: random.Random, timeout: float) -> dict | None:
  """Starts the run and SIGKILLs it; None if it finished first."""
  start_index = len(fingerprints(workdir))
  before = max((s for s, _ in fingerprints(workdir)), default=0)
  mid_save = rng.random() < 0.5
  process = subprocess.Popen(command(workdir, steps), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + timeout
  trained = lambda: max((s for s, _ in fingerprints(workdir)), default=0) > before
  while process.poll() is None and time.time() < deadline and not trained():
    time.sleep(0.01)
  if mid_save:
    while process.poll() is None and time.time() < deadline and not saving(workdir):
      time.sleep(0.002)
    during_save = saving(workdir)
  else:
    time.sleep(rng.uniform(0, 2))
    during_save = saving(workdir)
  if process.poll() is not None:
    return None
  process.send_signal(signal.SIGKILL)
  process.wait()
  done = complete_steps(workdir)
  return {"start_index": start_index, "during_save": during_save, "aimed_at_save": mid_save,
          "last_step_trained": max(s for s, _ in fingerprints(workdir)),
          "newest_checkpoint": done[-1] if done else 0}


def final_state(workdir: str, step: int):
  from biomed_jax import checkpointing  # pylint: disable=g-import-not-at-top
  ckpt = checkpointing.Checkpointer(workdir, every_steps=1, keep=10)
  state = ckpt.restore_state(step, None)
  ckpt.close()
  return state["params"], state["opt_state"]


def battery(root: str, kills: int, steps: int, seed: int = 0, timeout: float = 600,
            log=print) -> dict:
  """Runs the battery under `root`; returns the summary (raises nothing on a mismatch)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = random.Random(seed)
  straight, killed = os.path.join(root, "straight"), os.path.join(root, "killed")
  start = time.time()
  subprocess.run(command(straight, steps), cwd=REPO, check=True, capture_output=True)
  events, resumed_right = [], 0
  while len(events) < kills:
    event = _kill_once(killed, steps, rng, timeout)
    if event is None:
      break
    events.append(event)
    log(f"kill {len(events):2d}: {'during a save' if event['during_save'] else 'mid-step   '}"
        f" | trained to step {event['last_step_trained']:3d}"
        f" | newest complete checkpoint {event['newest_checkpoint']}")
  # Each restart must continue right after the newest complete checkpoint.
  final_index = len(fingerprints(killed))
  final = subprocess.run(command(killed, steps), cwd=REPO, capture_output=True, text=True)
  seen = fingerprints(killed)
  starts = [e["start_index"] for e in events[1:]] + [final_index]
  runs = 0
  for event, index in zip(events, starts):
    if index < len(seen):  # the next run trained at least one step
      runs += 1
      resumed_right += seen[index][0] == event["newest_checkpoint"] + 1
  reference = dict(fingerprints(straight))
  batches_equal = all(reference.get(step) == fp for step, fp in seen) and (
      {s for s, _ in seen} == set(range(1, steps + 1)))
  bitwise = False
  if final.returncode == 0:
    got, want = final_state(killed, steps), final_state(straight, steps)
    bitwise = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(got),
                                                        jax.tree.leaves(want)))
  return {"kills": len(events), "during_save": sum(e["during_save"] for e in events),
          "resumed_from_newest_checkpoint": resumed_right, "restarts_checked": runs,
          "final_run_exit": final.returncode, "batches_equal": batches_equal,
          "bitwise_equal": bitwise, "steps": steps, "minutes": (time.time() - start) / 60}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--kills", type=int, default=20)
  parser.add_argument("--steps", type=int, default=60)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--workdir", default="/tmp/kill_battery")
  args = parser.parse_args()
  if os.path.exists(args.workdir) and os.listdir(args.workdir):
    sys.exit(f"--workdir {args.workdir} is not empty")
  summary = battery(args.workdir, args.kills, args.steps, args.seed)
  line = (f"{datetime.date.today()} | {summary['kills']} SIGKILLs ({summary['during_save']} "
          f"during a save) over {summary['steps']} steps | resumed from the newest complete "
          f"checkpoint {summary['resumed_from_newest_checkpoint']}/"
          f"{summary['restarts_checked']} | batches equal: {summary['batches_equal']} | "
          f"final state bitwise equal: {summary['bitwise_equal']} | "
          f"{summary['minutes']:.1f} min")
  print(line)
  with open(os.path.join(REPO, "benchmarks", "results", "kill_battery.md"), "a") as f:
    f.write(line + "\n")
  ok = summary["bitwise_equal"] and summary["batches_equal"] and (
      summary["resumed_from_newest_checkpoint"] == summary["restarts_checked"])
  sys.exit(0 if ok else 1)


if __name__ == "__main__":
  main()
