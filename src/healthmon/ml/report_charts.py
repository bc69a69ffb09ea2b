"""The health report's two charts as inline SVG strings: daily cost over time (lines and marked
days) and alerts per user (stacked horizontal bars).

Written directly as SVG because the page is rebuilt on every filter change and matplotlib's
layout and SVG backend cost ~0.7 s per chart (most of a report rebuild); these take
milliseconds. Text stays text (readable, searchable, selectable), every string is escaped, and
the SVG loads nothing, so the server's Content-Security-Policy allows it as is. ``class="chart"``
and a viewBox let the page's CSS scale it to its container.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 1000
FONT = "font-family='Helvetica,Arial,sans-serif'"
GRID = "#e3e3e3"
AXIS = "#555"


@dataclass(frozen=True)
class Series:
    """Values per day, drawn as a line, a dashed line, or dots (e.g. days with a flagged anomaly)."""

    label: str
    dates: Sequence[dt.date]
    values: Sequence[float]
    color: str
    style: str = "line"  # line | dashed | dots


@dataclass(frozen=True)
class Stack:
    label: str
    values: Sequence[float]  # one per category
    color: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def date_ticks(start: dt.date, end: dt.date, count: int = 8) -> list[tuple[dt.date, str]]:
    """Tick days and short labels: every n days within two months, else month starts."""
    span = (end - start).days
    if span <= 62:
        step = next(s for s in (1, 2, 7, 14, 31) if span / s <= count)
        return [(d, f"{d:%b} {d.day}") for d in (start + dt.timedelta(days=i) for i in range(0, span + 1, step))]
    months = (end.year - start.year) * 12 + end.month - start.month
    every = next(m for m in (1, 2, 3, 6, 12, 24, 60) if months / m <= count)
    ticks: list[tuple[dt.date, str]] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        d = dt.date(year, month, 1)
        if d >= start and (month - 1) % every == 0:
            ticks.append((d, f"{d:%b} {d.year}" if month == 1 or not ticks else f"{d:%b}"))
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return ticks


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"


def _svg(height: int, title: str, body: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' width='100%' viewBox='0 0 {WIDTH} {height}' {FONT} "
            f"font-size='12'><title>{escape(title)}</title>"
            f"<text x='{WIDTH / 2}' y='22' text-anchor='middle' font-size='15'>{escape(title)}</text>"
            + "".join(body) + "</svg>")


def _legend(x: float, y: float, items: list[tuple[str, str]]) -> list[str]:
    """Legend rows at (x, y): (label, SVG swatch)."""
    out = [f"<rect x='{x - 6}' y='{y - 12}' width='330' height='{18 * len(items) + 6}' fill='white' "
           f"fill-opacity='0.85' stroke='{GRID}'/>"]
    for i, (label, swatch) in enumerate(items):
        out.append(f"<g transform='translate({x},{y + 18 * i})'>{swatch}"
                   f"<text x='30' y='4' font-size='11'>{escape(label)}</text></g>")
    return out


def time_series_chart(title: str, y_label: str, series: list[Series], x_label: str = "Date") -> str:
    """Series of values per day on one date axis; missing values (NaN) are left out."""
    height, left, right, top, bottom = 420, 80, 20, 40, 60
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    days = [d for one in series for d in one.dates]
    values = [float(v) for one in series for v in one.values if v == v]
    if not days:
        return _svg(height, title, [f"<text x='{WIDTH / 2}' y='{height / 2}' text-anchor='middle'>No data</text>"])
    start, end = min(days), max(days)
    span = max((end - start).days, 1)
    ticks = nice_ticks(min(0.0, min(values, default=0.0)), max(values, default=1.0))
    low, high = ticks[0], ticks[-1]

    def x(d: dt.date) -> float:
        return left + plot_w * (d - start).days / span

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / ((high - low) or 1))

    body = []
    for t in ticks:
        body.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y(t):.1f}' y2='{y(t):.1f}' stroke='{GRID}'/>"
                    f"<text x='{left - 6}' y='{y(t) + 4:.1f}' text-anchor='end'>{_label(t)}</text>")
    for d, text in date_ticks(start, end):
        body.append(f"<line x1='{x(d):.1f}' x2='{x(d):.1f}' y1='{top}' y2='{top + plot_h}' stroke='{GRID}'/>"
                    f"<text x='{x(d):.1f}' y='{top + plot_h + 16}' text-anchor='middle'>{escape(text)}</text>")
    body.append(f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='{AXIS}'/>")
    body.append(f"<text x='{left + plot_w / 2}' y='{height - 12}' text-anchor='middle'>{escape(x_label)}</text>")
    body.append(f"<text transform='translate(18,{top + plot_h / 2}) rotate(-90)' text-anchor='middle'>"
                f"{escape(y_label)}</text>")
    legend: list[tuple[str, str]] = []
    for one in series:
        known = [(d, float(v)) for d, v in zip(one.dates, one.values) if v == v]
        if one.style == "dots":
            body += [f"<circle cx='{x(d):.1f}' cy='{y(v):.1f}' r='4.5' fill='{one.color}'><title>{d}: {_label(v)}"
                     f"</title></circle>" for d, v in known]
            legend.append((one.label, f"<circle cx='12' cy='0' r='4.5' fill='{one.color}'/>"))
            continue
        dash = " stroke-dasharray='6 4'" if one.style == "dashed" else ""
        points = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in known)
        body.append(f"<polyline fill='none' stroke='{one.color}' stroke-width='2'{dash} points='{points}'>"
                    f"<title>{escape(one.label)}</title></polyline>")
        legend.append((one.label, f"<line x1='0' x2='24' y1='0' y2='0' stroke='{one.color}' stroke-width='2'{dash}/>"))
    body += _legend(left + 12, top + 16, legend)
    return _svg(height, title, body)


def stacked_bar_chart(title: str, x_label: str, categories: list[str], stacks: list[Stack]) -> str:
    """One horizontal bar per category (top to bottom in the given order), split into stacks."""
    bar, gap, left, right, top = 18, 7, 220, 20, 40
    plot_h = len(categories) * (bar + gap) + gap
    legend_h = 18 * len(stacks) + 10
    height = top + plot_h + 50 + legend_h
    plot_w = WIDTH - left - right
    totals = [sum(float(s.values[i]) for s in stacks) for i in range(len(categories))]
    ticks = nice_ticks(0.0, max(totals, default=1.0))
    ticks = [t for t in ticks if float(t).is_integer()] or [0.0, 1.0]  # counts: whole ticks only
    high = ticks[-1] or 1.0

    def x(v: float) -> float:
        return left + plot_w * v / high

    body = []
    for t in ticks:
        body.append(f"<line x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{top}' y2='{top + plot_h}' stroke='{GRID}'/>"
                    f"<text x='{x(t):.1f}' y='{top + plot_h + 16}' text-anchor='middle'>{_label(t)}</text>")
    for i, category in enumerate(categories):
        y = top + gap + i * (bar + gap)
        body.append(f"<text x='{left - 6}' y='{y + bar * 0.7:.1f}' text-anchor='end'>{escape(category)}</text>")
        start = 0.0
        for s in stacks:
            v = float(s.values[i])
            if v > 0:
                body.append(f"<rect x='{x(start):.1f}' y='{y}' width='{x(start + v) - x(start):.1f}' height='{bar}' "
                            f"fill='{s.color}'><title>{escape(category)}: {_label(v)} "
                            f"({escape(s.label)})</title></rect>")
            start += v
    body.append(f"<line x1='{left}' x2='{left}' y1='{top}' y2='{top + plot_h}' stroke='{AXIS}'/>")
    body.append(f"<text x='{left + plot_w / 2}' y='{top + plot_h + 36}' text-anchor='middle'>{escape(x_label)}</text>")
    body += _legend(left + 12, top + plot_h + 60, [
        (s.label, f"<rect x='0' y='-6' width='24' height='12' fill='{s.color}'/>") for s in stacks])
    return _svg(height, title, body)


__all__ = ["Series", "Stack", "time_series_chart", "stacked_bar_chart", "nice_ticks", "date_ticks"]
