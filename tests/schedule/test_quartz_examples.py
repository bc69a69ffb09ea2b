"""Exact next-fire tests: Quartz's documented examples, the seed's schedules, special days,
DST in America/Los_Angeles and Europe/London, and bad input."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from healthmon.errors import HealthmonError
from healthmon.schedule.quartz import (
    CronSyntaxError,
    check_future,
    describe,
    parse_quartz,
    validate_timezone,
)

UTC = dt.timezone.utc
LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")
START = dt.datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


def fires(expr: str, n: int, start: dt.datetime = START, tz=UTC) -> list[str]:
    out = parse_quartz(expr).next_fires(start, tz, n)
    return [f.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") for f in out]


def utc(*args) -> str:
    return dt.datetime(*args).strftime("%Y-%m-%d %H:%M:%S")


# --- Quartz's CronTrigger tutorial examples -------------------------------------------------

def test_doc_noon_every_day():
    assert fires("0 0 12 * * ?", 3) == [utc(2026, 1, d, 12) for d in (1, 2, 3)]


@pytest.mark.parametrize("expr", ["0 15 10 ? * *", "0 15 10 * * ?", "0 15 10 * * ? *"])
def test_doc_1015_every_day(expr):
    assert fires(expr, 2) == [utc(2026, 1, 1, 10, 15), utc(2026, 1, 2, 10, 15)]


def test_doc_every_minute_of_2pm():
    got = fires("0 * 14 * * ?", 61)
    assert got == [utc(2026, 1, 1, 14, m) for m in range(60)] + [utc(2026, 1, 2, 14, 0)]


def test_doc_every_5_minutes_2pm():
    got = fires("0 0/5 14 * * ?", 13)
    assert got == [utc(2026, 1, 1, 14, m) for m in range(0, 60, 5)] + [utc(2026, 1, 2, 14, 0)]


def test_doc_every_5_minutes_2pm_and_6pm():
    got = fires("0 0/5 14,18 * * ?", 25)
    expected = [utc(2026, 1, 1, h, m) for h in (14, 18) for m in range(0, 60, 5)]
    assert got == expected + [utc(2026, 1, 2, 14, 0)]


def test_doc_minute_range():
    assert fires("0 0-5 14 * * ?", 7) == [utc(2026, 1, 1, 14, m) for m in range(6)] + [utc(2026, 1, 2, 14, 0)]


def test_doc_wednesdays_in_march():
    got = fires("0 10,44 14 ? 3 WED", 9)
    expected = [utc(2026, 3, d, 14, m) for d in (4, 11, 18, 25) for m in (10, 44)]
    assert got == expected + [utc(2027, 3, 3, 14, 10)]


def test_doc_weekdays():
    got = fires("0 15 10 ? * MON-FRI", 5)
    assert got == [utc(2026, 1, d, 10, 15) for d in (1, 2, 5, 6, 7)]


def test_doc_15th_of_month():
    assert fires("0 15 10 15 * ?", 3) == [utc(2026, m, 15, 10, 15) for m in (1, 2, 3)]


def test_doc_last_day_of_month():
    assert fires("0 15 10 L * ?", 4) == [utc(2026, 1, 31, 10, 15), utc(2026, 2, 28, 10, 15),
                                         utc(2026, 3, 31, 10, 15), utc(2026, 4, 30, 10, 15)]
    leap = dt.datetime(2028, 2, 1, tzinfo=UTC)
    assert fires("0 15 10 L * ?", 1, leap) == [utc(2028, 2, 29, 10, 15)]


def test_doc_last_day_offset():
    assert fires("0 15 10 L-2 * ?", 4) == [utc(2026, 1, 29, 10, 15), utc(2026, 2, 26, 10, 15),
                                           utc(2026, 3, 29, 10, 15), utc(2026, 4, 28, 10, 15)]


def test_doc_last_friday():
    got = fires("0 15 10 ? * 6L", 5)
    assert got == [utc(2026, 1, 30, 10, 15), utc(2026, 2, 27, 10, 15), utc(2026, 3, 27, 10, 15),
                   utc(2026, 4, 24, 10, 15), utc(2026, 5, 29, 10, 15)]
    assert fires("0 15 10 ? * FRIL", 5) == got


def test_doc_third_friday():
    got = fires("0 15 10 ? * 6#3", 4)
    assert got == [utc(2026, 1, 16, 10, 15), utc(2026, 2, 20, 10, 15), utc(2026, 3, 20, 10, 15),
                   utc(2026, 4, 17, 10, 15)]
    assert fires("0 15 10 ? * FRI#3", 4) == got


def test_fifth_friday_skips_months_without_one():
    assert fires("0 0 12 ? * 6#5", 2) == [utc(2026, 1, 30, 12), utc(2026, 5, 29, 12)]


def test_doc_every_5_days_from_the_first():
    got = fires("0 0 12 1/5 * ?", 8)
    assert got == [utc(2026, 1, d, 12) for d in (1, 6, 11, 16, 21, 26, 31)] + [utc(2026, 2, 1, 12)]


def test_doc_november_11():
    assert fires("0 11 11 11 11 ?", 2) == [utc(2026, 11, 11, 11, 11), utc(2027, 11, 11, 11, 11)]


def test_doc_wednesday_noon():
    assert fires("0 0 12 ? * WED", 2) == [utc(2026, 1, 7, 12), utc(2026, 1, 14, 12)]


@pytest.mark.parametrize("expr", ["0 15 10 * * ? 2005", "0 15 10 ? * 6L 2002-2005"])
def test_doc_examples_with_past_years_are_rejected(expr):
    with pytest.raises(CronSyntaxError) as info:
        parse_quartz(expr)
    assert info.value.field == "year" and info.value.position == expr.rindex(" ") + 2
    assert "past" in str(info.value)


# --- W, LW, wrapping ranges, names, seconds, years ------------------------------------------

def test_nearest_weekday():
    # 2026: Jan 15 Thu, Feb 15 Sun, Mar 15 Sun, Aug 15 Sat
    got = fires("0 0 12 15W * ?", 8)
    assert got[:3] == [utc(2026, 1, 15, 12), utc(2026, 2, 16, 12), utc(2026, 3, 16, 12)]
    assert utc(2026, 8, 14, 12) in got


def test_nearest_weekday_never_leaves_the_month():
    # Aug 1 2026 is a Saturday: 1W is Monday the 3rd, not Friday July 31.
    assert fires("0 0 12 1W * ?", 1, dt.datetime(2026, 7, 5, tzinfo=UTC)) == [utc(2026, 8, 3, 12)]
    # May 31 2026 is a Sunday: 31W is Friday the 29th; February has no 31st at all.
    assert fires("0 0 12 31W * ?", 1, dt.datetime(2026, 5, 1, tzinfo=UTC)) == [utc(2026, 5, 29, 12)]
    assert fires("0 0 12 31W * ?", 2) == [utc(2026, 1, 30, 12), utc(2026, 3, 31, 12)]


def test_last_weekday():
    assert fires("0 0 12 LW * ?", 5) == [utc(2026, 1, 30, 12), utc(2026, 2, 27, 12), utc(2026, 3, 31, 12),
                                         utc(2026, 4, 30, 12), utc(2026, 5, 29, 12)]


def test_wrapping_ranges():
    # (START itself is 00:00 and next fires are strictly after it)
    assert fires("0 0 22-1 * * ?", 4) == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 22),
                                          utc(2026, 1, 1, 23), utc(2026, 1, 2, 0)]
    # FRI-MON from Thursday Jan 1: Fri 2, Sat 3, Sun 4, Mon 5, then Fri 9
    assert fires("0 0 12 ? * FRI-MON", 5) == [utc(2026, 1, d, 12) for d in (2, 3, 4, 5, 9)]


def test_lowercase_names_and_lists():
    assert fires("0 0 12 ? jan,mar mon", 5) == [utc(2026, 1, d, 12) for d in (5, 12, 19, 26)] + [utc(2026, 3, 2, 12)]


def test_seconds_and_range_steps():
    assert fires("*/20 * * * * ?", 4) == [utc(2026, 1, 1, 0, 0, 20), utc(2026, 1, 1, 0, 0, 40),
                                          utc(2026, 1, 1, 0, 1, 0), utc(2026, 1, 1, 0, 1, 20)]
    assert fires("0 10-50/20 * * * ?", 4) == [utc(2026, 1, 1, 0, m) for m in (10, 30, 50)] + [utc(2026, 1, 1, 1, 10)]


def test_year_field_ends():
    assert fires("0 0 0 1 1 ? 2027,2029", 5) == [utc(2027, 1, 1), utc(2029, 1, 1)]


def test_strictly_after():
    cron = parse_quartz("0 0 12 * * ?")
    at = dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert cron.next_fire(at, UTC) == dt.datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert cron.next_fire(at - dt.timedelta(microseconds=1), UTC) == at
    assert cron.next_fire(at + dt.timedelta(microseconds=1), UTC) == dt.datetime(2026, 1, 2, 12, tzinfo=UTC)


def test_never_firing_expression():
    cron = parse_quartz("0 0 0 30 2 ?")
    assert cron.next_fire(START, UTC) is None
    with pytest.raises(CronSyntaxError) as info:
        check_future(cron, START)
    assert info.value.field == "day-of-month"
    check_future(parse_quartz("0 0 0 29 2 ?"), START)  # leap days exist


def test_naive_datetime_rejected():
    with pytest.raises(ValueError):
        parse_quartz("0 0 12 * * ?").next_fire(dt.datetime(2026, 1, 1), UTC)


# --- The seed's schedules (deployment-and-orchestration.md) ---------------------------------

SEED = [
    # (expression, first three fires after 2026-01-01T00:00Z = 2025-12-31 16:00 PST, in UTC)
    ("0 0 3 ? * *", [utc(2026, 1, 1, 11), utc(2026, 1, 2, 11), utc(2026, 1, 3, 11)]),
    ("0 0 3 ? * SUN", [utc(2026, 1, 4, 11), utc(2026, 1, 11, 11), utc(2026, 1, 18, 11)]),
    ("0 0 * ? * *", [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)]),
    ("0 0 */4 ? * *", [utc(2026, 1, 1, 4), utc(2026, 1, 1, 8), utc(2026, 1, 1, 12)]),
]


@pytest.mark.parametrize("expr,expected", SEED)
def test_seed_schedules_in_los_angeles(expr, expected):
    assert fires(expr, 3, tz=LA) == expected
    # returned in the schedule's zone
    assert parse_quartz(expr).next_fire(START, LA).tzinfo is LA


def test_seed_descriptions():
    assert describe("0 0 3 ? * SUN") == "At 03:00, only on Sunday"
    assert describe("0 0 3 ? * *") == "At 03:00"
    assert "hour" in describe("0 0 * ? * *").lower()
    assert "4 hours" in describe("0 0 */4 ? * *")


def test_description_uses_quartz_day_numbers():
    assert "Sunday" in describe("0 0 3 ? * 1")
    assert "Saturday" in describe("0 0 3 ? * 7")
    assert "Monday through Friday" in describe("0 0 3 ? * 2-6")
    assert "third Friday" in describe("0 15 10 ? * 6#3")
    assert "Saturday" in describe("0 0 12 ? * L")  # a bare L in day-of-week is 7


# --- DST ------------------------------------------------------------------------------------

def test_la_spring_forward_gap_fires_once_at_first_valid_instant():
    # 2026-03-08: 02:00 PST jumps to 03:00 PDT (10:00Z).
    got = fires("0 30 2 * * ?", 3, dt.datetime(2026, 3, 7, tzinfo=UTC), LA)
    assert got == [utc(2026, 3, 7, 10, 30), utc(2026, 3, 8, 10, 0), utc(2026, 3, 9, 9, 30)]


def test_la_spring_forward_every_30_minutes():
    got = fires("0 0/30 * * * ?", 5, dt.datetime(2026, 3, 8, 8, tzinfo=UTC), LA)
    # 00:30, 01:00, 01:30 PST; 02:00 and 02:30 don't exist -> one fire at 03:00 PDT; 03:30 PDT
    assert got == [utc(2026, 3, 8, 8, 30), utc(2026, 3, 8, 9), utc(2026, 3, 8, 9, 30),
                   utc(2026, 3, 8, 10), utc(2026, 3, 8, 10, 30)]


def test_la_weekly_sunday_3am_on_dst_days():
    got = fires("0 0 3 ? * SUN", 2, dt.datetime(2026, 3, 1, 12, tzinfo=UTC), LA)
    assert got == [utc(2026, 3, 8, 10), utc(2026, 3, 15, 10)]  # 03:00 PDT
    got = fires("0 0 3 ? * SUN", 2, dt.datetime(2026, 10, 26, tzinfo=UTC), LA)
    assert got == [utc(2026, 11, 1, 11), utc(2026, 11, 8, 11)]  # 03:00 PST


def test_la_fall_back_repeated_hour_fires_once():
    # 2026-11-01: 02:00 PDT falls back to 01:00 PST; 01:30 happens at 08:30Z and 09:30Z.
    got = fires("0 30 1 * * ?", 3, dt.datetime(2026, 10, 31, tzinfo=UTC), LA)
    assert got == [utc(2026, 10, 31, 8, 30), utc(2026, 11, 1, 8, 30), utc(2026, 11, 2, 9, 30)]
    # Asking from inside the second 01:xx hour does not fire 01:30 again.
    inside = dt.datetime(2026, 11, 1, 9, 15, tzinfo=UTC)
    assert fires("0 30 1 * * ?", 1, inside, LA) == [utc(2026, 11, 2, 9, 30)]


def test_la_fall_back_hourly():
    got = fires("0 0 * * * ?", 3, dt.datetime(2026, 11, 1, 7, tzinfo=UTC), LA)
    assert got == [utc(2026, 11, 1, 8), utc(2026, 11, 1, 10), utc(2026, 11, 1, 11)]


def test_london_spring_forward():
    # 2026-03-29: 01:00 GMT jumps to 02:00 BST (01:00Z).
    got = fires("0 30 1 * * ?", 3, dt.datetime(2026, 3, 28, tzinfo=UTC), LONDON)
    assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]
    assert fires("0 0 1 * * ?", 1, dt.datetime(2026, 3, 29, tzinfo=UTC), LONDON) == [utc(2026, 3, 29, 1, 0)]


def test_london_fall_back():
    # 2026-10-25: 02:00 BST falls back to 01:00 GMT; 01:30 fires once, at 00:30Z (BST).
    got = fires("0 30 1 * * ?", 3, dt.datetime(2026, 10, 24, tzinfo=UTC), LONDON)
    assert got == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "expr,field,position,words",
    [
        ("0 0 3 * * SUN", "day-of-week", 11, "exactly one"),
        ("0 0 3 ? * ?", "day-of-week", 11, "only one"),
        ("61 * * ? * *", "seconds", 1, "out of range 0-59"),
        ("0 60 * ? * *", "minutes", 3, "out of range"),
        ("0 0 24 ? * *", "hours", 5, "out of range"),
        ("0 0 3 32 * ?", "day-of-month", 7, "out of range"),
        ("0 0 3 ? 13 *", "month", 9, "out of range"),
        ("0 0 3 ? FOO *", "month", 9, "FOO"),
        ("0 0 3 ? * 8", "day-of-week", 11, "out of range 1-7"),
        ("0 0 3 ? * MON#6", "day-of-week", 15, "1-5"),
        ("0 0 3 ? * 1,2#2", "day-of-week", 14, "single day"),
        ("0 0 3 1,L * ?", "day-of-month", 9, "L"),
        ("0 0 3 1-5W * ?", "day-of-month", 7, "W"),
        ("0 0/0 3 ? * *", "minutes", 5, "step"),
        ("0 0/x 3 ? * *", "minutes", 5, "step"),
        ("0 0 3 ? * * 1969", "year", 13, "out of range"),
        ("0 0 ? ? * *", "hours", 5, "?"),
        ("0 0 3 ? *", "day-of-week", 10, "6 or 7 fields"),
        ("0 0 3 ? * * 2030 x", "year", 18, "8th"),
        ("0 0 1,,2 ? * *", "hours", 7, "empty"),
        ("0 0 5- ? * *", "hours", 5, "incomplete range"),
    ],
)
def test_syntax_errors_name_field_and_position(expr, field, position, words):
    with pytest.raises(CronSyntaxError) as info:
        parse_quartz(expr)
    err = info.value
    assert isinstance(err, HealthmonError)
    assert (err.field, err.position) == (field, position)
    assert words in str(err) and field in str(err) and f"position {position}" in str(err)


def test_validate_timezone():
    assert validate_timezone("America/Los_Angeles") == LA
    for bad in ("Mars/Olympus_Mons", "", "../etc/passwd", "GMT+25", "UTC+1", "PSTX"):
        with pytest.raises(HealthmonError) as info:
            validate_timezone(bad)
        assert "timezone_id" in str(info.value)


@pytest.mark.parametrize("java_id, offset_hours", [
    ("PST", -8), ("IST", 5.5), ("JST", 9), ("ECT", 1),  # java.time.ZoneId.SHORT_IDS, winter
    ("EST", -5), ("GMT+1", 1), ("GMT-08:00", -8), ("GMT+0530", 5.5),  # tzdata; Java's custom ids
])
def test_java_time_zone_ids_are_accepted(java_id, offset_hours):
    """The Jobs API's ``timezone_id`` is a Java time zone id (Databricks' Jobs API reference),
    so Java's three-letter ids and custom ``GMT+hh:mm`` ids fire on their zone's clock."""
    winter = dt.datetime(2026, 1, 15, 12, tzinfo=dt.timezone.utc)
    assert validate_timezone(java_id).utcoffset(winter) == dt.timedelta(hours=offset_hours)
