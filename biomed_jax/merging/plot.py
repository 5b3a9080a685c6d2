"""A dependency-free SVG line plot: every metric against alpha."""

from xml.sax.saxutils import escape

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def write_svg(path: str, results: dict[float, dict[str, float]], width: int = 640,
              height: int = 400) -> None:
  """results: {alpha: {"task/metric": value}}; each metric is scaled to its own [min, max]
  (the y axis reads "relative", the legend gives each range)."""
  alphas = sorted(results)
  metrics = sorted({k for row in results.values() for k in row})
  left, right, top, bottom = 60, 220, 20, 40
  span_x = (alphas[-1] - alphas[0]) or 1.0
  x = lambda a: left + (a - alphas[0]) / span_x * (width - left - right)
  parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
           f'y2="{height - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
           f'<text x="{(width - right + left) / 2}" y="{height - 8}">alpha</text>',
           f'<text x="8" y="{top + 10}">relative</text>']
  for a in alphas:
    parts.append(f'<text x="{x(a) - 8:.1f}" y="{height - bottom + 14}">{a:g}</text>')
  for i, metric in enumerate(metrics):
    points = [(a, results[a][metric]) for a in alphas if metric in results[a]]
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    y = lambda v: height - bottom - ((v - lo) / ((hi - lo) or 1.0)) * (height - top - bottom)
    colour = COLOURS[i % len(COLOURS)]
    line = " ".join(f"{x(a):.1f},{y(v):.1f}" for a, v in points)
    parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>')
    parts.append(f'<text x="{width - right + 10}" y="{top + 14 * i + 10}" fill="{colour}">'
                 f'{escape(metric)} [{lo:.3g}, {hi:.3g}]</text>')
  parts.append("</svg>")
  with open(path, "w") as f:
    f.write("\n".join(parts) + "\n")
