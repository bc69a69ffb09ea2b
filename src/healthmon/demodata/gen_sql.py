"""SQL warehouse statements and the warehouse usage they cause.

Per warehouse and hour: arrivals ~ Poisson(rate × local-hour profile × weekday × holiday ×
growth). Per statement: a query template (Zipf: a few dashboards dominate) fixes the scanned
bytes (heavy-tailed); execution ≈ bytes / (warehouse scan throughput) discounted by the IO
cache; memory need above the warehouse's memory spills (and slows); hourly load above the
warehouse's slots queues (``waiting_at_capacity_duration_ms``). Statements over 50 GB fail more.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.arrowgen import US
from healthmon.demodata.effects import Effects
from healthmon.demodata.schemas import FACT_QUERY_HISTORY
from healthmon.demodata.world import WH_MEM, WH_SCAN, WH_TYPE_SKU, World

HOUR_PROFILE = np.array([0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.6, 2.0, 2.1, 2.0,
                         1.7, 1.9, 2.0, 1.9, 1.6, 1.2, 0.8, 0.5, 0.4, 0.3, 0.25, 0.2])
HOUR_PROFILE = HOUR_PROFILE / HOUR_PROFILE.mean()
STATEMENT_TYPES = ["SELECT", "INSERT", "MERGE", "CREATE", "DELETE"]
CLIENTS = ["Databricks SQL", "Tableau", "Power BI", "dbt", "Databricks SQL Dashboard"]
DRIVERS = ["Databricks SQL Driver for Python", "Databricks JDBC Driver", "Databricks ODBC Driver", None, None]
ERRORS = ["[TABLE_OR_VIEW_NOT_FOUND] The table or view cannot be found.",
          "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column cannot be resolved.",
          "Query exceeded the statement timeout.", "[DIVIDE_BY_ZERO] Division by zero."]
SLOTS_PER_CLUSTER = 1  # a statement uses the whole cluster while it scans


def _texts(world: World) -> list[str]:
    cached = world.extra.get("sql_texts")
    if cached is None:
        cached = []
        for w in range(len(world.wh_id)):
            tables = np.nonzero(world.table_ws == world.wh_ws[w])[0]
            for t in range(world.tmpl_bytes.shape[1]):
                tb = tables[(w * 7 + t * 3) % len(tables)]
                fq = f"{world.table_catalog[tb]}.{world.table_schema[tb]}.{world.table_name[tb]}"
                kind = world.tmpl_type[w, t]
                cached.append(
                    {
                        0: f"SELECT date_trunc('day', event_ts) AS day, count(*), sum(amount) FROM {fq} "
                        f"WHERE event_date >= current_date() - INTERVAL {7 + t} DAYS GROUP BY 1",
                        1: f"INSERT INTO {fq}_agg SELECT * FROM {fq} "
                        "WHERE event_date = current_date() - INTERVAL 1 DAY",
                        2: f"MERGE INTO {fq} t USING {fq}_staging s ON t.id = s.id "
                        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
                        3: f"CREATE OR REPLACE TABLE {fq}_tmp_{t} AS SELECT * FROM {fq} WHERE region = 'r{t}'",
                        4: f"DELETE FROM {fq} WHERE event_date < current_date() - INTERVAL 400 DAYS",
                    }[int(kind)]
                )
        world.extra["sql_texts"] = cached
    return cached


def generate(world: World, eff: Effects, d0: int, d1: int, rng: np.random.Generator) -> tuple[pa.Table, dict]:
    Wh = len(world.wh_id)
    S = world.scale
    per_ws = S.users + S.service_principals
    hours = np.arange(d0 * 24, d1 * 24)
    grid_wh, grid_hr = np.meshgrid(np.arange(Wh), hours, indexing="ij")
    wh_g, hr_g = grid_wh.ravel(), grid_hr.ravel()
    day_g = hr_g // 24
    ws_g = world.wh_ws[wh_g]
    local_h = (hr_g % 24 + world.ws_tz[ws_g]) % 24
    weekend = world.dow[day_g] >= 5
    lam = (world.wh_rate[wh_g] / 24.0 * HOUR_PROFILE[local_h] * np.where(weekend, 0.25, 1.0)
           * np.where(world.holiday[day_g], 0.3, 1.0) * world.growth(ws_g, day_g) * eff.ws_query_mult[ws_g, day_g])
    counts = rng.poisson(lam)
    cell = np.repeat(np.arange(len(counts)), counts)
    n = len(cell)
    wh = wh_g[cell]
    day = day_g[cell]
    ws = ws_g[cell]
    start = world.day_start_us[0] + hr_g[cell] * 3600 * US + (rng.random(n) * 3600 * US).astype(np.int64)
    T = world.tmpl_bytes.shape[1]
    tmpl = np.minimum(rng.zipf(1.5, n) - 1, T - 1)
    is_sp = rng.random(n) < 0.15
    user = ws * per_ws + np.where(
        is_sp, S.users + rng.integers(0, S.service_principals, n), rng.integers(0, S.users, n)
    )
    user = np.where(day >= eff.user_start_day[user], user, ws * per_ws + S.users)  # not hired yet: an SP's refresh
    regressed = eff.wh_regressed_tmpl[wh, day] == tmpl
    nbytes = (world.tmpl_bytes[wh, tmpl] * world.growth(ws, day) * rng.lognormal(0, 0.4, n)
              * eff.tmpl_bytes_mult[wh, tmpl, day] * np.where(regressed, eff.wh_regress_mult[wh, day], 1.0))
    size = world.wh_size[wh]
    cache_pct = np.clip(rng.normal(np.where(tmpl < 5, 65, 25), 18, n), 0, 100)
    cache_pct = np.where(regressed, np.minimum(cache_pct, rng.uniform(0, 15, n)), cache_pct)
    from_cache = (world.tmpl_type[wh, tmpl] == 0) & (tmpl < 6) & (rng.random(n) < 0.12) & ~regressed
    exec_ms = 120 + nbytes / (WH_SCAN[size] * 1e9) * 1000 * (1 - 0.6 * cache_pct / 100) * rng.lognormal(0, 0.3, n)
    need = nbytes * rng.uniform(0.2, 0.6, n)
    mem_cap = WH_MEM[size] * 2**30 * 0.02  # per-query share of cluster memory
    spill = np.maximum(0.0, need - mem_cap)
    exec_ms += spill / 0.3e9 * 1000
    exec_ms = np.where(from_cache, rng.uniform(5, 60, n), exec_ms)
    # Queueing: hourly busy-time against the warehouse's slots.
    busy = np.bincount(cell, weights=exec_ms, minlength=len(counts)) / 1000.0
    capacity = 3600.0 * SLOTS_PER_CLUSTER * world.wh_max[wh_g]
    rho = np.minimum(busy / capacity, 0.97)
    wait_cell = np.where(rho > 0.3, (rho / (1 - rho)) * (busy / np.maximum(counts, 1)) * 1000 * 0.5, 0.0)
    wait_cap = wait_cell[cell] * rng.exponential(1.0, n)
    # Dashboard refreshes fire together at the top of business hours: statements beyond the
    # warehouse's concurrent slots (4 per cluster × max_clusters) wait for the ones ahead.
    burst = (HOUR_PROFILE[local_h[cell]] > 1.0) & (rng.random(n) < 0.3)
    b = np.nonzero(burst)[0]
    if len(b):
        start[b] = (
            start[b] - (start[b] - world.day_start_us[0]) % (3600 * US) + (rng.random(len(b)) * 5 * US).astype(np.int64)
        )
        cb = cell[b]
        first = np.r_[0, np.nonzero(np.diff(cb))[0] + 1]
        sizes = np.diff(np.r_[first, len(cb)])
        rank = np.arange(len(cb)) - np.repeat(first, sizes)
        slots = 4 * world.wh_max[wh[b]]
        mean_exec = np.repeat(np.add.reduceat(exec_ms[b], first) / sizes, sizes)
        wait_cap[b] += np.maximum(0, rank - slots + 1) / slots * mean_exec
    wait_cap = wait_cap.astype(np.int64)
    cold = (rng.random(n) < 0.02) & (world.wh_type[wh] != 1)
    wait_compute = np.where(
        cold, rng.uniform(5e3, 2e5, n), np.where(rng.random(n) < 0.005, rng.uniform(2e3, 8e3, n), 0)
    ).astype(np.int64)
    compile_ms = rng.lognormal(np.log(180), 0.6, n).astype(np.int64)
    exec_i = exec_ms.astype(np.int64)
    total = compile_ms + wait_compute + wait_cap + exec_i
    p_fail = 0.01 + 0.05 * (nbytes > 50e9)
    u = rng.random(n)
    status = np.where(u < p_fail, 1, np.where(u < p_fail + 0.006, 2, 0))

    # Injected ad-hoc statements (the effects plan: exports, exfiltration, heavy analyses):
    # straight SELECTs of a random statement text of the warehouse, no cache, no queueing.
    lo = int(world.day_start_us[0] + d0 * ag.DAY_US)
    extra = eff.queries_between(lo, lo + (d1 - d0) * ag.DAY_US)
    if extra is not None:
        xw = extra["wh"]
        m = len(xw)
        xb = extra["bytes"]
        xexec = (150 + xb / (WH_SCAN[world.wh_size[xw]] * 1e9) * 1000).astype(np.int64)
        wh = np.concatenate([wh, xw])
        ws = np.concatenate([ws, extra["ws"]])
        user = np.concatenate([user, extra["user"]])
        start = np.concatenate([start, extra["start"]])
        nbytes = np.concatenate([nbytes, xb])
        tmpl = np.concatenate([tmpl, extra["tmpl"]])
        cache_pct = np.concatenate([cache_pct, np.zeros(m)])
        from_cache = np.concatenate([from_cache, np.zeros(m, bool)])
        spill = np.concatenate([spill, np.zeros(m)])
        compile_ms = np.concatenate([compile_ms, np.full(m, 150)])
        wait_compute = np.concatenate([wait_compute, np.zeros(m, np.int64)])
        wait_cap = np.concatenate([wait_cap, np.zeros(m, np.int64)])
        exec_i = np.concatenate([exec_i, xexec])
        total = compile_ms + wait_compute + wait_cap + exec_i
        status = np.concatenate([status, np.zeros(m, int)])
        produced = np.concatenate([rng.lognormal(5, 2.5, n), xb / 150])
        regressed = np.concatenate([regressed, np.zeros(m, bool)])
        stype_over = np.concatenate([np.full(n, -1), np.zeros(m, int)])
        client_over = np.concatenate([np.full(n, -1), np.zeros(m, int)])
        n = n + m
    else:
        produced = rng.lognormal(5, 2.5, n)
        stype_over = np.full(n, -1)
        client_over = np.full(n, -1)

    end = start + total * 1000
    ktype = world.tmpl_type[wh, tmpl]
    ktype = np.where(stype_over >= 0, stype_over, ktype)
    read_bytes = np.where(from_cache, 0, nbytes).astype(np.int64)
    read_files = np.where(from_cache, 0, nbytes // 1.28e8 + 1).astype(np.int64)
    client = np.where(client_over >= 0, client_over, (wh * 7 + tmpl) % len(CLIENTS))
    texts = _texts(world)
    user_ids = [str(10**12 + u) for u in range(len(world.user_email))]
    tbl = ag.table(FACT_QUERY_HISTORY, n, {
        "account_id": ag.const(world.account_id, n),
        "workspace_id": ag.take(world.ws_id, ws),
        "statement_id": ag.uuids(rng, n),
        "executed_by": ag.take(world.user_email, user),
        "session_id": ag.int_strings(user.astype(np.int64) * 10**7 + (start // (4 * 3600 * US)) % 10**7),
        "execution_status": ag.take(["FINISHED", "FAILED", "CANCELED"], status),
        "compute_type": ag.const("WAREHOUSE", n),
        "compute_warehouse_id": ag.take(world.wh_id, wh),
        "executed_by_user_id": ag.take(user_ids, user),
        "statement_text": ag.take(texts, wh * world.tmpl_bytes.shape[1] + tmpl),
        "statement_type": ag.take(STATEMENT_TYPES, ktype),
        "error_message": ag.masked(ag.take(ERRORS, (tmpl + wh) % len(ERRORS)), status == 1),
        "client_application": ag.take(CLIENTS, client),
        "client_driver": ag.take(DRIVERS, client),
        "total_duration_ms": pa.array(total),
        "waiting_for_compute_duration_ms": pa.array(wait_compute),
        "waiting_at_capacity_duration_ms": pa.array(wait_cap),
        "execution_duration_ms": pa.array(exec_i),
        "compilation_duration_ms": pa.array(compile_ms),
        "total_task_duration_ms": pa.array((exec_i * np.maximum(1, nbytes / 2e8)).astype(np.int64)),
        "result_fetch_duration_ms": pa.array((produced / 1e4).astype(np.int64)),
        "start_time": ag.timestamps(start),
        "end_time": ag.timestamps(end),
        "update_time": ag.timestamps(end),
        "read_partitions": pa.array(np.where(from_cache, 0, np.maximum(1, read_files // 4))),
        "pruned_files": pa.array(np.where(regressed | from_cache | ~world.tmpl_prunes[wh, tmpl], 0, read_files * 3)),
        "read_files": pa.array(read_files),
        "read_rows": pa.array((read_bytes / 120).astype(np.int64)),
        "produced_rows": pa.array(produced.astype(np.int64)),
        "read_bytes": pa.array(read_bytes),
        "read_io_cache_percent": pa.array(cache_pct.astype(np.int8)),
        "from_result_cache": pa.array(from_cache),
        "spilled_local_bytes": pa.array(spill.astype(np.int64)),
        "written_bytes": pa.array(np.where(ktype > 0, nbytes * 0.3, 0).astype(np.int64)),
        "shuffle_read_bytes": pa.array((read_bytes * 0.2).astype(np.int64)),
        "executed_as_user_id": ag.take(user_ids, user),
        "executed_as": ag.take(world.user_email, user),
        "written_rows": pa.array(np.where(ktype > 0, nbytes * 0.3 / 120, 0).astype(np.int64)),
        "written_files": pa.array(np.where(ktype > 0, nbytes * 0.3 // 1.28e8 + 1, 0).astype(np.int64)),
    })

    # Warehouse usage: an hourly record for every hour the warehouse served statements; more
    # clusters when busy (bounded by max_clusters), auto-stop keeps it up part of the next hour.
    active = np.nonzero(counts > 0)[0]
    a_wh = wh_g[active]
    clusters = np.clip(np.ceil(busy[active] / (3600.0 * SLOTS_PER_CLUSTER * 0.6)), 1, world.wh_max[a_wh])
    up_frac = np.minimum(1.0, 0.35 + world.wh_auto_stop[a_wh] / 60.0 * 0.5 + counts[active] / 200.0)
    from healthmon.demodata.world import WH_DBU
    qty = WH_DBU[world.wh_size[a_wh]] * clusters * up_frac
    h_start = world.day_start_us[0] + hr_g[active] * 3600 * US
    usage = dict(ws=world.wh_ws[a_wh], sku=np.array(WH_TYPE_SKU)[world.wh_type[a_wh]], start=h_start,
                 end=h_start + 3600 * US, qty=qty, cluster=np.full(len(active), -1), job=np.full(len(active), -1),
                 run_id=np.full(len(active), -1), node=np.full(len(active), -1), photon=np.ones(len(active), bool),
                 serverless=world.wh_type[a_wh] == 1, warehouse=a_wh, kind=np.full(len(active), 2))
    return tbl, usage
