"""A short kill battery (benchmarks/kill_battery.py has the long one): a few SIGKILLs at
random moments, some during a checkpoint write; the run resumes from the newest complete
checkpoint each time and ends bitwise equal to an uninterrupted run."""

import pytest

from benchmarks import kill_battery


@pytest.mark.slow
def test_a_few_sigkills_then_resume_is_bitwise_identical(tmp_path):
  summary = kill_battery.battery(str(tmp_path), kills=3, steps=10, seed=1)
  assert summary["kills"] == 3
  assert summary["final_run_exit"] == 0
  assert summary["resumed_from_newest_checkpoint"] == summary["restarts_checked"] >= 2
  assert summary["batches_equal"]
  assert summary["bitwise_equal"]
