"""The interpolation plot: every task's metric against alpha (matplotlib, as the run report)."""


def write_png(path: str, results: dict[float, dict[str, float]]) -> list[str]:
  """results: {alpha: {"task/metric": value}}; one line per metric, each scaled to its own
  [min, max] (the legend gives each range), so metrics of different units share one axis.
  Returns the metrics drawn, in legend order."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")  # files only: no display on a server
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  alphas = sorted(results)
  metrics = sorted({k for row in results.values() for k in row})
  figure, axis = plt.subplots(figsize=(9, 4.8))
  for metric in metrics:
    points = [(a, results[a][metric]) for a in alphas if metric in results[a]]
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    axis.plot([a for a, _ in points], [(v - lo) / ((hi - lo) or 1.0) for v in values], "o-",
              label=f"{metric} [{lo:.3g}, {hi:.3g}]")
  axis.set(xlabel="alpha (0 = base, 1 = fine-tuned)", ylabel="relative to its range",
           title="Weight interpolation", xticks=alphas)
  axis.grid(alpha=0.3)
  axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
  figure.tight_layout()
  figure.savefig(path, format="png", dpi=110)
  plt.close(figure)
  return metrics
