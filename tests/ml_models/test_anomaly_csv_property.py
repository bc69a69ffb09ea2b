"""Property test of the anomaly CSV reader: any bytes give rows or a clean InputError, never a traceback."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthmon.ml.anomaly_csv import AnomalyCsvReader, InputError, parse_timestamp, parse_value
from healthmon.ml.anomaly_method import StreamScorer

ODD_TIMES = ["2024-01-06", "2024-01-06T10:00:00Z", "2024-01-06 10:00:00+05:30", "Jan 6 2024", "6 January 2024 23:59",
             "1704499200", "1704499200123", "13/01/2024", "03/04/2024", "9999-12-31T23:59:59", "0001-01-01", "2024-02-30",
             "", "  ", "Z", "T", "-1", "1e10", "24:00", "Feb 30 2024", "2024-01-06T25:00", "\x00", "\udc80"]
ODD_VALUES = ["1e360", "-1e360", "1e-400", "5e-324", "1e300", "-1e300", "nan", "inf", "-Infinity", "0x10", "1_000", "",
              "١٢٣", "12,5", " 7 ", "\x00", "1e308", "--1"]


def _consume(data: bytes, encoding: str) -> None:
    text = io.StringIO(data.decode(encoding, errors="surrogateescape"), newline="")
    try:
        reader = AnomalyCsvReader(text, time_column="t", value_column="v", entity_column="e")
    except InputError:
        return
    scorer = StreamScorer()
    for row in reader:
        scorer.update(row.entity, row.time, row.value)
    assert reader.report.used + reader.report.unusable == reader.report.rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from(["utf-8", "latin-1"]))
def test_random_bytes_never_raise(data, encoding):
    if encoding == "latin-1":
        data = data.decode("latin-1").encode("utf-8", errors="surrogateescape")
    _consume(b"t,v,e\n" + data, "utf-8")
    _consume(data, "utf-8")


row = st.tuples(
    st.one_of(st.sampled_from(ODD_TIMES), st.text(max_size=25)),
    st.one_of(st.sampled_from(ODD_VALUES), st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=12)),
    st.sampled_from(["a", "b", "", "é", "x,y"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(row, max_size=60), st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_odd_rows_in_odd_encodings_give_rows_or_reports(rows, encoding):
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["t", "v", "e"])
    w.writerows(rows)
    data = buf.getvalue().encode(encoding, errors="replace")
    _consume(data, "utf-8")


@given(st.text(max_size=40))
def test_parsers_raise_only_value_errors(s):
    for parse in (parse_timestamp, parse_value):
        try:
            parse(s)
        except ValueError:
            pass
