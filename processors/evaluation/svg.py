"""Small inline-SVG charts for the evaluation report: lines, horizontal bars, histograms. No plotting library.

Each chart is one ``<svg class="plot" data-plot=NAME>`` string; the marks that carry data have class
``data`` (so a test, or a reader of the DOM, can tell a drawn chart from an empty frame). Values are
drawn in a fixed 560x300 frame with linear (or base-10 log) axes and a few ticks.

>>> svg = line_chart("demo", [("y = x", [0.0, 1.0], [0.0, 1.0])], "x", "y")
>>> svg.startswith('<svg class="plot" data-plot="demo"'), svg.count('class="data"')
(True, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["COLOURS", "bar_chart", "line_chart"]

W, H = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 62, 16, 16, 46
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _ticks(low: float, high: float, log: bool) -> list[float]:
    if log:
        return [10.0 ** k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
    span = (high - low) or 1.0
    step = 10 ** math.floor(math.log10(span))
    ratio = span / step  # in [1, 10): aim for 3-7 ticks
    step *= 0.2 if ratio < 1.5 else 0.5 if ratio < 3 else 2 if ratio > 7 else 1
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.0e}"


class _Frame:
    """Maps data coordinates into the plot area."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float], log_x: bool = False) -> None:
        self.log_x = log_x
        self.x0, self.x1 = (math.log10(x[0]), math.log10(x[1])) if log_x else x
        self.y0, self.y1 = y
        self.x_range, self.y_range = x, y

    def px(self, x: float) -> float:
        value = math.log10(x) if self.log_x else x
        return LEFT + (value - self.x0) / ((self.x1 - self.x0) or 1.0) * (W - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return H - BOTTOM - (y - self.y0) / ((self.y1 - self.y0) or 1.0) * (H - TOP - BOTTOM)

    def axes(self, x_label: str, y_label: str) -> list[str]:
        out = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
               'fill="none" stroke="#999"/>']
        for t in _ticks(*self.x_range, self.log_x):
            if self.x_range[0] <= t <= self.x_range[1]:
                out.append(f'<text x="{self.px(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{_label(t)}</text>')
        for t in _ticks(*self.y_range, False):
            if self.y_range[0] <= t <= self.y_range[1]:
                out.append(f'<text x="{LEFT - 6}" y="{self.py(t) + 4:.1f}" text-anchor="end">{_label(t)}</text>')
        out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" text-anchor="middle">{escape(x_label)}</text>')
        out.append(f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">{escape(y_label)}</text>')
        return out


def _svg(name: str, parts: list[str]) -> str:
    return (f'<svg class="plot" data-plot="{escape(name)}" xmlns="http://www.w3.org/2000/svg" width="{W}" '
            f'height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">' + "".join(parts) + "</svg>")


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for k, name in enumerate(names):
        y = TOP + 14 + 14 * k
        out.append(f'<rect x="{W - RIGHT - 150}" y="{y - 8}" width="10" height="10" fill="{COLOURS[k % 6]}"/>'
                   f'<text x="{W - RIGHT - 136}" y="{y + 1}">{escape(name)}</text>')
    return out


def line_chart(name: str, series: Sequence[tuple[str, Sequence[float], Sequence[float | None]]], x_label: str,
               y_label: str, x_range: tuple[float, float] | None = None, y_range: tuple[float, float] = (0.0, 1.0),
               log_x: bool = False, steps: bool = False, reference: bool = False) -> str:
    """One polyline per (name, xs, ys); a None y breaks its line. `steps`: a step function (histograms)."""
    xs_all = [x for _, xs, _ in series for x in xs if not log_x or x > 0]
    if x_range is None:
        x_range = (min(xs_all), max(xs_all)) if xs_all else (0.0, 1.0)
        if x_range[0] == x_range[1]:
            x_range = (x_range[0], x_range[0] + 1.0)
    frame = _Frame(x_range, y_range, log_x)
    parts = frame.axes(x_label, y_label)
    if reference:
        parts.append(f'<line x1="{frame.px(0):.1f}" y1="{frame.py(0):.1f}" x2="{frame.px(1):.1f}" '
                     f'y2="{frame.py(1):.1f}" stroke="#bbb" stroke-dasharray="4 3"/>')
    for k, (_, xs, ys) in enumerate(series):
        runs: list[list[str]] = [[]]
        previous: float | None = None
        for x, y in zip(xs, ys, strict=True):
            if y is None or (log_x and x <= 0):
                runs.append([])
                previous = None
                continue
            if steps and previous is not None:
                runs[-1].append(f"{frame.px(x):.1f},{frame.py(previous):.1f}")
            runs[-1].append(f"{frame.px(x):.1f},{frame.py(y):.1f}")
            previous = y
        for run in runs:
            if len(run) >= 2:
                parts.append(f'<polyline class="data" fill="none" stroke="{COLOURS[k % 6]}" stroke-width="2" '
                             f'points="{" ".join(run)}"/>')
            elif len(run) == 1:
                x, y = run[0].split(",")
                parts.append(f'<circle class="data" cx="{x}" cy="{y}" r="3" fill="{COLOURS[k % 6]}"/>')
    if len(series) > 1:
        parts += _legend([s[0] for s in series])
    return _svg(name, parts)


def bar_chart(name: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
              x_label: str, whiskers: Sequence[float | None] | None = None) -> str:
    """Horizontal bars: one row per category, one bar per series; `whiskers` (first series) mark an upper value."""
    values = [v for _, vs in series for v in vs if v is not None] + [w for w in whiskers or [] if w is not None]
    top = max(values, default=1.0) or 1.0
    top = 1.0 if top <= 1.0 and all(v >= 0 for v in values) and name.startswith("recall") else top * 1.05
    row = max(12.0, (H - TOP - BOTTOM) / max(1, len(categories)))
    height = int(TOP + BOTTOM + row * len(categories))
    left = 130
    parts = [f'<line x1="{left}" y1="{TOP}" x2="{left}" y2="{height - BOTTOM}" stroke="#999"/>']
    scale = (W - left - RIGHT) / top
    for t in _ticks(0.0, top, False):
        parts.append(f'<text x="{left + t * scale:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle">'
                     f'{_label(t)}</text>')
    parts.append(f'<text x="{(left + W - RIGHT) / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>')
    bar = (row - 4) / max(1, len(series))
    for i, category in enumerate(categories):
        y = TOP + i * row + 2
        parts.append(f'<text x="{left - 6}" y="{y + row / 2 + 2:.1f}" text-anchor="end">{escape(category)}</text>')
        for k, (_, vs) in enumerate(series):
            v = vs[i]
            if v is not None:
                parts.append(f'<rect class="data" x="{left}" y="{y + k * bar:.1f}" width="{max(1.0, v * scale):.1f}" '
                             f'height="{bar - 1:.1f}" fill="{COLOURS[k % 6]}"/>')
        if whiskers is not None and whiskers[i] is not None:
            wx = left + float(whiskers[i] or 0) * scale
            parts.append(f'<line x1="{wx:.1f}" y1="{y:.1f}" x2="{wx:.1f}" y2="{y + bar:.1f}" stroke="#333" '
                         'stroke-width="2"/>')
    if len(series) > 1:
        parts += _legend([s[0] for s in series])
    svg = _svg(name, parts)
    return svg.replace(f'height="{H}" viewBox="0 0 {W} {H}"', f'height="{height}" viewBox="0 0 {W} {height}"', 1)
