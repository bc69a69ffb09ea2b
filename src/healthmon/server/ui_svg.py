"""Inline SVG for the UI: a task DAG and a Gantt of task attempts (the Health page's charts are
``healthmon.ml.report_charts``').

Pure functions from plain dicts to SVG strings (all text escaped), so they are testable without
a browser and need no front-end build.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

STATE_COLOURS = {
    "SUCCESS": "#2e7d32",
    "SUCCESS_WITH_FAILURES": "#9e9d24",
    "FAILED": "#c62828",
    "TIMEDOUT": "#c62828",
    "CANCELED": "#757575",
    "CANCELLED": "#757575",
    "UPSTREAM_FAILED": "#ef6c00",
    "UPSTREAM_CANCELED": "#9e9e9e",
    "EXCLUDED": "#bdbdbd",
    "SKIPPED": "#bdbdbd",
    "RUNNING": "#1565c0",
    "PENDING": "#64b5f6",
    "QUEUED": "#90caf9",
    "BLOCKED": "#90caf9",
    "WAITING_FOR_RETRY": "#ffb300",
    "TERMINATING": "#5c6bc0",
    "INTERNAL_ERROR": "#6a1b9a",
}
NOT_RUN = "#e0e0e0"


def run_state_name(state: dict[str, Any] | None) -> str:
    """One word for a run/task state: the result when terminated, else the life cycle state."""
    state = state or {}
    return state.get("result_state") or state.get("life_cycle_state") or "PENDING"


def colour(state_name: str | None) -> str:
    return STATE_COLOURS.get(state_name or "", NOT_RUN)


def task_levels(tasks: list[dict[str, Any]]) -> dict[str, int]:
    """Longest-path depth of each task in its ``depends_on`` graph (cycles and unknown
    dependencies are tolerated: they do not add depth)."""
    # A dependency without a task_key names no task: it adds no depth.
    deps = {t["task_key"]: [d["task_key"] for d in t.get("depends_on") or [] if isinstance(d, dict) and "task_key" in d]
            for t in tasks}
    levels: dict[str, int] = {}

    def depth(key: str, seen: frozenset[str]) -> int:
        if key in levels:
            return levels[key]
        parents = [p for p in deps.get(key, []) if p in deps and p not in seen]
        value = 1 + max((depth(p, seen | {key}) for p in parents), default=-1)
        levels[key] = value
        return value

    for key in deps:
        depth(key, frozenset())
    return levels


def dag_svg(tasks: list[dict[str, Any]], states: dict[str, str] | None = None,
            links: dict[str, str] | None = None) -> str:
    """Tasks as boxes in dependency columns, arrows for ``depends_on``, filled by state."""
    unique: dict[str, dict] = {}
    for t in tasks:
        if t.get("task_key"):
            unique[t["task_key"]] = t  # later attempts replace earlier ones
    tasks = list(unique.values())
    if not tasks:
        return '<svg class="dag" width="200" height="30"><text x="5" y="20">No tasks</text></svg>'
    states = states or {}
    links = links or {}
    levels = task_levels(tasks)
    columns: dict[int, list[str]] = {}
    for t in tasks:
        columns.setdefault(levels[t["task_key"]], []).append(t["task_key"])
    box_w, box_h, gap_x, gap_y = 190, 34, 60, 16
    pos: dict[str, tuple[int, int]] = {}
    for level, keys in sorted(columns.items()):
        for i, key in enumerate(keys):
            pos[key] = (10 + level * (box_w + gap_x), 10 + i * (box_h + gap_y))
    width = max(x for x, _ in pos.values()) + box_w + 10
    height = max(y for _, y in pos.values()) + box_h + 10
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" fill="#616161"/></marker></defs>',
    ]
    for t in tasks:
        x2, y2 = pos[t["task_key"]]
        for dep in t.get("depends_on") or []:
            src = pos.get(dep["task_key"]) if isinstance(dep, dict) and "task_key" in dep else None
            if src:
                x1, y1 = src[0] + box_w, src[1] + box_h // 2
                parts.append(
                    f'<path d="M{x1},{y1} C{x1 + gap_x // 2},{y1} '
                    f'{x2 - gap_x // 2},{y2 + box_h // 2} {x2 - 2},{y2 + box_h // 2}" '
                    'stroke="#616161" fill="none" marker-end="url(#arrow)"/>'
                )
    for t in tasks:
        key = t["task_key"]
        x, y = pos[key]
        state = states.get(key)
        fill = colour(state)
        light = state in STATE_COLOURS and state not in ("EXCLUDED", "SKIPPED", "QUEUED", "BLOCKED", "PENDING")
        text_fill = "#fff" if light else "#212121"
        label = escape(key if len(key) <= 26 else key[:25] + "…")
        title = escape(f"{key}: {state or 'not run'}")
        box = (
            f'<g class="task" data-task="{escape(key)}" data-state="{escape(state or "")}"><title>{title}</title>'
            f'<rect x="{x}" y="{y}" rx="6" width="{box_w}" height="{box_h}" fill="{fill}" stroke="#424242"/>'
            f'<text x="{x + 10}" y="{y + 22}" font-size="13" fill="{text_fill}">{label}</text></g>'
        )
        if key in links:
            box = f'<a href="{escape(links[key])}">{box}</a>'
        parts.append(box)
    parts.append("</svg>")
    return "".join(parts)


def gantt_svg(attempts: list[dict[str, Any]], now_ms: int) -> str:
    """One bar per task attempt from start to end (or now, if still running)."""
    bars = [a for a in attempts if a.get("start_time")]
    if not bars:
        return '<svg class="gantt" width="300" height="30"><text x="5" y="20">No task has started yet</text></svg>'
    t0 = min(a["start_time"] for a in bars)
    t1 = max((a.get("end_time") or now_ms) for a in bars)
    span = max(t1 - t0, 1000)
    label_w, chart_w, row_h = 200, 560, 22
    height = 30 + row_h * len(bars)
    # Scales to its container (viewBox), so long runs never overflow the card.
    parts = [
        f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="100%" '
        f'viewBox="0 0 {label_w + chart_w + 20} {height}" '
        f'style="max-width: {label_w + chart_w + 20}px">',
        f'<text x="{label_w}" y="14" font-size="11" fill="#616161">0 s</text>',
        f'<text x="{label_w + chart_w - 40}" y="14" font-size="11" fill="#616161">{span / 1000:.1f} s</text>',
    ]
    for i, a in enumerate(sorted(bars, key=lambda a: (a["start_time"], a.get("task_key") or ""))):
        y = 22 + i * row_h
        end = a.get("end_time") or now_ms
        x = label_w + int((a["start_time"] - t0) / span * chart_w)
        w = max(2, int((end - a["start_time"]) / span * chart_w))
        state = run_state_name(a.get("state"))
        name = f'{a.get("task_key", "?")} #{a.get("attempt_number", 0)}'
        parts.append(
            f'<g class="attempt" data-task="{escape(a.get("task_key") or "")}"><title>{escape(name)}: {escape(state)}, '
            f'{(end - a["start_time"]) / 1000:.1f} s</title>'
            f'<text x="4" y="{y + 14}" font-size="12">{escape(name[:34])}</text>'
            f'<rect x="{x}" y="{y + 3}" width="{w}" height="{row_h - 6}" rx="3" fill="{colour(state)}"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def dots(states: Iterable[str]) -> list[tuple[str, str]]:
    """(colour, state) per recent run, for the jobs list's coloured dots."""
    return [(colour(s), s) for s in states]
