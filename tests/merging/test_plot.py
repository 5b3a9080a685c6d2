"""The interpolation plot: one line per metric, written where it is asked to be."""

import os

from PIL import Image

from biomed_jax.merging import plot


def test_png_has_one_line_per_metric(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  results = {0.0: {"a/accuracy": 50.0, "a/loss": 3.0}, 0.5: {"a/accuracy": 70.0, "a/loss": 2.0},
             1.0: {"a/accuracy": 60.0, "b/rouge1": 10.0}}
  drawn = plot.write_png(str(tmp_path / "plot.png"), results)
  assert drawn == ["a/accuracy", "a/loss", "b/rouge1"]  # a metric missing at some alpha too
  assert os.listdir(tmp_path) == ["plot.png"]  # nothing else written
  with Image.open(tmp_path / "plot.png") as image:
    assert image.format == "PNG" and image.size[0] > 500
