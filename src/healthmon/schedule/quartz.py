"""Quartz cron expressions, as Databricks job schedules use them.

``seconds minutes hours day-of-month month day-of-week [year]``, with ``*``, ``?``, ranges
(wrapping, e.g. ``22-2``), steps (``0/15``, ``*/4``, ``10-50/5``), lists, month names JAN-DEC,
day names SUN-SAT (numbered 1=SUN..7=SAT), and the day specials ``L``, ``L-3``, ``LW``,
``15W`` (day-of-month) and ``6L``, ``6#3`` (day-of-week). Exactly one of day-of-month and
day-of-week must be ``?``.

Next-fire times are computed on the schedule's wall clock (``timezone_id``) and then placed
on the time line. DST policy (docs/schedule.md):

- a wall time inside a spring-forward gap fires once, at the first valid instant (the moment
  the clocks jump, e.g. 03:00 PDT for 02:30 in America/Los_Angeles);
- a wall time inside a repeated fall-back hour fires once, at its first occurrence.

Pure module: no I/O, no database; imported by bundle validation, so it stays light.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthmon.errors import HealthmonError

UTC = dt.timezone.utc

FIELD_NAMES = ("seconds", "minutes", "hours", "day-of-month", "month", "day-of-week", "year")
# Quartz's own bounds; years beyond 2099 are rejected by Quartz's parser too.
_BOUNDS = {
    "seconds": (0, 59),
    "minutes": (0, 59),
    "hours": (0, 23),
    "day-of-month": (1, 31),
    "month": (1, 12),
    "day-of-week": (1, 7),
    "year": (1970, 2099),
}
MONTH_NAMES = {n: i for i, n in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
DAY_NAMES = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}

# Without a year field every possible fire happens within one 400-year Gregorian cycle.
_SEARCH_YEARS = 400


class CronSyntaxError(HealthmonError):
    """An invalid Quartz cron expression; the message names the field and the position."""

    def __init__(self, expression: str, field: str, position: int, problem: str):
        self.expression = expression
        self.field = field
        self.position = position  # 1-based character position in the expression
        self.problem = problem
        super().__init__(
            f"Invalid quartz_cron_expression {expression!r}: {field} field, position {position}: {problem}."
        )


# --------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class DaySpec:
    """Day-of-month or day-of-week constraint, including Quartz's special forms."""

    values: tuple[int, ...] = ()  # plain day numbers (dom 1-31, dow 1-7)
    last: bool = False  # dom ``L`` / ``L-n``; dow ``nL`` (last n-day of month)
    last_offset: int = 0  # dom ``L-n``
    weekday_nearest: bool = False  # dom ``nW`` / ``LW``
    nth: int = 0  # dow ``n#k``: k-th n-day of the month
    any: bool = False  # ``*`` (no constraint)

    def days_in(self, year: int, month: int, is_dow: bool) -> tuple[int, ...]:
        return _days_in(self, year, month, is_dow)


class _FieldParser:
    def __init__(self, expression: str, field: str, text: str, offset: int):
        self.expression = expression
        self.field = field
        self.text = text
        self.offset = offset  # 0-based index of the field's first character in the expression
        self.lo, self.hi = _BOUNDS[field]

    def error(self, index: int, problem: str) -> CronSyntaxError:
        return CronSyntaxError(self.expression, self.field, self.offset + index + 1, problem)

    def number(self, token: str, index: int) -> int:
        names = MONTH_NAMES if self.field == "month" else DAY_NAMES if self.field == "day-of-week" else {}
        if token in names:
            return names[token]
        if not token.isdigit():
            expected = f"a number {self.lo}-{self.hi}"
            if names:
                expected += f" or a name {min(names, key=names.__getitem__)}-{max(names, key=names.__getitem__)}"
            raise self.error(index, f"{token!r} is not valid here (expected {expected})")
        value = int(token)
        if not self.lo <= value <= self.hi:
            raise self.error(index, f"value {value} out of range {self.lo}-{self.hi}")
        return value

    def values(self) -> tuple[int, ...]:
        """Plain field syntax: lists of ``*``, ``n``, ``a-b``, with optional ``/step``."""
        out: set[int] = set()
        index = 0
        for part in self.text.split(","):
            if part == "":
                raise self.error(index, "empty list element")
            out.update(self._part(part, index))
            index += len(part) + 1
        return tuple(sorted(out))

    def _part(self, part: str, index: int) -> list[int]:
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            step_index = index + len(base) + 1
            if not step_text.isdigit():
                raise self.error(step_index, f"step {step_text!r} is not a positive number")
            step = int(step_text)
            if step < 1 or step > self.hi - self.lo + 1:
                raise self.error(step_index, f"step {step} out of range 1-{self.hi - self.lo + 1}")
        if base == "*":
            start, end = self.lo, self.hi
        elif "-" in base:
            a, _, b = base.partition("-")
            if not a or not b:
                raise self.error(index, f"incomplete range {base!r}")
            start = self.number(a, index)
            end = self.number(b, index + len(a) + 1)
        elif base == "":
            raise self.error(index, "missing value before '/'")
        else:
            start = self.number(base, index)
            # Quartz: ``a/n`` means from a to the end of the field, every n.
            end = self.hi if slash else start
        if end >= start:
            return list(range(start, end + 1, step))
        # A wrapping range (``FRI-MON``, ``22-2``) continues past the top of the field.
        span = self.hi - self.lo + 1
        return [self.lo + (v - self.lo) % span for v in range(start, end + span + 1, step)]


