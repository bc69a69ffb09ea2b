"""Dimension tables (latest state at the end of the period), the incident labels and the record
of the harmless oddities."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.arrowgen import DAY_US, US
from healthmon.demodata.effects import Effects, Event
from healthmon.demodata.gen_usage import price_change_us
from healthmon.demodata.schemas import GOLD_TABLES
from healthmon.demodata.world import (
    DBR_VERSIONS,
    NODE_TYPES,
    PRICE_BEFORE_CHANGE,
    PRICE_CHANGE_SKU,
    SKUS,
    UPGRADE_TARGET,
    WAREHOUSE_SIZES,
    WAREHOUSE_TYPES,
    World,
    fq_table,
)

MAP = pa.map_(pa.string(), pa.string())
LIST = pa.list_(pa.field("element", pa.string()))


def _t(name: str, cols: dict) -> pa.Table:
    n = len(next(iter(cols.values())))
    return ag.table(
        GOLD_TABLES[name],
        n,
        {
            k: (v if isinstance(v, pa.Array) else pa.array(v, GOLD_TABLES[name].schema.field(k).type))
            for k, v in cols.items()
        },
    )


def _schedule_word(runs_per_day: int, weekday: int) -> str:
    if runs_per_day == 1 and weekday < 0:
        return "daily"
    return {24: "hourly", 6: "every 4 hours"}.get(runs_per_day, "weekly")


def build(world: World, eff: Effects) -> dict[str, pa.Table]:
    W, J = len(world.ws_id), len(world.job_id)
    end_us = int(world.day_start_us[-1] + DAY_US - US)
    out = {}
    out["dim_workspace"] = _t("dim_workspace", {
        "account_id": [world.account_id] * W, "workspace_id": world.ws_id, "workspace_name": world.ws_name,
        "workspace_url": [f"https://{n}.cloud.databricks.com" for n in world.ws_name],
        "create_time": ag.timestamps(world.ws_create_us), "status": ["RUNNING"] * W})
    out["dim_sku"] = _t("dim_sku", {"sku_name": [s[0] for s in SKUS], "cloud": ["AWS"] * len(SKUS),
                                    "usage_unit": [s[1] for s in SKUS]})
    # list prices: one window per SKU from a year before the period; one SKU changes price mid-period
    rows: list[tuple[int, int | None, str, str, float, float | None]] = []
    since = int(world.day_start_us[0] - 365 * DAY_US)
    change = price_change_us(world)
    for name, unit, price, _origin in SKUS:
        if name == PRICE_CHANGE_SKU:
            rows.append((since, change, name, unit, PRICE_BEFORE_CHANGE, price))
            rows.append((change, None, name, unit, price, None))
        else:
            rows.append((since, None, name, unit, price, None))
    dec = pa.decimal128(38, 18)
    out["fact_list_prices"] = _t("fact_list_prices", {
        "account_id": [world.account_id] * len(rows),
        "price_start_time": ag.timestamps(np.array([r[0] for r in rows])),
        "price_end_time": pa.array([r[1] for r in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "sku_name": [r[2] for r in rows], "cloud": ["AWS"] * len(rows), "currency_code": ["USD"] * len(rows),
        "usage_unit": [r[3] for r in rows],
        "pricing_default": ag.decimals(np.array([r[4] for r in rows]), 38, 18),
        "pricing_promotional_default": pa.array([None] * len(rows), dec),
        "pricing_effective_list_default": ag.decimals(np.array([r[4] for r in rows]), 38, 18),
    })
    # jobs: latest definition (tags as of the last day); changed when last redeployed (tags
    # removed or restored) or renamed
    untagged = eff.job_untagged[:, -1]
    flips = np.diff(eff.job_untagged.astype(np.int8), axis=1) != 0
    last_flip = np.where(flips.any(axis=1), world.days - 1 - np.argmax(flips[:, ::-1], axis=1), -1)
    last_day = np.maximum(last_flip, np.where(world.job_rename_day > 0, world.job_rename_day, -1))
    job_change = np.where(last_day >= 0, world.day_start_us[0] + last_day * DAY_US + 300 * US, world.job_created_us)
    out["dim_job"] = _t(
        "dim_job",
        {
            "account_id": [world.account_id] * J,
            "workspace_id": [world.ws_id[w] for w in world.job_ws],
            "job_id": [str(j) for j in world.job_id],
            "name": world.job_name,
            "creator_id": [str(10**12 + u) for u in world.job_owner],
            "tags": pa.array([{} if untagged[j] else world.job_tags[j] for j in range(J)], MAP),
            "run_as": [world.user_email[u] for u in world.job_run_as],
            "change_time": ag.timestamps(job_change),
            "delete_time": pa.nulls(J, pa.timestamp("us", tz="UTC")),
            # the upstream dependency is what makes a downstream failure explainable
            "description": [
                f"{n.replace('_', ' ')} ({_schedule_word(r, wd)})"
                + (f"; runs after job {world.job_id[up]} ({world.job_name[up]})" if up >= 0 else "")
                for n, r, wd, up in zip(world.job_name, world.job_runs_per_day, world.job_weekday, world.job_upstream)
            ],
        },
    )
    # warehouses
    Wh = len(world.wh_id)
    out["dim_warehouse"] = _t("dim_warehouse", {
        "warehouse_id": world.wh_id, "workspace_id": [world.ws_id[w] for w in world.wh_ws],
        "account_id": [world.account_id] * Wh, "warehouse_name": world.wh_name,
        "warehouse_type": [WAREHOUSE_TYPES[t] for t in world.wh_type], "warehouse_channel": ["CURRENT"] * Wh,
        "warehouse_size": [WAREHOUSE_SIZES[s][0] for s in world.wh_size],
        "min_clusters": world.wh_min.astype(np.int32), "max_clusters": world.wh_max.astype(np.int32),
        "auto_stop_minutes": world.wh_auto_stop.astype(np.int32),
        "tags": pa.array([{"team": "analytics"} if w % 3 else {} for w in range(Wh)], MAP),
        "change_time": ag.timestamps(world.wh_created_us), "delete_time": pa.nulls(Wh, pa.timestamp("us", tz="UTC")),
        "created_by": [world.user_email[u] for u in world.wh_owner],
    })
    # clusters: latest definition; upgrade incidents show the new runtime and the change time
    C = len(world.cluster_id)
    dbr = [DBR_VERSIONS[v] for v in world.cluster_dbr]
    change_c = world.cluster_created_us.copy()
    for inc in eff.incidents:
        if inc.kind == "failing_job_streak_after_upgrade" and inc.cluster >= 0:
            dbr[inc.cluster] = UPGRADE_TARGET
            change_c[inc.cluster] = inc.start_us - 1800 * US
        resized = inc.kind == "workload_surge" or (inc.kind == "cost_spike" and inc.magnitude_class != "subtle")
        if resized and inc.cluster >= 0 and world.cluster_source[inc.cluster] == "UI":  # edited (clusters.edit)
            change_c[inc.cluster] = inc.start_us + 600 * US
    is_job = np.array([s == "JOB" for s in world.cluster_source])
    out["dim_cluster"] = _t(
        "dim_cluster",
        {
            "account_id": [world.account_id] * C,
            "workspace_id": [world.ws_id[w] for w in world.cluster_ws],
            "cluster_id": world.cluster_id,
            "cluster_name": world.cluster_name,
            "owned_by": [world.user_email[u] for u in world.cluster_owner],
            "create_time": ag.timestamps(world.cluster_created_us),
            "delete_time": pa.nulls(C, pa.timestamp("us", tz="UTC")),
            "driver_node_type": [NODE_TYPES[x][0] for x in world.cluster_node],
            "worker_node_type": [NODE_TYPES[x][0] for x in world.cluster_node],
            "worker_count": pa.array(np.where(is_job, world.cluster_workers, 0), pa.int64()).cast(pa.int64()),
            "min_autoscale_workers": pa.array([None if j else 1 for j in is_job], pa.int64()),
            "max_autoscale_workers": pa.array(
                [None if j else int(w) * 2 for j, w in zip(is_job, world.cluster_workers)], pa.int64()
            ),
            "auto_termination_minutes": pa.array([0 if j else 60 for j in is_job], pa.int64()),
            "enable_elastic_disk": [True] * C,
            "tags": pa.array(world.cluster_tags, MAP),
            "cluster_source": world.cluster_source,
            "init_scripts": pa.array([[] for _ in range(C)], LIST),
            "dbr_version": dbr,
            "change_time": ag.timestamps(change_c),
            "change_date": ag.dates(change_c),
            "data_security_mode": ["SINGLE_USER" if j else "USER_ISOLATION" for j in is_job],
        },
    )
    end = end_us + US
    out["ground_truth_incidents"] = _events("ground_truth_incidents", "incident_id", world, eff.incidents, end, {
        "magnitude_class": [i.magnitude_class for i in eff.incidents],
        "group_id": [i.group_id for i in eff.incidents],
    })
    out["ground_truth_benign_events"] = _events("ground_truth_benign_events", "event_id", world, eff.benign, end, {})
    return out


def _events(name: str, id_column: str, world: World, events: list[Event], end_us: int, extra: dict) -> pa.Table:
    def opt(vals):
        return pa.array(vals, pa.string())

    return _t(name, {
        id_column: [i.event_id for i in events], "kind": [i.kind for i in events], "domain": [i.domain for i in events],
        "workspace_id": [world.ws_id[i.ws] for i in events],
        "job_id": opt([str(world.job_id[i.job]) if i.job >= 0 else None for i in events]),
        "user_name": opt([world.user_email[i.user] if i.user >= 0 else None for i in events]),
        "warehouse_id": opt([world.wh_id[i.warehouse] if i.warehouse >= 0 else None for i in events]),
        "cluster_id": opt([world.cluster_id[i.cluster] if i.cluster >= 0 else None for i in events]),
        "table_name": opt([fq_table(world, i.table) if i.table >= 0 else None for i in events]),
        "sku_name": opt([i.sku for i in events]),
        "start_time": ag.timestamps(np.array([i.start_us for i in events], np.int64)),
        "end_time": ag.timestamps(np.array([min(i.end_us, end_us) for i in events], np.int64)),
        "magnitude": pa.array([float(i.magnitude) for i in events], pa.float64()),
        "description": [i.description for i in events],
        "evidence_tables": pa.array([i.evidence for i in events], LIST),
        **extra,
    })
