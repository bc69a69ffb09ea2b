"""The report's SVG charts: values placed on the axes, text escaped, nothing loaded."""

import datetime as dt
import xml.etree.ElementTree as ET

from healthmon.ml import report_charts as rc

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ticks_cover_the_range_with_round_steps():
    assert rc.nice_ticks(0, 7300) == [0, 2000, 4000, 6000, 8000]
    assert rc.nice_ticks(0, 6) == [0, 2, 4, 6]
    ticks = rc.nice_ticks(0.1, 0.93)
    assert ticks[0] <= 0.1 and ticks[-1] >= 0.93 and len(ticks) <= 7


def test_date_ticks_days_then_months():
    short = rc.date_ticks(dt.date(2026, 3, 1), dt.date(2026, 3, 14))
    assert short[0] == (dt.date(2026, 3, 1), "Mar 1") and all(d <= dt.date(2026, 3, 14) for d, _ in short)
    long = rc.date_ticks(dt.date(2025, 11, 15), dt.date(2026, 9, 30))
    labels = [label for _, label in long]
    assert labels[:3] == ["Jan 2026", "Mar", "May"]  # every 2nd month; the year on the first tick and on January


def test_time_series_chart_is_well_formed_svg_with_escaped_text():
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(10)]
    svg = rc.time_series_chart("Cost <all> & more", "$ per day", [
        rc.Series("Actual", days, [float(i) for i in range(10)], "#000"),
        rc.Series("Forecast", days[1:], [float("nan")] + [1.0] * 8, "#f00", "dashed"),
        rc.Series("Anomaly", days[3:4], [3.0], "#c00", "dots")])
    root = ET.fromstring(svg)  # parses: escaped, balanced
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Cost <all> & more" in texts and {"Actual", "Forecast", "Anomaly"} <= set(texts)
    assert len(list(root.iter(f"{SVG}circle"))) == 2  # the marked day and its legend swatch
    actual, forecast = root.iter(f"{SVG}polyline")
    assert len(actual.get("points").split()) == 10 and len(forecast.get("points").split()) == 8  # NaN left out
    assert "href" not in svg and "url(" not in svg  # loads nothing (the page's CSP)


def test_stacked_bar_chart_splits_each_bar_by_stack():
    svg = rc.stacked_bar_chart("Alerts", "count", ["a@x.com", "b<x>"], [
        rc.Stack("one", [2, 0], "#111"), rc.Stack("two", [1, 3], "#222")])
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [b.find(f"{SVG}title").text for b in bars] == ["a@x.com: 2 (one)", "a@x.com: 1 (two)", "b<x>: 3 (two)"]
    widths = [float(b.get("width")) for b in bars]
    assert abs(widths[0] - 2 * widths[1]) < 0.2 and abs(widths[2] - 3 * widths[1]) < 0.2