def _parse_dom(p: _FieldParser) -> DaySpec:
    text = p.text
    if text == "*":
        return DaySpec(any=True)
    if text.startswith("L"):
        rest = text[1:]
        if rest == "":
            return DaySpec(last=True)
        if rest == "W":
            return DaySpec(last=True, weekday_nearest=True)
        if rest.startswith("-"):
            digits = rest[1:]
            if not digits.isdigit():
                raise p.error(2, f"'L-' must be followed by a day offset, got {text!r}")
            offset = int(digits)
            if offset > 30:
                raise p.error(2, f"offset from the last day {offset} out of range 0-30")
            return DaySpec(last=True, last_offset=offset)
        raise p.error(1, f"unexpected {rest!r} after 'L' (expected L, L-n or LW)")
    if "L" in text:
        raise p.error(text.index("L"), "'L' cannot be combined with other days of the month")
    if text.endswith("W"):
        day = text[:-1]
        if not day.isdigit():
            raise p.error(0, f"'W' needs a single day of the month before it, got {text!r}")
        return DaySpec(values=(p.number(day, 0),), weekday_nearest=True)
    if "W" in text:
        raise p.error(text.index("W"), "'W' must end the field, after a single day (e.g. 15W)")
    return DaySpec(values=p.values())


def _parse_dow(p: _FieldParser) -> DaySpec:
    text = p.text
    if text == "*":
        return DaySpec(any=True)
    if "#" in text:
        day, _, nth = text.partition("#")
        if "," in text or "-" in day or "/" in text:
            raise p.error(text.index("#"), "'#' takes a single day of the week (e.g. 6#3 or FRI#3)")
        value = p.number(day, 0)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise p.error(len(day) + 1, f"occurrence after '#' must be 1-5, got {nth!r}")
        return DaySpec(values=(value,), nth=int(nth))
    if text == "L":
        return DaySpec(values=(7,))  # Quartz: a bare L in day-of-week means 7 (SAT)
    if text.endswith("L"):
        day = text[:-1]
        if "," in day or "-" in day or "/" in day:
            raise p.error(len(day), "'L' takes a single day of the week (e.g. 6L or FRIL)")
        return DaySpec(values=(p.number(day, 0),), last=True)
    if "L" in text:
        raise p.error(text.index("L"), "'L' must end the field, after a single day (e.g. 6L)")
    return DaySpec(values=p.values())


