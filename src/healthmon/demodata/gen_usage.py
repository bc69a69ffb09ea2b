"""Billable usage: all-purpose clusters, DLT pipelines and model serving (hourly), plus the
assembly of every source (job runs, warehouses...) into ``fact_usage`` with list prices.

All-purpose clusters follow their owners' working hours (local 8–19 on weekdays, rarely at
weekends); the effects plan can keep one up for given hours at a multiple of its workers
(a cluster left running, a long training session).
DLT pipelines run continuously or hourly; serving endpoints follow a daily traffic curve.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.arrowgen import DAY_US, US
from healthmon.demodata.effects import Effects
from healthmon.demodata.gen_jobs import job_name_index
from healthmon.demodata.gen_sql import HOUR_PROFILE
from healthmon.demodata.schemas import FACT_NODE_TIMELINE, FACT_USAGE
from healthmon.demodata.world import (
    NODE_DBU,
    NODE_TYPES,
    PRICE_BEFORE_CHANGE,
    PRICE_CHANGE_SKU,
    SKU_INDEX,
    SKU_PRICE,
    SKUS,
    TEAMS,
    World,
)

USAGE_KEYS = ("ws", "sku", "start", "end", "qty", "cluster", "job", "run_id", "node", "photon", "serverless",
              "warehouse", "kind")
# kind: 0 job run, 1 job on all-purpose, 2 warehouse, 3 interactive all-purpose, 4 DLT, 5 serving


def price_change_us(world: World) -> int:
    """The serverless SQL promotion ends 40 % into the period."""
    return int(world.day_start_us[0] + int(world.days * 0.4) * DAY_US)


def hourly_other(world: World, eff: Effects, d0: int, d1: int, rng: np.random.Generator) -> tuple[list[dict], pa.Table]:
    hours = np.arange(d0 * 24, d1 * 24)
    parts = []
    # ---- all-purpose clusters (interactive)
    pos, hh = (g.ravel() for g in np.meshgrid(np.arange(len(world.ap_cluster)), hours, indexing="ij"))
    cc = world.ap_cluster[pos]
    day = hh // 24
    ws = world.cluster_ws[cc]
    local = (hh % 24 + world.ws_tz[ws]) % 24
    workday = (world.dow[day] < 5) & ~world.holiday[day]
    p_on = np.where(workday & (local >= 8) & (local < 19), 0.85, np.where(workday, 0.04, 0.02))
    runaway = eff.ap_hour_mult[pos, hh]  # > 0: up all that hour at this multiple of its workers
    on = (rng.random(len(cc)) < p_on) | (runaway > 0)
    workers = world.cluster_workers[cc] * np.where(runaway > 0, runaway, 1.0)
    frac = np.where(runaway > 0, 1.0, rng.uniform(0.3, 1.0, len(cc)))
    sel = np.nonzero(on)[0]
    node = world.cluster_node[cc[sel]]
    qty = (np.round(workers[sel]) + 1) * NODE_DBU[node] * frac[sel]
    h_start = world.day_start_us[0] + hh[sel] * 3600 * US
    h_end = h_start + (frac[sel] * 3600 * US).astype(np.int64)
    m = len(sel)
    parts.append(dict(ws=ws[sel], sku=np.full(m, SKU_INDEX["PREMIUM_ALL_PURPOSE_COMPUTE"]), start=h_start, end=h_end,
                      qty=qty, cluster=cc[sel], job=np.full(m, -1), run_id=np.full(m, -1), node=node,
                      photon=np.zeros(m, bool), serverless=np.zeros(m, bool), warehouse=np.full(m, -1),
                      kind=np.full(m, 3)))
    # node timeline of all-purpose clusters
    nn = (np.round(workers[sel]) + 1).astype(int)
    nr = np.repeat(np.arange(m), nn)
    k = np.arange(len(nr)) - np.repeat(np.cumsum(nn) - nn, nn)
    M = len(nr)
    mem = np.clip(rng.normal(45, 12, M) + np.where(runaway[sel][nr] > 0, 10, 0), 3, 99)
    nodes = ag.table(FACT_NODE_TIMELINE, M, {
        "account_id": ag.const(world.account_id, M),
        "workspace_id": ag.take(world.ws_id, ws[sel][nr]),
        "cluster_id": ag.take(world.cluster_id, cc[sel][nr]),
        "instance_id": ag.prefixed_hex(rng, M, "i-", 17),
        "start_time": ag.timestamps(h_start[nr]),
        "end_time": ag.timestamps(h_end[nr]),
        "driver": pa.array(k == 0),
        "cpu_user_percent": pa.array(np.clip(rng.gamma(2.0, 9.0, M), 0.5, 98)),
        "cpu_system_percent": pa.array(np.clip(rng.normal(4, 1.5, M), 0.2, 30)),
        "cpu_wait_percent": pa.array(np.clip(rng.gamma(1.5, 1.5, M), 0, 40)),
        "mem_used_percent": pa.array(mem),
        "mem_swap_percent": pa.array(np.clip((mem - 90) * 1.5, 0, 40)),
        "network_sent_bytes": pa.array(rng.lognormal(18, 1.2, M).astype(np.int64)),
        "network_received_bytes": pa.array(rng.lognormal(19, 1.2, M).astype(np.int64)),
        "node_type": ag.take([x[0] for x in NODE_TYPES], node[nr]),
        "private_ip": ag.ips(np.full(M, 10), rng.integers(0, 256, M), rng.integers(0, 256, M), rng.integers(1, 255, M)),
    })

    # ---- DLT pipelines: continuous (advanced) or hourly triggered (core)
    if len(world.dlt_ws):
        pp, hh = (g.ravel() for g in np.meshgrid(np.arange(len(world.dlt_ws)), hours, indexing="ij"))
        ws = world.dlt_ws[pp]
        adv = world.dlt_advanced[pp]
        frac = np.where(adv, 1.0, rng.uniform(0.15, 0.35, len(pp)))
        qty = world.dlt_dbu[pp] * frac * world.growth(ws, hh // 24) * rng.lognormal(0, 0.2, len(pp))
        h_start = world.day_start_us[0] + hh * 3600 * US
        m = len(pp)
        parts.append(
            dict(
                ws=ws,
                sku=np.where(adv, SKU_INDEX["PREMIUM_DLT_ADVANCED_COMPUTE"], SKU_INDEX["PREMIUM_DLT_CORE_COMPUTE"]),
                start=h_start,
                end=h_start + (frac * 3600 * US).astype(np.int64),
                qty=qty,
                cluster=np.full(m, -1),
                job=np.full(m, -1),
                run_id=np.full(m, -1),
                node=np.full(m, -1),
                photon=adv,
                serverless=np.zeros(m, bool),
                warehouse=np.full(m, -1),
                kind=np.full(m, 4),
                dlt=pp,
            )
        )
    # ---- model serving endpoints
    if len(world.serving_ws):
        ee, hh = (g.ravel() for g in np.meshgrid(np.arange(len(world.serving_ws)), hours, indexing="ij"))
        ws = world.serving_ws[ee]
        local = (hh % 24 + world.ws_tz[ws]) % 24
        qty = world.serving_dbu[ee] * HOUR_PROFILE[local] * world.growth(ws, hh // 24) * rng.lognormal(0, 0.3, len(ee))
        h_start = world.day_start_us[0] + hh * 3600 * US
        m = len(ee)
        parts.append(dict(ws=ws, sku=np.full(m, SKU_INDEX["PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST_N_VIRGINIA"]),
                          start=h_start, end=h_start + 3600 * US, qty=qty, cluster=np.full(m, -1), job=np.full(m, -1),
                          run_id=np.full(m, -1), node=np.full(m, -1), photon=np.zeros(m, bool),
                          serverless=np.ones(m, bool), warehouse=np.full(m, -1), kind=np.full(m, 5), serving=ee))
    return parts, nodes


def assemble(world: World, eff: Effects, parts: list[dict], rng: np.random.Generator) -> pa.Table:
    keys = USAGE_KEYS + ("dlt", "serving")
    cols = {}
    total = sum(len(p["qty"]) for p in parts)
    for k in keys:
        cols[k] = (
            np.concatenate([p[k] if k in p else np.full(len(p["qty"]), -1) for p in parts]) if parts else np.zeros(0)
        )
    n = total
    ws, sku, start, end, qty = cols["ws"], cols["sku"].astype(int), cols["start"], cols["end"], cols["qty"]
    job, cluster, wh, kind = (
        cols["job"].astype(int),
        cols["cluster"].astype(int),
        cols["warehouse"].astype(int),
        cols["kind"],
    )
    day = (start - world.day_start_us[0]) // DAY_US
    price = SKU_PRICE[sku].copy()
    price = np.where(
        (sku == SKU_INDEX[PRICE_CHANGE_SKU]) & (start < price_change_us(world)), PRICE_BEFORE_CHANGE, price
    )
    # gold stores quantities and prices to 9 decimals; cost is computed from the stored values
    qty = np.round(qty, 9)
    cost = qty * price

    # custom tags: job tags (gone after an untagged-spend incident), cluster tags, warehouse and
    # product tags. Pool: jobs, clusters, warehouses, DLT/serving (team tags), then the empty map.
    J, C, Wh = len(world.job_id), len(world.cluster_id), len(world.wh_id)
    wh_tags = [{"team": TEAMS[w % len(TEAMS)], "project": "bi"} if w % 3 else {} for w in range(Wh)]
    team_tags = [{"team": t} for t in TEAMS]
    pool = world.job_tags + world.cluster_tags + wh_tags + team_tags + [{}]
    empty = len(pool) - 1
    tag_idx = np.full(n, empty)
    is_job = job >= 0
    untagged = is_job & eff.job_untagged[np.where(is_job, job, 0), np.clip(day, 0, world.days - 1)]
    tag_idx = np.where(is_job, np.where(untagged, empty, job), tag_idx)
    tag_idx = np.where(~is_job & (cluster >= 0), J + cluster, tag_idx)
    tag_idx = np.where(wh >= 0, J + C + wh, tag_idx)
    prod = (kind == 4) | (kind == 5)
    tag_idx = np.where(prod, np.where(rng.random(n) < 0.6, J + C + Wh + (ws % len(TEAMS)), empty), tag_idx)
    has_tags = np.array([bool(t) for t in pool])[tag_idx]
    maps = pa.array(pool, type=pa.map_(pa.string(), pa.string())).take(pa.array(tag_idx))

    run_as = np.where(is_job, world.job_run_as[np.where(is_job, job, 0)],
                      np.where(cluster >= 0, world.cluster_owner[np.where(cluster >= 0, cluster, 0)],
                               np.where(wh >= 0, world.wh_owner[np.where(wh >= 0, wh, 0)], -1)))
    email_pool = world.user_email + [None]
    run_as = np.where(run_as < 0, len(world.user_email), run_as)
    dlt, serving = cols["dlt"].astype(int), cols["serving"].astype(int)
    origin = np.array([s[3] for s in SKUS])[sku]
    names = world.job_name + world.job_old_name + [None]
    name_idx = np.where(is_job, job_name_index(world, np.where(is_job, job, 0), day), len(names) - 1)
    is_sql = origin == "SQL"
    return ag.table(
        FACT_USAGE,
        n,
        {
            "account_id": ag.const(world.account_id, n),
            "workspace_id": ag.take(world.ws_id, ws),
            "record_id": ag.uuids(rng, n),
            "sku_name": ag.take([s[0] for s in SKUS], sku),
            "cloud": ag.const("AWS", n),
            "usage_start_time": ag.timestamps(start),
            "usage_end_time": ag.timestamps(end),
            "usage_date": ag.dates(start),
            "custom_tags": maps,
            "usage_unit": ag.const("DBU", n),
            "usage_quantity": ag.decimals(qty, 38, 18),
            "usage_metadata_cluster_id": ag.take(world.cluster_id + [None], np.where(cluster >= 0, cluster, C)),
            "usage_metadata_job_id": ag.take([str(j) for j in world.job_id] + [None], np.where(is_job, job, J)),
            "usage_metadata_warehouse_id": ag.take(world.wh_id + [None], np.where(wh >= 0, wh, Wh)),
            "usage_metadata_node_type": ag.take(
                [x[0] for x in NODE_TYPES] + [None],
                np.where(cols["node"] >= 0, cols["node"], len(NODE_TYPES)).astype(int),
            ),
            "usage_metadata_job_run_id": ag.masked(ag.int_strings(cols["run_id"]), cols["run_id"] >= 0),
            "usage_metadata_dlt_pipeline_id": ag.take(
                world.dlt_id + [None], np.where(dlt >= 0, dlt, len(world.dlt_id))
            ),
            "usage_metadata_endpoint_name": ag.take(
                world.serving_name + [None], np.where(serving >= 0, serving, len(world.serving_name))
            ),
            "usage_metadata_endpoint_id": ag.take(
                world.serving_id + [None], np.where(serving >= 0, serving, len(world.serving_id))
            ),
            "usage_metadata_job_name": ag.take(names, name_idx),
            "usage_metadata_run_name": ag.take(names, name_idx),
            "identity_metadata_run_as": ag.take(email_pool, run_as),
            "record_type": ag.const("ORIGINAL", n),
            "ingestion_date": ag.dates(start + DAY_US),
            "billing_origin_product": ag.take([s[3] for s in SKUS], sku),
            "product_features_jobs_tier": ag.masked(ag.const("CLASSIC", n), origin == "JOBS"),
            "product_features_sql_tier": ag.masked(
                ag.take(["CLASSIC", "PRO"], (sku != SKU_INDEX["PREMIUM_SQL_COMPUTE"]).astype(int)), is_sql
            ),
            "product_features_dlt_tier": ag.masked(
                ag.take(["CORE", "ADVANCED"], (sku == SKU_INDEX["PREMIUM_DLT_ADVANCED_COMPUTE"]).astype(int)),
                origin == "DLT",
            ),
            "product_features_is_serverless": pa.array(cols["serverless"].astype(bool)),
            "product_features_is_photon": pa.array(cols["photon"].astype(bool)),
            "product_features_serving_type": ag.masked(ag.const("MODEL", n), origin == "MODEL_SERVING"),
            "usage_type": ag.const("COMPUTE_TIME", n),
            "list_price": ag.decimals(price, 38, 18),
            "list_cost": ag.decimals(cost, 18, 6),
            "is_tagged": pa.array(has_tags),
        },
    )
