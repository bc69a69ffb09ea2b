"""Streaming reader of the CSV that ``healthmon anomalies score`` scores.

Rows are read one at a time (``csv`` module; memory does not grow with the file). Each row's
timestamp is parsed on its own, trying in turn:

- ``ISO 8601``: ``2024-01-06``, ``2024-01-06 10:00``, ``2024-01-06T10:00:00.5Z``,
  ``…+02:00``, ``20240106`` (``datetime.fromisoformat``); a time without offset is UTC;
- ``month name``: ``Jan 6 2024``, ``January 6, 2024``, ``6 Jan 2024`` (optionally followed by
  ``HH:MM[:SS]``);
- ``day/month/year``: ``06/01/2024``-style dates, only when unambiguous (one of the first two
  numbers is above 12, or both are equal);
- ``epoch seconds`` (9–10 digits, optional fraction) and ``epoch milliseconds`` (12–13 digits).

Values are decimal numbers; ``nan``, infinities and numbers beyond ±1e300 (``1e360``) are not
usable. A row whose timestamp or value is unusable is reported with its line number and
the reason; so is a row earlier than the previous row of its entity (the scorer is causal and
streams, so each entity's rows must come in time order).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_MONTH_FORMATS = ("%b %d %Y", "%B %d %Y", "%d %b %Y", "%d %B %Y")
_TIME_SUFFIX = re.compile(r"^(.*?)[ T](\d{1,2}:\d{2}(?::\d{2})?)$")
_SLASH = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?$")
_EPOCH = re.compile(r"^-?(\d+)(\.\d+)?$")
MAX_VALUE = 1e300

csv.field_size_limit(1 << 20)  # a 1 MiB field is someone's mistake, not a value; report it


class TimestampError(ValueError):
    pass


def parse_timestamp(text: str) -> tuple[float, str]:
    """Seconds since the epoch (UTC) and the name of the format that matched."""
    s = text.strip()
    if not s:
        raise TimestampError("empty")
    m = _EPOCH.match(s)
    if m:
        digits = len(m.group(1))
        if digits in (9, 10):
            return float(s), "epoch seconds"
        if digits in (12, 13):
            return float(s) / 1000.0, "epoch milliseconds"
        if digits != 8:  # 20240106 is ISO basic; other bare numbers are not times
            raise TimestampError("a number that is neither epoch seconds (10 digits) nor milliseconds (13 digits)")
    try:
        stamp = dt.datetime.fromisoformat(s.replace(" UTC", "Z") if s.endswith(" UTC") else s)
        return _seconds(stamp), "ISO 8601"
    except ValueError:
        pass
    named = _month_name(s)
    if named is not None:
        return _seconds(named), "month name"
    m = _SLASH.match(s)
    if m:
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if a > 12 and b <= 12:
            day, month = a, b
        elif b > 12 and a <= 12:
            month, day = a, b
        elif a == b:
            day = month = a
        else:
            raise TimestampError("ambiguous day/month order (e.g. 03/04/2024); write ISO 8601 (2024-04-03)")
        try:
            stamp = dt.datetime(year, month, day)
        except ValueError as exc:
            raise TimestampError(str(exc)) from None
        if m.group(4):
            stamp = stamp.replace(**_hms(m.group(4)))
        return _seconds(stamp), "day/month/year"
    raise TimestampError("not a recognised date or time")


def _month_name(s: str) -> dt.datetime | None:
    base, clock = s.replace(",", " "), None
    m = _TIME_SUFFIX.match(base)
    if m and not base.strip().isdigit():
        base, clock = m.group(1), m.group(2)
    base = " ".join(base.split())
    for fmt in _MONTH_FORMATS:
        try:
            stamp = dt.datetime.strptime(base, fmt)
        except ValueError:
            continue
        return stamp.replace(**_hms(clock)) if clock else stamp
    return None


def _hms(clock: str) -> dict:
    parts = [int(p) for p in clock.split(":")]
    if parts[0] > 23 or parts[1] > 59 or (len(parts) > 2 and parts[2] > 59):
        raise TimestampError(f"invalid time of day {clock!r}")
    return {"hour": parts[0], "minute": parts[1], "second": parts[2] if len(parts) > 2 else 0}


def _seconds(stamp: dt.datetime) -> float:
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return (stamp - EPOCH).total_seconds()


def parse_value(text: str) -> float:
    s = text.strip()
    if not s:
        raise ValueError("empty")
    try:
        v = float(s)
    except ValueError:
        raise ValueError(f"{_clip(s)!r} is not a number") from None
    if v != v:
        raise ValueError("not a number (nan)")
    if v in (float("inf"), float("-inf")):
        raise ValueError(f"{_clip(s)!r} is infinite or beyond the floating-point range (±1.8e308)")
    if abs(v) > MAX_VALUE:
        raise ValueError(f"{_clip(s)!r} is beyond ±1e300 (differences of such values overflow)")
    return v


def _clip(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


@dataclass
class Row:
    line: int  # line number in the file (1 = header)
    fields: list[str]
    entity: str
    time: float
    value: float


@dataclass
class ReadReport:
    """What the reader saw: rows used, timestamp formats, and the unusable rows."""

    rows: int = 0
    used: int = 0
    formats: Counter = field(default_factory=Counter)
    unusable: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), the first few
    keep_examples: int = 10

    def reject(self, line: int, reason: str) -> None:
        self.unusable += 1
        if len(self.examples) < self.keep_examples:
            self.examples.append((line, reason))


class InputError(ValueError):
    """The file cannot be scored at all (no header, missing column, unreadable)."""


class AnomalyCsvReader:
    """Iterate the usable rows of an open text stream; ``report`` fills up as rows are read.

    Open the file with ``newline=""`` and ``errors="surrogateescape"`` (undecodable bytes then
    make only their own row unusable)."""

    def __init__(self, stream: TextIO, *, time_column: str, value_column: str, entity_column: str | None = None,
                 name: str = "input"):
        self.name = name
        self.report = ReadReport()
        self._reader = csv.reader(stream)
        try:
            header = next(self._reader)
        except StopIteration:
            raise InputError(f"{name}: empty file (expected a header row naming the columns)") from None
        except csv.Error as exc:
            raise InputError(f"{name}:1: cannot read the header row ({exc})") from None
        header = [h.lstrip("\ufeff") if i == 0 else h for i, h in enumerate(header)]
        if any(_undecodable(h) for h in header):
            raise InputError(f"{name}:1: the header is not UTF-8 text")
        self.header = header
        self._index = {}
        for option, column in (("--time-column", time_column), ("--value-column", value_column),
                               ("--entity-column", entity_column)):
            if column is None:
                continue
            if column not in header:
                raise InputError(f"{name}: {option} {column!r} is not a column; "
                                 f"columns are {', '.join(map(repr, header))}.")
            fields = [i + 1 for i, h in enumerate(header) if h == column]
            if len(fields) > 1:
                # which of the same-named columns was meant cannot be guessed: scoring one of them
                # silently could score the wrong series
                raise InputError(f"{name}:1: {option} {column!r} names {len(fields)} columns (fields "
                                 f"{', '.join(map(str, fields))}); rename them so each name is unique.")
            self._index[option] = header.index(column)
        self._last: dict[str, float] = {}

    def __iter__(self) -> Iterator[Row]:
        ti, vi = self._index["--time-column"], self._index["--value-column"]
        ei = self._index.get("--entity-column")
        width = len(self.header)
        rep = self.report
        while True:
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                rep.rows += 1
                rep.reject(self._reader.line_num, f"malformed CSV ({exc})")
                continue
            line = self._reader.line_num
            if not fields:  # blank line
                continue
            rep.rows += 1
            if len(fields) != width:
                rep.reject(line, f"{len(fields)} fields where the header has {width}")
                continue
            try:
                t, fmt = parse_timestamp(fields[ti])
            except (TimestampError, ValueError, OverflowError) as exc:
                rep.reject(line, f"timestamp {_clip(fields[ti])!r}: {exc}")
                continue
            try:
                v = parse_value(fields[vi])
            except ValueError as exc:
                rep.reject(line, f"value: {exc}")
                continue
            entity = fields[ei] if ei is not None else ""
            last = self._last.get(entity)
            if last is not None and t < last:
                of_entity = f" of entity {_clip(entity)!r}" if ei is not None else ""
                rep.reject(line, "earlier than the previous row" + of_entity
                           + " (rows must be in time order per entity)")
                continue
            self._last[entity] = t
            rep.used += 1
            rep.formats[fmt] += 1
            yield Row(line, fields, entity, t, v)


def _undecodable(s: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in s)
