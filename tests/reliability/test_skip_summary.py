"""Item 10: records the skip policy dropped are summarised in the log at every log step and
at the end, by task and kind (the fixture run broke reliability_helpers.BROKEN records)."""

from reliability_helpers import BROKEN

EXPECTED = "sample_vqa: " + ", ".join(f"{kind}={n}" for kind, n in sorted(BROKEN.items()))


def test_skip_counts_reach_the_log_at_every_log_step_and_at_the_end(trained_run):
  log = trained_run["log"]
  for step in (1, 2):  # log_every=1
    lines = [line for line in log if line.startswith(f"step {step}: record problems")]
    assert len(lines) == 1 and EXPECTED in lines[0], log
  final = [line for line in log if line.startswith("record problems in training")]
  assert len(final) == 1 and EXPECTED in final[0]
