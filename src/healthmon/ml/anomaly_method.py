"""A causal, per-entity, seasonality-aware anomaly scorer for any time series.

One ``EntityScorer`` follows one entity's series point by point, in time order, keeping a small
state of fixed size (no history buffer). The score at t is a function of the points up to t,
appending points never changes an earlier result, and a file of any length streams through it.
``StreamScorer`` keeps one per entity for interleaved rows; ``score_series`` applies it to a
DataFrame.

Per point (``EntityScorer.update``):

1. **Expected value.** Three forecasters run side by side, each a robust level plus, for two
   of them, a seasonal profile in buckets of the time of day or of the week: ``none``, ``daily``
   and ``weekly``. Each tracks its own mean absolute one-step error; the expected value is that
   of the forecaster with the smallest error so far (a seasonal one once it has seen one
   period's worth of points at the series' spacing, and only for a bucket it has seen). So the
   series' own history decides whether it has a daily or a weekly cycle; the granularity (median
   spacing of the first points) sets the bucket count. Residuals are clipped at ``clip`` × the
   noise level before they update a level or a profile, so an anomaly does not become the new
   normal at once. The weekly profile's first visits measure no error, and its first forecasts
   are last week's values: it starts from the error a week of the level's typical daily move
   (the median over its first week, less the daily cycle) would give it, so a trend is not
   forecast a week behind while a weekly cycle still wins at once. Off a fixed time grid
   (jittered times), a point is judged against the closest of its bucket's forecast and those of
   the seen buckets up to two either side that are ``min_z`` from it (jittered times fall on
   either side of a sharp edge of the cycle), and a profile that has not seen a time's bucket but
   a neighbouring one forecasts it rather than the level alone. Across a gap in the data (over 12
   steps) each forecaster's level moves on by its own rate of change over the missing time, when
   that rate is the same over a day and over four days and at least a noise level a day (a steep
   trend jumps by days of its slope across a gap of days; a wander or a cycle moves no level). A
   rate is the level's moves over the time they took, a gap's time included: a level that lagged
   after a gap catches up over a few points, and those points did not take hours of trend.
2. **Noise level.** A running median of |residual| (multiplicative steps, so a spike moves it
   by one step only), kept per hour of the day for sub-daily data (``noise_buckets``): busy
   hours are noisier than quiet ones, and one level for both would flag noise by day and miss
   changes by night. Coarser data gets longer blocks of the day (each level sees at least
   ``NOISE_VISITS_PER_DAY`` points a day: 30-minute data 4 blocks, hourly 2, two-hourly and
   coarser one), else a level visited once a day takes months to follow the series. Each level
   starts from the warm-up's and converges with a decreasing gain, then follows the series with
   the step ``noise_alpha`` per visit.
   residual / (1.4826 × noise level) is a robust z-score. Counts (every value so far a
   non-negative integer) cannot be less noisy than a Poisson count, so their noise level is at
   least sqrt(expected) (and 1): a jump from 0 to 3 in a quiet hour is not a 100-sigma event.
   Quantised values (on a grid: an integer percentage, a value in steps of 0.25) cannot be less
   noisy than their rounding: half the smallest step between the distinct values seen so far
   floors the noise level (not for counts: they have the Poisson floor), the level-shift
   channel's spread and the spread channel's |z|.
3. **Score.** Anomalies in operational series are mostly excursions that last (a surge, an
   outage, a missing cycle), not single noisy points, so the scored quantities are exponential
   averages of signed z-scores at two scales: short (``short_alpha``, about an hour of
   5-minute points) and long (``long_alpha``, about six hours: slow humps and dips).
   A third quantity is a two-sided CUSUM of the z-scores (clipped at ``drift_clip``, allowance
   ``drift_k`` per point): it grows for as long as the level stays shifted, so the start of a
   lasting change stands out on series whose short bursts make the averages' tails heavy.
   A fourth is the point's own |z|, for a single spike (it moves the averages by a twelfth):
   its surprise counts only for a point at least ``point_min_z`` from expected, and then
   ``point_margin`` (log10) less than the others' (one point is weaker evidence than an excursion).
   A fifth is a level shift that the forecasters cannot absorb: the median of the last
   ``shift_short`` values (less the chosen forecaster's cycle) against the median and spread
   (interquartile range) of the ``shift_long`` values before them, in units of that spread. The
   forecasters follow a lasting change within a few points; this lagged window does not, so a shift
   or a ramp stays visible. It counts once it has ``shift_history`` values of its own history;
   until then (series of under ~1,800 points) a recent median ``min_z`` spreads from the lagged one,
   and ``YOUNG_MARGIN`` times the largest shift the series has shown before its recent window,
   counts as reaching the budget.
   A sixth is a change of spread (added noise; a stuck sensor, whose points the forecasters follow):
   the log ratio of the median |z| of the last ``spread_short`` points to that of the
   ``spread_long`` before them, both ways, with the same own history first; until then a ratio
   ``spread_min`` from 1 (log), and ``YOUNG_SPREAD_MARGIN`` times the largest (log) ratio the series
   has shown before its recent window, counts as reaching the budget.
   ``anomaly_score`` is the largest tail surprise of the six, -log10 of how rare the value is
   among the entity's own past values of it: a decayed histogram, with an exponential tail
   fitted beyond its top ``tail_share`` (peaks over threshold), so heavy-tailed series are
   judged by their own tails and a value beyond anything seen still gets a finite, growing
   score.
4. **Flag.** ``is_anomaly`` when the surprise reaches log10(``budget``) (under the fitted
   tail, one point in ``budget`` of a normal history would reach it: the false-alarm budget) and
   the point itself is at least ``min_z`` from its expected value — or, when the level-shift
   channel alone reaches the budget, the recent median is at least ``shift_min`` spreads and the
   point ``min_z`` spreads from the lagged window's median; when the spread channel reaches it, the
   ratio is at least ``spread_min`` (log) either way. After a flag the entity stays quiet for
   ``refractory`` seconds (and at least ``refractory_points`` points) unless the surprise beats the
   highest since the flag by ``escalation`` (a lasting change keeps growing: that is the same
   alert) and, when the spread channel leads, the point is ``min_z`` from expected; so one
   excursion raises one alert plus escalations for a clearly larger one. Until a day after the
   weekly profile is ready (a week's worth of points), only a point ``FARTHER`` times as far from
   expected as the alert's last flagged one (at least ``min_z``) escalates: a lasting change then may be the week's own
   cycle (a first weekend) or the weekly profile's first, unmeasured forecasts, raised once. The
   quiet lasts until a
   day after the last point close to expected (under ``min_z``) whose surprise still reaches the
   budget (a lasting change's evidence stays in the channels' windows for a day or more; a point
   far from expected is an event of its own). An alert stays open until the series has been
   back within ``settle_z`` of its level before the alert for ``refractory_points`` points in a row;
   over a day into an open alert, a flag through the level-shift channel on the same side is that
   alert again (the channel's windows still hold the change), not a new one.

Warm-up: no score for an entity's first ``warmup`` points, nor before it has seen one full day
(sub-daily data) or week (daily data), both in elapsed time and in points at its spacing (after a
gap of days a few points are not a cycle): until then every cycle is news. No flag before the
scores themselves span ``flag_cycles`` of such a cycle more (and at least 30 points): a tail needs
a history.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right, insort
from collections import deque
from dataclasses import dataclass
from statistics import median
from typing import NamedTuple

import numpy as np
import pandas as pd

DAY = 86_400.0
# the tail histograms' bins span 0.1 .. ~200; a CUSUM of z-scores reaches hundreds in a lasting
# shift, so it is recorded in units of 10 z
DRIFT_UNIT = 10.0
NOISE_PRIOR_VISITS = 5  # weight of a noise level's starting value, in visits
# points a day each time-of-day noise level sees at least (5-minute data: 12 in each hour); coarser
# data gets fewer, longer blocks of the day, so that a level still follows the series within days
NOISE_VISITS_PER_DAY = 12
MIN_TAIL = 30  # scored points before the first flag, whatever the season
# distinct values kept to find a series' value grid; a series with more has a grid far below its noise
GRID_VALUES = 1024
WEEK = 7 * DAY
# the buckets next to a time's that may forecast a point off a fixed grid (jittered times fall on
# either side of a bucket's edge, and a gap of days leaves some buckets unseen for a while)
NEIGHBOURS = (-1, 1, -2, 2)
# the share of its weight the score history keeps once the weekly profile has forecast what the other
# forecasters called anomalous (its cycle)
HISTORY_KEPT = 0.1
# before the level-shift channel has a history of its own, a shift reaches the budget only when it is also
# this many times the largest the series has shown before (a wandering series moves its recent median by
# several lagged spreads now and then)
YOUNG_MARGIN = 1.5
# the same for the spread channel, whose sizes are logs of ratios: twice the largest is its square (a quantised
# series' median |z| flips between the grid's floor and a step now and then, by ratios near the largest it showed)
YOUNG_SPREAD_MARGIN = 2.0
# while the week's cycle is not known, an escalation needs a point this many times as far from expected as
# the alert's last flagged one
FARTHER = 1.5


@dataclass(frozen=True)
class ScorerConfig:
    """The method's constants; the defaults are what ``healthmon anomalies score`` uses."""

    warmup: int = 12  # points before anything is scored (fixes the spacing and first noise level)
    level_alpha: float = 0.1  # level smoothing per point (seasonal levels: 2 points per period)
    season_gamma: float = 0.2  # seasonal bucket smoothing per visit
    error_alpha: float = 0.002  # forecaster error tracking per point (~500 points memory)
    scale_alpha: float = 0.01  # step of the running median of |residual| (one level: daily or coarser data)
    clip: float = 4.0  # residuals clipped at clip × the noise level before they update a forecaster
    short_alpha: float = 1 / 12  # the scored short average of z-scores
    long_alpha: float = 1 / 72  # the scored long average of z-scores
    drift_k: float = 1.0  # CUSUM allowance per point, in z (the usual half of a 2-sigma shift)
    drift_clip: float = 6.0  # z-scores clipped at this before they enter the CUSUM (one spike is not a drift)
    noise_buckets: int = 24  # noise levels per day for sub-daily data (one per hour at most)
    noise_alpha: float = 0.03  # step of an hour's running median per visit (it sees 1/24 of the points)
    point_margin: float = 2.0  # a single point's own surprise must beat the budget by this (log10) ...
    point_min_z: float = 6.0  # ... and the point be at least this robust z from expected
    shift_short: int = 72  # the level-shift channel: median of the last this many points ...
    shift_long: int = 288  # ... against the median and spread of this many points before them (0: no channel)
    shift_min: float = 3.0  # a flag on a level shift needs that median this many spreads away (and the point min_z)
    spread_short: int = 72  # the spread channel: median |z| of the last this many points against ...
    spread_long: int = 288  # ... that of this many points before them (spread_short 0: no channel)
    spread_min: float = math.log(3)  # a flag on a spread change needs the ratio this far from 1 (log)
    shift_history: int = 1440  # values of its own history before the channel counts (its values are medians of
    # 72 points: a short history holds few independent excursions and calls every wander rare)
    flag_cycles: float = 0.75  # cycles (a day; daily data: a week) of scores before the first flag
    tail_memory: int = 16000  # points over which the score history fades
    tail_share: float = 0.02  # the exponential tail starts at the top 2 % of past scores
    budget: int = 3000  # flag when a normal history would reach the score once in `budget` points
    min_z: float = 4.0  # ... and the point itself is at least this robust z from expected
    refractory: float = DAY  # seconds of quiet after a flag, unless the score grows ...
    refractory_points: int = 12  # ... and at least this many points (daily data: one day is one point)
    escalation: float = 0.5  # ... by this much (log10) over the highest surprise since the flag
    settle_z: float = 2.0  # an alert is over once the series is back within this many z of its level before it ...
    # ... for refractory_points points in a row (until then a level-shift flag the same way is that alert)
    max_buckets: int = 288  # seasonal buckets per day (5-minute buckets at finest)
    resolution: float = 0.01  # smallest typical |residual|, as a share of the entity's scale (its warm-up spread)