@dataclass(frozen=True)
class QuartzCron:
    """A parsed Quartz cron expression. Immutable and hashable (safe to cache)."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    dom: DaySpec | None  # None = '?'
    months: tuple[int, ...]
    dow: DaySpec | None  # None = '?'
    years: tuple[int, ...] | None  # None = any year

    # ---- matching ---------------------------------------------------------------------

    def days(self, year: int, month: int) -> tuple[int, ...]:
        """The days of ``year-month`` this expression fires on (sorted)."""
        if self.dom is not None:
            return _days_in(self.dom, year, month, False)
        return _days_in(self.dow, year, month, True)

    def _next_wall(self, w: dt.datetime) -> dt.datetime | None:
        """The first naive wall time >= ``w`` that matches, or None."""
        year, month, day = w.year, w.month, w.day
        hour, minute, second = w.hour, w.minute, w.second
        last_year = self.years[-1] if self.years else year + _SEARCH_YEARS
        months, hours, minutes, seconds = self.months, self.hours, self.minutes, self.seconds
        while True:
            if year > last_year:
                return None
            if self.years is not None and year not in self.years:
                i = bisect_left(self.years, year)
                if i == len(self.years):
                    return None
                year, month, day, hour, minute, second = self.years[i], 1, 1, 0, 0, 0
            i = bisect_left(months, month)
            if i == len(months):
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if months[i] != month:
                month, day, hour, minute, second = months[i], 1, 0, 0, 0
            days = self.days(year, month)
            i = bisect_left(days, day)
            if i == len(days):
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                if month > 12:
                    year, month = year + 1, 1
                continue
            if days[i] != day:
                day, hour, minute, second = days[i], 0, 0, 0
            i = bisect_left(hours, hour)
            if i == len(hours):
                day, hour, minute, second = day + 1, 0, 0, 0
                continue  # a day past the month's end finds no match and carries over
            if hours[i] != hour:
                hour, minute, second = hours[i], 0, 0
            i = bisect_left(minutes, minute)
            if i == len(minutes):
                hour, minute, second = hour + 1, 0, 0
                if hour > 23:
                    day, hour = day + 1, 0
                continue
            if minutes[i] != minute:
                minute, second = minutes[i], 0
            i = bisect_left(seconds, second)
            if i == len(seconds):
                minute, second = minute + 1, 0
                if minute > 59:
                    hour, minute = hour + 1, 0
                    if hour > 23:
                        day, hour = day + 1, 0
                continue
            return dt.datetime(year, month, day, hour, minute, seconds[i])

    def next_fire(self, after: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> dt.datetime | None:
        """The first fire time strictly after ``after`` (aware), as an aware datetime in ``tz``;
        None if the expression never fires again."""
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError("next_fire needs an aware datetime")
        after_utc = after.astimezone(UTC)
        wall = after_utc.astimezone(tz).replace(tzinfo=None, fold=0, microsecond=0)
        while True:
            candidate = self._next_wall(wall)
            if candidate is None:
                return None
            instant = wall_to_instant(candidate, tz)
            if instant > after_utc:
                return instant.astimezone(tz)
            # Only possible around a fall-back (the first occurrence is behind us) or a gap.
            wall = candidate + dt.timedelta(seconds=1)

    def next_fires(self, after: dt.datetime, tz: ZoneInfo | dt.tzinfo, count: int) -> list[dt.datetime]:
        out: list[dt.datetime] = []
        current = after
        while len(out) < count:
            nxt = self.next_fire(current, tz)
            if nxt is None:
                break
            out.append(nxt)
            current = nxt
        return out

    def describe(self) -> str:
        return describe(self.expression)


@lru_cache(maxsize=65536)
def _days_in(spec: DaySpec, year: int, month: int, is_dow: bool) -> tuple[int, ...]:
    first_weekday, ndays = calendar.monthrange(year, month)  # Monday=0
    if spec.any:
        return tuple(range(1, ndays + 1))
    if not is_dow:
        if spec.last:
            day = ndays - spec.last_offset
            if day < 1:
                return ()
            return (_nearest_weekday(year, month, day, ndays),) if spec.weekday_nearest else (day,)
        if spec.weekday_nearest:
            day = spec.values[0]
            return (_nearest_weekday(year, month, day, ndays),) if day <= ndays else ()
        return tuple(d for d in spec.values if d <= ndays)
    # Quartz day-of-week of day 1: 1=SUN..7=SAT
    first_dow = (first_weekday + 1) % 7 + 1
    if spec.nth or spec.last:
        target = spec.values[0]
        first = 1 + (target - first_dow) % 7
        if spec.nth:
            day = first + 7 * (spec.nth - 1)
            return (day,) if day <= ndays else ()
        return (first + 7 * ((ndays - first) // 7),)
    wanted = set(spec.values)
    return tuple(d for d in range(1, ndays + 1) if (first_dow - 1 + d - 1) % 7 + 1 in wanted)


def _nearest_weekday(year: int, month: int, day: int, ndays: int) -> int:
    """Quartz ``W``: the weekday nearest ``day``, never crossing into another month."""
    weekday = calendar.weekday(year, month, day)  # Monday=0
    if weekday == 5:  # Saturday -> Friday, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday -> Monday, unless that leaves the month
        return day + 1 if day < ndays else day - 2
    return day


def wall_to_instant(wall: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> dt.datetime:
    """Place a naive wall time of ``tz`` on the time line (UTC), with the DST policy:
    ambiguous -> first occurrence; nonexistent -> the instant the gap ends."""
    aware = wall.replace(tzinfo=tz, fold=0)
    off0 = aware.utcoffset()
    off1 = aware.replace(fold=1).utcoffset()
    if off0 is None or off1 is None:
        raise ValueError(f"time zone {tz} gives no UTC offset for {wall}")
    # PEP 495: outside transitions both folds agree; in a repeated hour fold=0 (the first
    # occurrence) has the larger offset; in a gap fold=0 has the smaller (pre-jump) offset.
    if off0 >= off1:
        return (wall - off0).replace(tzinfo=UTC)
    instant = (wall - off0).replace(tzinfo=UTC)
    lo = (wall - off1).replace(tzinfo=UTC)
    hi = instant
    if lo > hi:
        lo, hi = hi, lo
    before = (lo - dt.timedelta(seconds=1)).astimezone(tz).utcoffset()
    # Binary search (whole seconds) for the first instant with the new offset.
    lo_s, hi_s = int(lo.timestamp()) - 1, int(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if dt.datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == before:
            lo_s = mid
        else:
            hi_s = mid
    return dt.datetime.fromtimestamp(hi_s, UTC)


# --------------------------------------------------------------------------------------------
# Public API


def _split(expression: str) -> list[tuple[str, int]]:
    """Whitespace-separated fields with their 0-based start offsets."""
    fields: list[tuple[str, int]] = []
    i, n = 0, len(expression)
    while i < n:
        if expression[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not expression[j].isspace():
            j += 1
        fields.append((expression[i:j], i))
        i = j
    return fields


def parse_quartz(expression: str) -> QuartzCron:
    """Parse a Quartz cron expression; raises CronSyntaxError naming the field and position.

    A year field whose years are all in the past is an error too (it would never fire)."""
    cron = _parse(expression)
    if cron.years is not None:
        # The earliest calendar year anywhere on Earth right now (UTC-14 .. UTC+14).
        current = (dt.datetime.now(UTC) - dt.timedelta(hours=14)).year
        if cron.years[-1] < current:
            text, offset = _split(expression)[6]
            raise CronSyntaxError(expression, "year", offset + 1,
                                  f"all years ({text}) are in the past; the schedule would never fire")
    return cron


@lru_cache(maxsize=4096)
def _parse(expression: str) -> QuartzCron:
    if not isinstance(expression, str):
        raise CronSyntaxError(str(expression), "seconds", 1, "expected a string")
    fields = _split(expression.upper())
    if len(fields) < 6:
        missing = FIELD_NAMES[len(fields)]
        raise CronSyntaxError(
            expression, missing, len(expression) + 1,
            f"expected 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), got {len(fields)}",
        )
    if len(fields) > 7:
        text, offset = fields[7]
        raise CronSyntaxError(expression, "year", offset + 1, f"unexpected 8th field {text!r}")
    parsers = [
        _FieldParser(expression.upper(), name, text, offset)
        for name, (text, offset) in zip(FIELD_NAMES, fields)
    ]
    for p in parsers:
        if "?" in p.text and (p.field not in ("day-of-month", "day-of-week") or p.text != "?"):
            where = p.text.index("?")
            raise p.error(where, "'?' is only allowed alone, in day-of-month or day-of-week")
    seconds, minutes, hours = (parsers[i].values() for i in range(3))
    months = parsers[4].values()
    dom_p, dow_p = parsers[3], parsers[5]
    if dom_p.text == "?" and dow_p.text == "?":
        raise dow_p.error(0, "'?' can be used in only one of day-of-month and day-of-week")
    if dom_p.text != "?" and dow_p.text != "?":
        raise dow_p.error(
            0, "exactly one of day-of-month and day-of-week must be '?' "
               f"(use '?' for day-of-week, or '?' for day-of-month with {dow_p.text!r})"
        )
    dom = None if dom_p.text == "?" else _parse_dom(dom_p)
    dow = None if dow_p.text == "?" else _parse_dow(dow_p)
    years = None
    if len(parsers) == 7 and parsers[6].text != "*":
        years = parsers[6].values()
    return QuartzCron(
        expression=expression, seconds=seconds, minutes=minutes, hours=hours,
        dom=dom, months=months, dow=dow, years=years,
    )


def check_future(cron: QuartzCron, now: dt.datetime | None = None, tz: ZoneInfo | dt.tzinfo = UTC) -> None:
    """Raise CronSyntaxError if the expression can never fire after ``now`` (years in the past,
    31 FEB...): caught at validate time, not at 3 AM."""
    now = now or dt.datetime.now(UTC)
    if cron.next_fire(now, tz) is not None:
        return
    fields = _split(cron.expression)
    if cron.years is not None and cron.years[-1] <= now.astimezone(tz).year:
        text, offset = fields[6]
        raise CronSyntaxError(cron.expression, "year", offset + 1,
                              f"no fire time is left in the year field ({text}); the schedule would never fire")
    text, offset = fields[3] if cron.dom is not None else fields[5]
    raise CronSyntaxError(cron.expression, "day-of-month" if cron.dom is not None else "day-of-week",
                          offset + 1, "the schedule never matches a real date, so it would never fire")


# Java's three-letter zone ids (``java.time.ZoneId.SHORT_IDS``) that tzdata does not have:
# ``timezone_id`` is a Java time zone id, and Java accepts these (EST, MST and HST are in tzdata).
JAVA_SHORT_IDS = {
    "ACT": "Australia/Darwin", "AET": "Australia/Sydney", "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo", "AST": "America/Anchorage", "BET": "America/Sao_Paulo", "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare", "CNT": "America/St_Johns", "CST": "America/Chicago", "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa", "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "MIT": "Pacific/Apia", "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland", "PLT": "Asia/Karachi", "PNT": "America/Phoenix", "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles", "SST": "Pacific/Guadalcanal", "VST": "Asia/Ho_Chi_Minh",
}
# Java's custom ids: GMT+H, GMT+HH, GMT+H:MM, GMT+HHMM (and GMT-...), offsets up to 23:59.
_JAVA_CUSTOM_ID = re.compile(r"GMT([+-])(\d{1,2})(?::?(\d{2}))?")


def validate_timezone(timezone_id: str) -> dt.tzinfo:
    """The zone of a Java time zone id (the Jobs API's ``timezone_id``): an IANA id, one of
    Java's three-letter ids, or a custom ``GMT+hh:mm``; otherwise a HealthmonError naming it."""
    if not isinstance(timezone_id, str) or not timezone_id.strip():
        raise HealthmonError(
            f"Invalid timezone_id {timezone_id!r}: expected a time zone such as 'UTC' or 'America/Los_Angeles'."
        )
    custom = _JAVA_CUSTOM_ID.fullmatch(timezone_id)
    if custom is not None and int(custom.group(2)) <= 23 and int(custom.group(3) or 0) <= 59:
        sign = -1 if custom.group(1) == "-" else 1
        offset = dt.timedelta(hours=int(custom.group(2)), minutes=int(custom.group(3) or 0))
        return dt.timezone(sign * offset, timezone_id)
    try:
        return ZoneInfo(JAVA_SHORT_IDS.get(timezone_id, timezone_id))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise HealthmonError(
            f"Invalid timezone_id {timezone_id!r}: not a known time zone "
            "(expected e.g. 'UTC', 'America/Los_Angeles', 'Europe/London')."
        ) from None


def describe(expression: str) -> str:
    """Human-readable text for a Quartz expression (cron-descriptor, with Quartz's 1=SUN
    day-of-week numbering)."""
    parse_quartz(expression)  # cron-descriptor is lenient; reject what Quartz rejects first
    from cron_descriptor import ExpressionDescriptor, Options

    fields = [text for text, _ in _split(expression.upper())]
    if fields[5] == "L":  # Quartz reads a bare L in day-of-week as 7 (SAT); cron-descriptor doesn't
        fields[5] = "7"
    options = Options()
    options.day_of_week_start_index_zero = False  # Quartz numbers days 1=SUN..7=SAT
    options.use_24hour_time_format = True
    try:
        return ExpressionDescriptor(" ".join(fields), options).get_description()
    except Exception:  # a description must never break a listing: fall back to the expression
        return f"Quartz schedule {expression.strip()}"
