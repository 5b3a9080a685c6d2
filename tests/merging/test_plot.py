"""The interpolation plot: one line per metric, written where it is asked to be."""

import os
import re

from biomed_jax.merging import plot


def test_svg_has_one_line_per_metric_through_every_alpha(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  results = {0.0: {"a/accuracy": 50.0, "a/loss": 3.0}, 0.5: {"a/accuracy": 70.0, "a/loss": 2.0},
             1.0: {"a/accuracy": 60.0, "a/loss": 1.0}}
  plot.write_svg(str(tmp_path / "plot.svg"), results)
  assert os.listdir(tmp_path) == ["plot.svg"]  # nothing else written
  svg = (tmp_path / "plot.svg").read_text()
  lines = re.findall(r'points="([^"]+)"', svg)
  assert len(lines) == 2 and all(len(points.split()) == 3 for points in lines)
  # Each metric spans the plot's full height: its minimum at the bottom, maximum at the top.
  accuracy = [float(p.split(",")[1]) for p in lines[0].split()]
  assert accuracy[0] == 360.0 and accuracy[1] == 20.0
  assert "a/accuracy [50, 70]" in svg and "a/loss [1, 3]" in svg