class Score(NamedTuple):
    anomaly_score: float  # tail surprise, -log10; NaN during warm-up
    is_anomaly: bool
    expected_value: float  # what the chosen forecaster expected before seeing the point
    z: float  # robust z-score of the point (signed)
    season: str  # "none", "daily" or "weekly": the forecaster that was used
    level_shift: float = math.nan  # the recent median's distance from the lagged one, in its spreads


WARMING_UP = Score(math.nan, False, math.nan, math.nan, "")


class _Forecaster:
    """Robust level + optional seasonal profile (additive), updated with clipped residuals."""

    def __init__(self, name: str, period: float, buckets: int, alpha: float, level: float, error: float,
                 points_per_period: float):
        self.name, self.period, self.buckets, self.alpha = name, period, buckets, alpha
        self.level, self.error = level, error
        self.points_per_period = points_per_period
        self.learned = 0
        # the level's moves and the time they took, averaged over about a day and about four days of
        # points (to carry a trend across a gap in the data), and its value at the last point. The moves
        # start from none over a step (``start_rates``): the four-day rate is not a trend before days
        self.moved = self.slow_moved = 0.0
        self.took = self.slow_took = 0.0
        self.last_level = level
        self.season = array("d", bytes(8 * buckets))
        self.seen = bytearray(buckets)
        self._t, self._b = math.nan, 0  # the last time asked for and its bucket (asked twice a point)

    def start_rates(self, step: float) -> None:
        self.took = self.slow_took = step

    def track(self, dt: float, a: float) -> None:
        """Average the level's move since the last point and the time it took (a gap's time with it)."""
        move, self.last_level = self.level - self.last_level, self.level
        self.moved += a * (move - self.moved)
        self.took += a * (dt - self.took)
        self.slow_moved += a / 4 * (move - self.slow_moved)
        self.slow_took += a / 4 * (dt - self.slow_took)

    def rates(self) -> tuple[float, float]:
        """The level's rate of change per second over about a day and about four days of points. Each
        is the moves over the time they took, so the catch-up of a level that lagged after a gap counts
        over the gap's time, not over the few points that made it."""
        return (self.moved / self.took if self.took else 0.0,
                self.slow_moved / self.slow_took if self.slow_took else 0.0)

    def bucket(self, t: float) -> int:
        if t != self._t:
            # multiply before dividing (and allow a microsecond) so round times never fall a bucket early
            self._t, self._b = t, min(int(((t % self.period) * self.buckets + 1e-6) // self.period), self.buckets - 1)
        return self._b

    def predict(self, t: float) -> float:
        if not self.period:
            return self.level
        b = self.bucket(t)
        return self.level + self.season[b] if self.seen[b] else self.level

    def neighbours(self, t: float) -> list[float]:
        """The forecasts of the seen buckets up to ``NEIGHBOURS`` either side of t's."""
        b, n = self.bucket(t), self.buckets
        return [self.level + self.season[(b + k) % n] for k in NEIGHBOURS if self.seen[(b + k) % n]]

    def knows(self, t: float) -> bool:
        """Has the profile seen t's bucket? (else it could only offer its level)"""
        return not self.period or bool(self.seen[self.bucket(t)])

    def ready(self) -> bool:
        # one period's worth of points at the series' spacing, not one period of elapsed time:
        # after a gap of days a profile has seen a few of its buckets once, and its error is still
        # the warm-up's guess (on regular data the two are the same)
        return not self.period or self.learned >= self.points_per_period

    def learn(self, t: float, y: float, lim: float, error_alpha: float, gamma: float) -> None:
        self.learned += 1
        pred = self.predict(t)
        r = y - pred
        rc = max(-lim, min(lim, r))
        if not self.period:
            self.error += error_alpha * (abs(r) - self.error)
            self.level += self.alpha * rc
            return
        b = self.bucket(t)
        if not self.seen[b]:  # first visit of a bucket: no estimate to protect (nor to judge) yet
            self.season[b] = y - self.level
            self.seen[b] = 1
            return
        self.error += error_alpha * (abs(r) - self.error)
        self.level += self.alpha * rc
        self.season[b] += gamma * (pred + rc - self.level - self.season[b])


class _Tail:
    """How rare is a value among an entity's past values? (decayed histogram + exponential tail)"""

    EDGES = [0.0] + [0.1 * 1.1**k for k in range(80)]  # 0.1 .. ~200, log-spaced
    REFIT = 32  # the tail is refitted every REFIT values (its cost is O(bins))

    def __init__(self, memory: int, tail_share: float):
        self.counts = [0.0] * len(self.EDGES)
        self.total = 0.0
        self.weight = 1.0
        self.growth = 1.0 + 1.0 / memory  # newer values weigh more: old ones fade over ~memory values
        self.tail_share = tail_share
        self.since_fit = 0
        self.above = [0.0] * len(self.EDGES)  # decayed count of values in bins >= i, at the last fit
        self.fit_total = 0.0
        self.u = 0
        self.beta = 1.0

    def _fit(self) -> None:
        acc, above = 0.0, [0.0] * len(self.counts)
        for i in range(len(self.counts) - 1, -1, -1):
            acc += self.counts[i]
            above[i] = acc
        target = self.tail_share * self.total
        u = next((i for i in range(len(above) - 1, -1, -1) if above[i] >= target), 0)
        excess = sum(self.counts[i] * (self.EDGES[i] - self.EDGES[u]) for i in range(u, len(self.counts)))
        width = self.EDGES[u + 1] - self.EDGES[u] if u + 1 < len(self.EDGES) else self.EDGES[u] - self.EDGES[u - 1]
        self.above, self.fit_total, self.u = above, self.total, u
        self.beta = max(excess / above[u], width) if above[u] else 1.0

    def surprise(self, v: float) -> float:
        """-log10 of the estimated share of past values >= v (0 with no history)."""
        if not self.fit_total:
            return 0.0
        u = self.EDGES[self.u]
        if v > u:
            p = self.above[self.u] / self.fit_total * math.exp(-(v - u) / self.beta)
        else:
            p = self.above[bisect_right(self.EDGES, v) - 1] / self.fit_total
        return -math.log10(max(p, 1e-300))

    def fade(self, share: float) -> None:
        """Keep only ``share`` of the weight of the values recorded so far."""
        self.counts = [c * share for c in self.counts]
        self.total *= share
        if self.total:
            self._fit()

    def record(self, v: float) -> None:
        self.counts[min(bisect_right(self.EDGES, v), len(self.EDGES)) - 1] += self.weight
        self.total += self.weight
        self.weight *= self.growth
        if self.weight > 1e100:
            self.counts = [c / self.weight for c in self.counts]
            self.total /= self.weight
            self.weight = 1.0
            self.since_fit = self.REFIT
        self.since_fit += 1
        if self.since_fit >= self.REFIT:
            self._fit()
            self.since_fit = 0


class Shift(NamedTuple):
    size: float  # |median of the recent window - median of the lagged one|, in the lagged window's spreads
    apart: float  # |the point - median of the lagged window|, in the same spreads


class _Windows:
    """The last ``short`` values and the ``long`` values before them, each kept sorted (a point costs
    two insertions and two deletions, not a sort), for medians and quantiles of both."""

    def __init__(self, short: int, long: int):
        self.short, self.long = short, long
        self.recent: deque[float] = deque()  # the last short + long values, oldest first
        self.now: list[float] = []  # the short window's values, sorted
        self.before: list[float] = []  # the long window's values, sorted

    def push(self, x: float) -> None:
        self.recent.append(x)
        insort(self.now, x)
        if len(self.recent) > self.short:
            moved = self.recent[-self.short - 1]
            del self.now[bisect_left(self.now, moved)]
            insort(self.before, moved)
        if len(self.recent) > self.short + self.long:
            old = self.recent.popleft()
            del self.before[bisect_left(self.before, old)]

    def full(self) -> bool:
        return len(self.before) == self.long

    @staticmethod
    def _median(v: list[float]) -> float:
        k = len(v)
        return v[k // 2] if k % 2 else 0.5 * (v[k // 2 - 1] + v[k // 2])

    def recent_median(self) -> float:
        return self._median(self.now)

    def lagged_median(self) -> float:
        return self._median(self.before)

    def lagged_iqr(self) -> float:
        b, n = self.before, len(self.before)
        return b[(3 * n) // 4] - b[n // 4]


class _LevelShift:
    """How far has the level moved? The median of the last ``short`` values against the median and
    spread of the ``long`` values before them, in units of that spread. Unlike a forecaster's
    residual it does not adapt during the change: a lasting shift stays visible for ``long`` points.

    The values are the series less the chosen forecaster's seasonal term (a cycle is not a change of
    level); when the chosen forecaster changes, the windows hold values of two kinds, so nothing is
    measured until they have been refilled."""

    def __init__(self, short: int, long: int):
        self.windows = _Windows(short, long)
        self.season, self.since = "", 0  # the forecaster whose season was removed, for how many values

    def push(self, x: float, season: str) -> None:
        if season != self.season:
            self.season, self.since = season, 0
        self.since += 1
        self.windows.push(x)

    def measure(self, x: float, floor: float, counts: bool) -> Shift | None:
        """The shift of the level at the last pushed value ``x``, or None while the windows are not
        full of values of one kind."""
        w = self.windows
        if self.since <= w.short + w.long or not w.full():
            return None
        centre = w.lagged_median()
        # the interquartile range of a normal sample is 1.349 standard deviations
        spread = max(w.lagged_iqr() / 1.349, floor)
        if counts:  # as for the noise level: a count is at least as noisy as a Poisson count
            spread = max(spread, math.sqrt(max(centre, 1.0)))
        return Shift(abs(w.recent_median() - centre) / spread, abs(x - centre) / spread)


class _SpreadChange:
    """Has the noise changed? log(median |z| of the last ``short`` points / median |z| of the ``long``
    before them), both ways: added noise is positive, a flat line (a stuck sensor: the forecasters
    follow it, so its points are close to what they expect) negative. z is already in the hour's
    noise level, so a busy hour after a quiet one is not a change of spread."""

    FLOOR = 0.01  # |z| below this is zero (a flat line's residual): the ratio stays finite

    def __init__(self, short: int, long: int):
        self.windows = _Windows(short, long)

    def push(self, abs_z: float) -> None:
        self.windows.push(max(abs_z, self.FLOOR))

    def measure(self) -> float | None:
        w = self.windows
        return math.log(w.recent_median() / w.lagged_median()) if w.full() else None


class _Largest:
    """The largest of a young channel's sizes older than its recent window (a change that is building
    up is not its own reference), once ``window`` of them are in."""

    def __init__(self, window: int, margin: float):
        self.window, self.margin = window, margin
        self.recent: deque[float] = deque()
        self.largest = 0.0
        self.seen = 0

    def record(self, size: float) -> None:
        self.recent.append(size)
        if len(self.recent) > self.window:
            self.largest = max(self.largest, self.recent.popleft())
            self.seen += 1

    def exceeded(self, size: float, least: float) -> bool:
        """Is ``size`` at least ``least`` and ``margin`` times the largest before it?"""
        return self.seen >= self.window and size >= max(least, self.margin * self.largest)


class _Grid:
    """The smallest non-zero step between the distinct values seen so far (inf until there are two).

    Server metrics are often quantised (an integer percentage, a value rounded to 0.25): most of a
    window's points sit exactly on what the forecasters expect, so the median |z| of a window flips
    between 0 and one step as the share of exact points crosses a half, and the median of a window
    moves by whole steps against a spread of 0. Half a step is the rounding's own noise."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.step = math.inf
        self.open = True  # still collecting: past GRID_VALUES distinct values the step is below any noise

    def add(self, x: float) -> None:
        v = self.values
        i = bisect_left(v, x)
        if not self.open or (i < len(v) and v[i] == x):
            return
        # steps below 1e-9 of the values are float noise (0.1 + 0.2), not a grid
        tiny = 1e-9 * abs(x)
        for j in (i - 1, i):
            if 0 <= j < len(v) and abs(x - v[j]) > tiny:
                self.step = min(self.step, abs(x - v[j]))
        v.insert(i, x)
        if len(v) >= GRID_VALUES:
            self.open, self.values = False, []

    def noise(self) -> float:
        """The smallest median |residual| a series on this grid can have: half a step (a value
        between two grid points rounds to either), 0 for a series with one value so far."""
        return self.step / 2 if self.step < math.inf else 0.0


class EntityScorer:
    """Causal scorer of one entity's series; feed its points in time order with ``update``."""

    def __init__(self, config: ScorerConfig | None = None):
        self.cfg = config or ScorerConfig()
        self._warm: list[tuple[float, float]] = []
        self.scale = 1.0
        self.step = 0.0
        self.forecasters: list[_Forecaster] = []
        # (day since the first point, the level less the daily cycle) at each new day, until the
        # weekly profile enters
        self.daily_levels: list[tuple[int, float]] | None = None
        self.first_t = 0.0
        self.on_grid = True  # every time so far a whole number of steps after the first (or daily data)
        self.noise: list[float] = []
        self.counts = True  # every value so far a non-negative integer
        self.grid = _Grid()
        self.short = self.long = 0.0
        self.short_tail = _Tail(self.cfg.tail_memory, self.cfg.tail_share)
        self.long_tail = _Tail(self.cfg.tail_memory, self.cfg.tail_share)
        self.drift_up = self.drift_down = 0.0
        self.drift_tail = _Tail(self.cfg.tail_memory, self.cfg.tail_share)
        self.point_tail = _Tail(self.cfg.tail_memory, self.cfg.tail_share)
        self.shift = _LevelShift(self.cfg.shift_short, self.cfg.shift_long)
        self.shift_tail = _Tail(self.cfg.tail_memory, self.cfg.tail_share)
        # until the level-shift and spread channels have their own history: the largest size each has shown
        # before its recent window
        self.shift_largest = _Largest(self.cfg.shift_short, YOUNG_MARGIN)
        self.spread = _SpreadChange(self.cfg.spread_short, self.cfg.spread_long)
        self.spread_tail = _Tail(self.cfg.tail_memory, self.cfg.tail_share)
        self.spread_largest = _Largest(self.cfg.spread_short, YOUNG_SPREAD_MARGIN)
        self.quiet_until = -math.inf
        # points the chosen weekly profile forecast close (under 2 z) that the other forecasters put min_z
        # away, and whether the score history has faded once for them
        self.explained, self.faded = 0, False
        self.week_known_at = math.inf  # when the weekly profile was first ready
        self.flag_score = 0.0  # the highest surprise since the last flag (an escalation must beat it)
        self.flag_z = 0.0  # the last flagged point's |z|
        # the open alert: which way its points (or its level) are off (+1 above, -1 below; 0: none open),
        # its last flag (in scored points), its first flag's time, the level before it, and the points in
        # a row since the series is back near that level
        self.alert_side = 0.0
        self.alert_at = -math.inf
        self.alert_start = -math.inf
        self.alert_from = 0.0
        self.alert_settled = 0

    def _start(self) -> None:
        c = self.cfg
        ts = [t for t, _ in self._warm]
        xs = [x for _, x in self._warm]
        gaps = [b - a for a, b in zip(ts, ts[1:]) if b > a]
        self.step = median(gaps) if gaps else DAY
        level = median(xs)
        typical = median(abs(x - level) for x in xs)
        # the noise floor is relative to how much the values move (a level of 1e6 that moves by 100
        # is not flat at a resolution of 1e4), and to their size only when the warm-up did not move;
        # 1e-290 keeps it a normal float
        self.scale = max(typical or median(abs(x) for x in xs) or max(abs(x) for x in xs) or 1.0, 1e-290)
        typical = max(typical, c.resolution * self.scale)
        self.noise = [typical] * max(1, min(c.noise_buckets, int(DAY / self.step) // NOISE_VISITS_PER_DAY))
        self.visits = [0] * len(self.noise)
        per_day = max(1, min(c.max_buckets, round(DAY / self.step)))
        self.forecasters = [_Forecaster("none", 0.0, 1, c.level_alpha, level, typical, 0.0)]
        if self.step < DAY / 2:  # a daily cycle needs several points a day
            self.forecasters.append(_Forecaster("daily", DAY, per_day, min(c.level_alpha, 2 * self.step / DAY), level,
                                                typical, DAY / self.step))
        if self.step <= DAY:
            buckets = per_day * 7 if self.step < DAY / 2 else 7
            self.forecasters.append(_Forecaster("weekly", WEEK, buckets, min(c.level_alpha, 2 * self.step / WEEK),
                                                level, typical, WEEK / self.step))
        # the shortest season must be seen once before anything is scored
        season = self.forecasters[1].period if len(self.forecasters) > 1 else 0.0
        self.scoring_from = ts[0] + season
        # the score's own history must cover most of a cycle before it can call anything rare (a whole
        # one kept short series silent for two days; half of one let busy hours after a quiet night
        # look rare)
        self.flagging_from = self.scoring_from + c.flag_cycles * season
        # ... in points as well as in time: after a gap of days, a few points are not a cycle
        self.season_points = season / self.step
        self.learned = len(self._warm)
        self.scored = 0
        self.last_t = ts[-1]
        self.first_t, self.daily_levels = ts[0], [(0, level)]
        for f in self.forecasters:
            f.start_rates(self.step)
        for t, x in self._warm:  # the noise levels already summarise these points
            for f in self.forecasters:
                f.learn(t, x, c.clip * typical, c.error_alpha, c.season_gamma)
        self._warm = []

    def _grid_noise(self) -> float:
        """Half the value grid's step for quantised values that are not counts (counts have the
        Poisson floor, and on a series of 0s and 20s a 20 must stay a spike); 0 otherwise."""
        return 0.0 if self.counts else self.grid.noise()

    def _noise_bucket(self, t: float) -> int:
        return int((t % DAY) * len(self.noise) // DAY)

    def _learn(self, t: float, x: float, r: float) -> None:
        c = self.cfg
        self.learned += 1
        b = self._noise_bucket(t)
        typical = self.noise[b]
        # a decreasing gain first (a running median from a poor start, such as a night-time
        # level for a busy hour, converges in a few dozen visits), then a constant one that
        # keeps following the series
        self.visits[b] += 1
        step = max(c.scale_alpha if len(self.noise) == 1 else c.noise_alpha,
                   1.0 / (self.visits[b] + NOISE_PRIOR_VISITS))
        self.noise[b] = max(typical * math.exp(step if abs(r) > typical else -step), c.resolution * self.scale)
        lim = c.clip * self.noise[b]
        for f in self.forecasters:
            f.learn(t, x, lim, c.error_alpha, c.season_gamma)
        weekly = self.forecasters[-1]
        if self.daily_levels is not None and weekly.period == WEEK:
            # the weekly profile enters on its warm-up's error guess (its first visits measure no
            # error), and its forecast is last week's value: off by however far the series' level,
            # less its daily cycle, moves in a week. A trend moves it the same way every day, a weekly
            # cycle (a quiet weekend) only on some days: a week of the typical daily move, the median of
            # the first week's, is the error it starts from
            day = int((t - self.first_t) // DAY)
            if day > self.daily_levels[-1][0]:
                self.daily_levels.append((day, self.forecasters[-2].level))
            if weekly.ready():
                moves = [(b - a) / (d - c) for (c, a), (d, b) in zip(self.daily_levels, self.daily_levels[1:])]
                if moves:
                    weekly.error = max(weekly.error, 7 * abs(median(moves)))
                self.daily_levels = None

    def _bridge(self, t: float) -> None:
        """Carry a lasting trend across a gap in the data: each forecaster's level moves on by its own
        rate of change over the missing time (a steep trend jumps by days of its slope across a gap
        of days, which the levels, clipped at a few noise levels a point, take dozens of points to
        follow). A seasonal forecaster's level does not follow its cycle, so a cycle moves no level."""
        dt = t - self.last_t
        if dt > 12 * self.step:
            sigma = 1.4826 * median(self.noise)
            for f in self.forecasters:
                rate, slow_rate = f.rates()
                # a trend, not a wander: the same rate over a day and over four days, of a noise level a day
                if abs(slow_rate) * DAY >= sigma and 0.5 <= rate / slow_rate <= 2:
                    f.level += rate * (dt - self.step)
                    # the level-shift channel's windows (in points) now span days of the trend: they refill
                    self.shift.since = 0
        self.last_t = t
        # over about a day and about four days of points at regular spacing
        a = max(self.step / DAY, 1 / 2000)
        for f in self.forecasters:
            f.track(dt, a)

    def update(self, t: float, x: float) -> Score:
        """Score the point (``t`` in seconds, ``x`` finite with |x| <= 1e300) against the history
        before it, then learn it. Points must come in time order (equal times are fine)."""
        if self.counts and (x < 0 or x != int(x)):
            self.counts = False
        self.grid.add(x)
        if not self.forecasters:
            self._warm.append((t, x))
            if len(self._warm) == self.cfg.warmup:
                self._start()
            return WARMING_UP
        c = self.cfg
        self._bridge(t)
        best = self.forecasters[0]
        for f in self.forecasters[1:]:
            # a bucket the profile has never seen (a time of day that fell into a gap) is
            # forecast by the others: the profile's level alone lags its cycle
            if f.error < best.error and f.ready() and f.knows(t):
                best = f
        if best is self.forecasters[0] and not self.on_grid:
            # off a fixed grid times skip buckets at random: rather than the level alone, a profile
            # that has seen a bucket next to t's
            for f in self.forecasters[1:]:
                if f.error < best.error and f.ready() and f.neighbours(t):
                    best = f
        expected = best.predict(t) if best.knows(t) else sum(best.neighbours(t)) / len(best.neighbours(t))
        r = x - expected
        # (sub-daily data only: a day's jitter does not cross a weekly profile's day-wide buckets, and
        # its neighbours are other days of the week)
        if (self.on_grid and self.step < DAY / 2
                and abs((t - self.first_t) / self.step - round((t - self.first_t) / self.step)) > 1e-6):
            self.on_grid = False
        adjusted = x - (expected - best.level)  # the series less the chosen forecaster's cycle
        if c.shift_long:
            self.shift.push(adjusted, best.name)
        if t < self.scoring_from or self.learned < self.season_points:
            self._learn(t, x, r)
            return WARMING_UP
        self.scored += 1
        # 1.4826 × median |N(0, s)| = s
        grid = self._grid_noise()
        sigma = 1.4826 * max(self.noise[self._noise_bucket(t)], grid)
        if self.counts:
            sigma = max(sigma, math.sqrt(max(expected, 1.0)))
        near = r  # the residual the point is judged by (the forecasters and noise levels learn r)
        if not self.on_grid and best.period:
            # times off a fixed grid put points on either side of a sharp edge of the cycle (a square
            # wave's rise) into one bucket, which then expects the wrong side of it: a point as close
            # to a neighbouring bucket's forecast across such an edge (min_z apart) is no news. Only
            # across an edge: the closest of a few noisy buckets would understate every residual
            for e in best.neighbours(t):
                if abs(e - expected) >= c.min_z * sigma and abs(x - e) < abs(near):
                    near = x - e
        z = near / sigma
        if not self.faded and best.period == WEEK and len(self.forecasters) == 3 and abs(z) < 2:
            # the weekly profile forecasts points that the level and the daily profile both call
            # anomalous (a weekend): the scores so far were judged without it, and its first weekend,
            # news to a daily profile that had seen only weekdays, fills the top of a short score
            # history; that history fades once, after a quarter day of such points
            if all(f.knows(t) and abs(x - f.predict(t)) >= c.min_z * sigma for f in self.forecasters[:2]):
                self.explained += 1
                if self.explained >= max(c.refractory_points, DAY / 4 / self.step):
                    for tail in (self.short_tail, self.long_tail, self.drift_tail, self.point_tail):
                        tail.fade(HISTORY_KEPT)
                    self.faded = True
        z = max(-1e6, min(1e6, z)) if z == z else 0.0  # values far beyond any noise stay finite
        self.short += c.short_alpha * (z - self.short)
        self.long += c.long_alpha * (z - self.long)
        zc = max(-c.drift_clip, min(c.drift_clip, z))
        self.drift_up = max(0.0, self.drift_up + zc - c.drift_k)
        self.drift_down = max(0.0, self.drift_down - zc - c.drift_k)
        drift = max(self.drift_up, self.drift_down) / DRIFT_UNIT
        shift = (self.shift.measure(adjusted, max(c.resolution * self.scale, 1.4826 * grid), self.counts)
                 if c.shift_long else None)
        # the channel starts later than the others (its windows must fill, and refill after the chosen
        # forecaster changes): a tail of a few dozen values calls everything rare
        young = self.shift_tail.total < c.shift_history
        shift_surprise = self.shift_tail.surprise(shift.size) if shift is not None and not young else 0.0
        if shift is not None and young and self.shift_largest.exceeded(shift.size, c.min_z):
            # without a history of its own (a series of under ~1,800 points), a shift of the recent median as
            # far from the lagged one as a flagged point must be from expected, in the lagged window's spreads,
            # is as rare as the budget: a ramp or a lasting shift that the forecasters have followed. A wander
            # reaches that too (AR(0.99): the lagged window's spread is not the wander's), so it must also be
            # well beyond the largest shift the series has shown so far
            shift_surprise = math.log10(c.budget)
        spread = None
        if c.spread_short:
            # a residual within half a grid step is no residual: else the median |z| of a quantised
            # series flips between 0 (most points on their forecast's grid value) and one step
            self.spread.push(max(abs(z), grid / sigma))
            spread = self.spread.measure()
        spread_young = self.spread_tail.total < c.shift_history
        spread_surprise = (self.spread_tail.surprise(abs(spread))
                           if spread is not None and not spread_young else 0.0)
        if spread is not None and spread_young and self.spread_largest.exceeded(abs(spread), c.spread_min):
            # without a history of its own (a series of under ~1,800 points), a spread ratio as far from 1 as a
            # flag through the channel needs, and well beyond the largest the series has shown so far (a
            # quantised or bursty series changes its median |z| a lot now and then), is as rare as the budget
            spread_surprise = math.log10(c.budget)
        channels = (self.short_tail.surprise(abs(self.short)), self.long_tail.surprise(abs(self.long)),
                    self.drift_tail.surprise(drift), shift_surprise, spread_surprise,
                    self.point_tail.surprise(abs(z)) - c.point_margin if abs(z) >= c.point_min_z else 0.0)
        surprise = max(channels)
        threshold = math.log10(c.budget)
        # the forecasters follow a lasting change within a few points, after which no point is far from
        # what they expect; the lagged window has not followed it, so a point far from its median is
        # the change's evidence while the shift itself is large and rare
        far = (abs(z) >= c.min_z
               or (shift is not None and shift_surprise >= threshold
                   and shift.size >= c.shift_min and shift.apart >= c.min_z)
               # a flat line's points are close to what the forecasters expect: the change is its spread
               or (spread is not None and spread_surprise >= threshold and abs(spread) >= c.spread_min))
        # a flag through the level-shift channel (the point itself is close to what the forecasters expect)
        on_shift = abs(z) < c.min_z and shift is not None and shift_surprise >= threshold and shift.size >= c.shift_min
        side = (math.copysign(1.0, self.shift.windows.recent_median() - self.shift.windows.lagged_median())
                if on_shift else math.copysign(1.0, z))
        if self.alert_side:
            # back at the level it had before the alert, for a while: the alert is over
            settled = (adjusted - self.alert_from) * self.alert_side < c.settle_z * sigma
            self.alert_settled = self.alert_settled + 1 if settled else 0
            if self.alert_settled >= c.refractory_points:
                self.alert_side = 0.0
        # the level-shift channel sees a lasting change until it has passed through its windows, and its
        # value keeps growing while the recent window fills (on hourly data past the quiet day): a flag
        # there the same way as an alert that has not settled, over a day into it, is that alert again.
        # Within the first day it may still escalate (a change that keeps growing)
        refractory = max(c.refractory, c.refractory_points * self.step)
        # before the series has completed its first week, a lasting change may be the week's cycle (a first
        # weekend, which only the weekly profile could tell once it has seen one): it is raised once, and the
        # channels' growth over it is not news; a point half again as far from expected as the alert's last
        # flagged one (a spike, a burst that still rises fast) still is
        weekly = self.forecasters[-1]
        if weekly.period == WEEK and weekly.ready() and self.week_known_at == math.inf:
            self.week_known_at = t
        # the weekly profile's first day of forecasts is last week's values, on an error it has not measured
        # (a wander or a trend is days away from them): the week is not known until a day after it is ready
        unknown_week = weekly.period == WEEK and t < self.week_known_at + DAY
        same_change = (on_shift and side == self.alert_side and t >= self.alert_start + refractory
                       and self.scored - self.alert_at <= c.shift_short + c.shift_long)
        flag = (surprise >= threshold and far and not same_change
                and t >= self.flagging_from and self.scored > c.flag_cycles * self.season_points
                and self.short_tail.total >= MIN_TAIL
                and (t >= self.quiet_until
                     or (surprise > self.flag_score + c.escalation
                         # a flat line that goes on is not news: the spread alone does not escalate
                         and (abs(z) >= c.min_z or spread_surprise < surprise)
                         and (not unknown_week or abs(z) > FARTHER * self.flag_z))))
        if flag:
            self.quiet_until = t + refractory
            if side != self.alert_side:  # a new alert (none open, or the other way)
                self.alert_start, self.alert_settled = t, 0
                # the level before it, in the series less its cycle
                self.alert_from = self.shift.windows.lagged_median() if on_shift else best.level
            # a flag through the level-shift or spread channel comes on a point close to expected (a first weekend
            # whose residuals have grown before any is min_z out): in the first week an escalation then needs a point
            # half again as far out as a flagged point must be, not as that one
            self.flag_score, self.flag_z = surprise, max(abs(z), c.min_z)
            self.alert_side, self.alert_at = side, self.scored
        elif t < self.quiet_until or same_change:
            if surprise >= threshold and abs(z) < c.min_z:
                # the evidence that raised the alert is still in the channels' windows, though the point
                # itself is close to what the forecasters expect: the quiet lasts a day beyond it (a point
                # far from expected is a new event of its own, such as the next of a few rare spikes)
                self.quiet_until = t + refractory
            # a lasting change keeps growing (the CUSUM, the level-shift channel): the same alert; only
            # a jump over the peak it has reached is news
            self.flag_score = max(self.flag_score, surprise)
        self.short_tail.record(abs(self.short))
        self.long_tail.record(abs(self.long))
        self.drift_tail.record(drift)
        self.point_tail.record(abs(z))
        if shift is not None:
            self.shift_tail.record(shift.size)
            if young:
                self.shift_largest.record(shift.size)
        if spread is not None:
            self.spread_tail.record(abs(spread))
            if spread_young:
                self.spread_largest.record(abs(spread))
        self._learn(t, x, r)
        return Score(surprise, flag, expected, z, best.name, shift.size if shift is not None else math.nan)


class StreamScorer:
    """One ``EntityScorer`` per entity, for rows of many entities in any interleaving."""

    def __init__(self, config: ScorerConfig | None = None):
        self.config = config or ScorerConfig()
        self.entities: dict[object, EntityScorer] = {}

    def update(self, entity: object, t: float, x: float) -> Score:
        scorer = self.entities.get(entity)
        if scorer is None:
            scorer = self.entities[entity] = EntityScorer(self.config)
        return scorer.update(t, x)


def evidence(value: float, score: Score) -> str:
    """What a person needs to judge a flag: observed vs expected, how far, against which season."""
    shift = f"; level shift {score.level_shift:.1f} spreads" if score.level_shift == score.level_shift else ""
    return (f"observed {value:.6g} vs expected {score.expected_value:.6g} "
            f"(z {score.z:+.1f}, {score.season} season{shift}; surprise {score.anomaly_score:.1f})")


def score_series(
    frame: pd.DataFrame,
    *,
    time_column: str,
    value_column: str,
    entity_column: str | None = None,
    config: ScorerConfig | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` with ``anomaly_score`` (NaN during warm-up or for rows without a
    time or a finite value), ``is_anomaly``, ``expected_value`` and ``anomaly_evidence`` (on
    flagged rows). Rows keep their order; each entity is scored in time order (stable for
    equal times)."""
    df = frame.copy()
    times = pd.to_datetime(df[time_column], utc=True, errors="coerce", format="mixed")
    values = pd.to_numeric(df[value_column], errors="coerce").astype(float).to_numpy()
    secs = ((times - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
    entities = df[entity_column].astype(str).to_numpy() if entity_column else np.zeros(len(df), dtype=object)
    usable = np.isfinite(secs) & np.isfinite(values)
    order = np.argsort(secs, kind="stable")
    order = order[usable[order]]
    score = np.full(len(df), np.nan)
    flag = np.zeros(len(df), dtype=bool)
    expected = np.full(len(df), np.nan)
    why = np.full(len(df), "", dtype=object)
    stream = StreamScorer(config)
    for i in order:
        s = stream.update(entities[i], secs[i], values[i])
        score[i], flag[i], expected[i] = s.anomaly_score, s.is_anomaly, s.expected_value
        if s.is_anomaly:
            why[i] = evidence(values[i], s)
    df["anomaly_score"] = score
    df["is_anomaly"] = flag
    df["expected_value"] = expected
    df["anomaly_evidence"] = why
    return df
