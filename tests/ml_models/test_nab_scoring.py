"""The NAB window scoring of benchmarks/nab.py on a hand-made example.

Expected numbers follow from nab-dev/README.md: the first 15 % of a series' rows is probation
(flags there are not counted); window recall = windows with a counted flag inside / windows;
flag precision = counted flags inside a window / all counted flags; a window with no row after
the probation period cannot be detected or missed, so it is not in the recall denominator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import nab

T0 = pd.Timestamp("2024-01-01")


def _at(i: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=5 * i)


def _series(key: str, rows: int, windows: list[tuple[pd.Timestamp, pd.Timestamp]],
            skip: range = range(0)) -> nab.Series:
    idx = [i for i in range(rows) if i not in skip]
    return nab.Series(key=key, corpus=key.split("/")[0], timestamps=pd.Series([_at(i) for i in idx]),
                      values=pd.Series(np.ones(len(idx))), windows=tuple(windows))


# Series A: 20 rows, probation = int(20 × 0.15) = 3 rows (0, 1, 2).
A = _series("realTweets/a.csv", 20, [
    (_at(0), _at(1)),    # ends in probation: not countable
    (_at(2), _at(4)),    # straddles the boundary: countable, hit by the flag at row 4
    (_at(10), _at(12)),  # countable, hit twice (rows 11 and 12)
    (_at(15), _at(16)),  # countable, missed
])
A_FLAGS = {1, 2, 4, 5, 11, 12, 18}  # 1 and 2 are in probation; 5 and 18 are false alarms
# Series B: 10 rows at positions 0..11 without 3 and 4 (a gap); probation = int(10 × 0.15) = 1 row.
B = _series("realTweets/b.csv", 12, [
    (_at(3), _at(4)),    # falls in the gap: no row, not countable
    (_at(6), _at(7)),    # countable, missed
], skip=range(3, 5))
B_FLAGS = {0, 9}  # row 0 is in probation; the row at position 9 is a false alarm


def _detector(frame: pd.DataFrame) -> np.ndarray:
    """Flags given by position (5-minute steps from T0) per series, in the frame's row order."""
    pos = ((pd.to_datetime(frame["timestamp"]) - T0) / pd.Timedelta(minutes=5)).astype(int)
    wanted = {"realTweets/a.csv": A_FLAGS, "realTweets/b.csv": B_FLAGS}
    return np.array([p in wanted[s] for s, p in zip(frame["series"], pos)])


def test_one_series_probation_and_countable_windows():
    flags = np.array([i in A_FLAGS for i in range(20)])
    c = nab.count(A, flags)
    assert (c.windows, c.windows_hit, c.flags, c.flags_in_window) == (3, 2, 5, 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.precision == pytest.approx(3 / 5)
    assert c.f1 == pytest.approx(12 / 19)


def test_counts_are_pooled_over_a_corpus():
    result = nab.evaluate(_detector, [A, B])
    b = result["series"]["realTweets/b.csv"]
    assert (b["windows"], b["windows_hit"], b["flags"], b["flags_in_window"]) == (1, 0, 1, 0)
    corpus = result["corpora"]["realTweets"]
    assert (corpus["windows"], corpus["windows_hit"], corpus["flags"], corpus["flags_in_window"]) == (4, 2, 6, 3)
    assert (corpus["recall"], corpus["precision"], corpus["f1"]) == (0.5, 0.5, 0.5)
    assert result["overall"]["f1"] == 0.5


def test_flag_count_must_match_rows():
    with pytest.raises(ValueError, match="realTweets/a.csv"):
        nab.count(A, np.zeros(3, dtype=bool))


def _one_window(name: str) -> nab.Series:
    return _series(f"realTweets/{name}.csv", 20, [(_at(10), _at(12))])


def test_two_fold_scores_each_half_with_settings_chosen_on_the_other():
    """Sorted by name, the series alternate between folds (a, c: fold 0; b, d: fold 1). The
    detector's setting ``p`` finds the window only on the series of fold ``p``, so a setting
    chosen on one half is wrong on the other: the held-out figure must show it (F1 0), while
    the full-set figure with the default p = 0 finds half the windows."""
    series = [_one_window(n) for n in ("d", "a", "c", "b")]
    fold = nab.fold_of(series)
    assert fold == {"realTweets/a.csv": 0, "realTweets/b.csv": 1, "realTweets/c.csv": 0, "realTweets/d.csv": 1}

    def detector(frame: pd.DataFrame, p: int) -> np.ndarray:
        pos = ((pd.to_datetime(frame["timestamp"]) - T0) / pd.Timedelta(minutes=5)).astype(int)
        return np.array([i == (11 if fold[s] == p else 5) for s, i in zip(frame["series"], pos)])

    report = nab.two_fold(series, {"d": (detector, {"p": (0, 1)}, {"p": 0})})
    res = report["detectors"]["d"]
    assert [f["chosen"] for f in res["folds"]] == [{"p": 1}, {"p": 0}]  # fold 0 held out first
    assert [f["on_design_fold"]["realTweets"]["f1"] for f in res["folds"]] == [1.0, 1.0]
    cross = res["cross_fold"]["realTweets"]
    assert (cross["windows"], cross["windows_hit"], cross["flags"], cross["f1"]) == (4, 0, 4, 0.0)
    full = res["full_defaults"]["realTweets"]
    assert (full["windows_hit"], full["flags_in_window"], full["flags"], full["f1"]) == (2, 2, 4, 0.5)
    assert report["split"] == {"0": ["realTweets/a.csv", "realTweets/c.csv"],
                               "1": ["realTweets/b.csv", "realTweets/d.csv"]}


def test_series_interval_brackets_the_pooled_f1_and_is_a_point_when_series_agree():
    same = {f"realTweets/{i}.csv": nab.Counts(windows=2, windows_hit=1, flags=4, flags_in_window=2) for i in range(5)}
    pooled = sum(same.values(), nab.Counts()).f1
    assert nab.series_interval(same) == (pytest.approx(pooled), pytest.approx(pooled))
    mixed = {"realTweets/good.csv": nab.Counts(windows=2, windows_hit=2, flags=2, flags_in_window=2),
             "realTweets/bad.csv": nab.Counts(windows=2, windows_hit=0, flags=6, flags_in_window=0),
             "realTweets/mid.csv": nab.Counts(windows=2, windows_hit=1, flags=4, flags_in_window=2)}
    lo, hi = nab.series_interval(mixed)
    assert lo < sum(mixed.values(), nab.Counts()).f1 < hi
    assert 0.0 <= lo and hi <= 1.0
