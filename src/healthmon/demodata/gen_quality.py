"""Daily table snapshots and data-quality monitor results, driven by the writer jobs' runs.

A table gets a commit for every successful run of its writer job (rows ∝ the run's input
volume), so a failing or paused job makes it stale. Schemas evolve: additive columns now and
then, and drops or type changes on tables under active development (one column, sometimes a
refactor of a few); the effects plan adds unannounced breaking changes. The
monitor predicts the next commit from the job's cadence and the day's rows from a moving
average, and flags tables outside those predictions — the same rule for every table.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.arrowgen import DAY_US, US
from healthmon.demodata.effects import Effects
from healthmon.demodata.schemas import FACT_DQ_TABLE_RESULTS, FACT_TABLE_SNAPSHOTS
from healthmon.demodata.world import World

# Schema changes per table and day: additive, and breaking (a drop or type change), for tables
# under active development (world.table_dev) and the others.
ADD_P_DEV, ADD_P = 1 / 40, 1 / 400
BREAK_P_DEV, BREAK_P = 1 / 30, 1 / 2000


class TableState:
    def __init__(self, world: World):
        NT = len(world.table_name)
        self.rows = world.table_rows0.astype(np.int64).copy()
        self.last_commit = world.table_created_us + DAY_US  # before the period
        self.last_altered = self.last_commit.copy()
        self.columns = world.table_columns.astype(np.int64).copy()
        self.schema_version = np.zeros(NT, np.int64)
        self.ewma_rows = np.zeros(NT)
        self.expected_gap_us = (DAY_US // world.job_runs_per_day[world.table_job]).astype(np.int64)
        self.expected_gap_us = np.where(world.job_weekday[world.table_job] >= 0, 7 * DAY_US, self.expected_gap_us)


def generate(world: World, eff: Effects, state: TableState, runs: dict, d0: int, d1: int,
             rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    NT = len(world.table_name)
    J = len(world.job_id)
    ok = runs["state"] == 0
    rjob, rday, rend = runs["job"][ok], runs["day"][ok], runs["end"][ok]
    rows_per_run = (runs["volume"][ok] * 2**30 / 400).astype(np.int64)  # ~400 B per row of input
    # per (job, day): commits, rows, last commit time
    key = rjob * (d1 - d0) + (rday - d0)
    size = J * (d1 - d0)
    commits_jd = np.bincount(key, minlength=size).reshape(J, -1)
    rows_jd = np.bincount(key, weights=rows_per_run, minlength=size).reshape(J, -1)
    last_flat = np.full(size, -1, np.int64)
    np.maximum.at(last_flat, key, rend)
    last_jd = last_flat.reshape(J, -1)

    snaps, dq = [], []
    tj = world.table_job
    owner = world.job_owner[tj]
    for d in range(d0, d1):
        di = d - d0
        commits = commits_jd[tj, di]
        rows_1d = rows_jd[tj, di].astype(np.int64)
        wrote = commits > 0
        state.rows = np.where(wrote, np.where(world.table_overwrite, rows_1d, state.rows + rows_1d), state.rows)
        state.last_commit = np.where(wrote, np.maximum(state.last_commit, last_jd[tj, di]), state.last_commit)
        # schema evolution: additive changes, and breaking ones (drops, type changes) mostly on
        # tables under active development — a third of those are refactors of 2–4 columns, often
        # with replacement columns added — then the effects plan's changes
        added = np.where(rng.random(NT) < np.where(world.table_dev, ADD_P_DEV, ADD_P), rng.integers(1, 4, NT), 0)
        breaking = rng.random(NT) < np.where(world.table_dev, BREAK_P_DEV, BREAK_P)
        width = np.where(rng.random(NT) < 1 / 3, rng.integers(2, 5, NT), 1)
        retype = rng.random(NT) < 0.4
        removed = np.where(breaking & ~retype, width, 0)
        changed = np.where(breaking & retype, width, 0)
        added += np.where(breaking & (rng.random(NT) < 0.5), rng.integers(1, 3, NT), 0)
        for (t, day), (a, r, c) in eff.table_schema_change.items():
            if day == d:
                added[t] += a
                removed[t] += r
                changed[t] += c
        altered = (added + removed + changed) > 0
        state.columns = np.maximum(2, state.columns + added - removed)
        state.schema_version += altered
        alter_time = world.day_start_us[d] + rng.integers(8, 18, NT) * 3600 * US
        state.last_altered = np.maximum(np.where(wrote, state.last_commit, state.last_altered),
                                        np.where(altered, alter_time, state.last_altered))
        hashes = [
            hashlib.sha256(f"{world.table_name[t]}:{state.schema_version[t]}:{state.columns[t]}".encode()).hexdigest()[
                :16
            ]
            for t in range(NT)
        ]
        snaps.append(
            dict(
                day=np.full(NT, d),
                t=np.arange(NT),
                rows=state.rows.copy(),
                last_commit=state.last_commit.copy(),
                last_altered=state.last_altered.copy(),
                columns=state.columns.copy(),
                added=added,
                removed=removed,
                changed=changed,
                commits=commits,
                rows_1d=rows_1d,
                hashes=hashes,
            )
        )
        # monitor (monitored tables only), evaluated at 23:00 UTC
        m = np.nonzero(world.table_monitored)[0]
        ev = world.day_start_us[d] + 23 * 3600 * US
        predicted = state.last_commit[m] + state.expected_gap_us[m]
        late = ev > predicted + state.expected_gap_us[m] // 2 + 2 * 3600 * US
        expect_write = state.expected_gap_us[m] <= DAY_US
        base = state.ewma_rows[m]
        lo, hi = (base * 0.4).astype(np.int64), (base * 1.8).astype(np.int64)
        outside = expect_write & (base > 0) & ((rows_1d[m] < lo) | (rows_1d[m] > hi))
        state.ewma_rows[m] = np.where(base > 0, 0.8 * base + 0.2 * rows_1d[m], rows_1d[m])
        dq.append(dict(t=m, ev=np.full(len(m), ev), last=state.last_commit[m], predicted=predicted, late=late,
                       outside=outside, total=state.rows[m], rows_1d=rows_1d[m], lo=lo, hi=hi,
                       tmin=(state.rows[m] * 0.9).astype(np.int64), tmax=(state.rows[m] * 1.1 + hi).astype(np.int64)))
    # unmonitored tables keep their EWMA too, for consistency if monitoring starts later
    s: dict[str, Any] = {
        k: np.concatenate([x[k] for x in snaps]) if k != "hashes" else sum((x[k] for x in snaps), []) for k in snaps[0]
    }
    n = len(s["t"])
    t = s["t"]
    snap = ag.table(FACT_TABLE_SNAPSHOTS, n, {
        "snapshot_date": ag.dates(world.day_start_us[s["day"]]),
        "table_catalog": ag.take(world.table_catalog, t),
        "table_schema": ag.take(world.table_schema, t),
        "table_name": ag.take(world.table_name, t),
        "table_type": ag.take(["MANAGED", "EXTERNAL"], (t % 7 == 0).astype(int)),
        "data_source_format": ag.const("DELTA", n),
        "table_owner": ag.take(world.user_email, owner[t]),
        "created": ag.timestamps(world.table_created_us[t]),
        "created_by": ag.take(world.user_email, owner[t]),
        "last_altered": ag.timestamps(s["last_altered"]),
        "last_altered_by": ag.take(world.user_email, world.job_run_as[tj[t]]),
        "column_count": pa.array(s["columns"].astype(np.int32)),
        "has_primary_key": pa.array(world.table_has_pk[t]),
        "cdf_enabled": pa.array(world.table_cdf[t]),
        "schema_hash": pa.array(s["hashes"], pa.string()),
        "columns_added": pa.array(s["added"].astype(np.int32)),
        "columns_removed": pa.array(s["removed"].astype(np.int32)),
        "columns_type_changed": pa.array(s["changed"].astype(np.int32)),
        "row_count": pa.array(s["rows"]),
        "size_bytes": pa.array(s["rows"] * world.table_row_width[t]),
        "last_commit_time": ag.timestamps(s["last_commit"]),
        "commits_1d": pa.array(s["commits"].astype(np.int32)),
        "rows_written_1d": pa.array(s["rows_1d"]),
    })
    q = {k: np.concatenate([x[k] for x in dq]) for k in dq[0]}
    n = len(q["t"])
    t = q["t"]
    fresh = np.where(q["late"], 1, 0)
    comp = np.where(q["outside"], 1, 0)
    overall = np.maximum(fresh, comp)
    status_pool = ["Healthy", "Unhealthy"]
    impact = np.where(overall == 1, np.minimum(3, 1 + world.table_downstream[t] // 2), 0)
    dqt = ag.table(
        FACT_DQ_TABLE_RESULTS,
        n,
        {
            "event_time": ag.timestamps(q["ev"]),
            "catalog_name": ag.take(world.table_catalog, t),
            "schema_name": ag.take(world.table_schema, t),
            "table_name": ag.take(world.table_name, t),
            "catalog_id": ag.take([f"{abs(hash_str(c)):032x}"[:32] for c in world.table_catalog], t),
            "schema_id": ag.take(
                [f"{abs(hash_str(c + s)):032x}"[:32] for c, s in zip(world.table_catalog, world.table_schema)], t
            ),
            "table_id": ag.take(
                [
                    f"{abs(hash_str(fq)):032x}"[:32]
                    for fq in (
                        f"{c}.{s}.{n}" for c, s, n in zip(world.table_catalog, world.table_schema, world.table_name)
                    )
                ],
                t,
            ),
            "status": ag.take(status_pool, overall),
            "freshness_status": ag.take(status_pool, fresh),
            "freshness_commit_freshness_status": ag.take(status_pool, fresh),
            "freshness_commit_freshness_last_value": ag.timestamps(q["last"]),
            "freshness_commit_freshness_predicted_value": ag.timestamps(q["predicted"]),
            "completeness_status": ag.take(status_pool, comp),
            "completeness_total_row_count_last_value": pa.array(q["total"]),
            "completeness_total_row_count_min_predicted_value": pa.array(q["tmin"]),
            "completeness_total_row_count_max_predicted_value": pa.array(q["tmax"]),
            "completeness_daily_row_count_status": ag.take(status_pool, comp),
            "completeness_daily_row_count_last_value": pa.array(q["rows_1d"]),
            "completeness_daily_row_count_min_predicted_value": pa.array(q["lo"]),
            "completeness_daily_row_count_max_predicted_value": pa.array(q["hi"]),
            "downstream_impact_impact_level": pa.array(impact.astype(np.int32)),
            "downstream_impact_num_downstream_tables": pa.array(world.table_downstream[t].astype(np.int64)),
            "downstream_impact_num_queries_on_affected_tables": pa.array(
                np.where(overall == 1, world.table_downstream[t] * 25, 0).astype(np.int64)
            ),
        },
    )
    return snap, dqt


def hash_str(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")
