"""Job runs, task runs, and the usage and node metrics they cause.

Per run: input volume = job base × workspace growth × weekday/holiday factor × noise × incident
multiplier; duration = start-up + volume / (workers^0.8 × node speed); memory pressure =
volume / (workers × node memory). Failure log-odds = base + runtime-version effect + compute
type + memory pressure above 80 % + per-job bias + upstream failed today + incident. Retries
(task-level ``max_retries``) re-run the failing task; a run past its timeout is TIMED_OUT.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.arrowgen import US
from healthmon.demodata.effects import Effects
from healthmon.demodata.schemas import FACT_JOB_RUN_TIMELINE, FACT_JOB_TASK_RUN_TIMELINE, FACT_NODE_TIMELINE
from healthmon.demodata.world import DBR_EFFECT, NODE_DBU, NODE_MEM, NODE_SPEED, NODE_TYPES, SKU_INDEX, TASK_KEYS, World

COMPUTE_EFFECT = np.array([0.2, 0.45, -0.3])  # job cluster, all-purpose (shared, noisy neighbours), serverless


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class RunIds:
    """Globally increasing run ids (Databricks run ids are large integers)."""

    def __init__(self, seed: int):
        self.next = 10**14 + int(np.random.default_rng([seed, 9]).integers(0, 10**12))

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n + 1
        return out


def runtime_at(
    world: World, eff: Effects, job: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per run (job, day): runtime version index, cluster index (-1 = serverless) and the extra
    failure log-odds of a broken routine upgrade (its first ``fix_days`` days).

    A job runs on its current cluster definition, or on an older one before each of its routine
    upgrades. The incident's upgrade (``eff.job_dbr_upgrade_day``) changes the current cluster in
    place, so from that day the job stays on it."""
    version = world.job_dbr[job].copy()
    cluster = world.job_cluster[job].copy()
    extra = np.zeros(len(job))
    incident_day = eff.job_dbr_upgrade_day[job]
    order = np.argsort(-world.upgrade_day, kind="stable")  # latest first: earlier ones overwrite
    for e in order:
        j, d = world.upgrade_job[e], world.upgrade_day[e]
        mine = job == j
        if not mine.any():
            continue
        before = mine & (day < d) & (day < incident_day)
        version[before] = world.upgrade_from[e]
        cluster[before] = world.upgrade_cluster_before[e]
        if world.upgrade_breaks[e]:
            extra[mine & (day >= d) & (day < d + world.upgrade_fix_days[e])] += world.upgrade_fail_logit[e]
    return version, cluster, extra


def job_name_index(world: World, job: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Index into ``job_name + job_old_name`` of the name a job had on ``day`` (renamed jobs
    carry their old name before the rename)."""
    return np.where(day < world.job_rename_day[job], len(world.job_name) + job, job)


def _job_days(world: World, eff: Effects, d0: int, d1: int) -> tuple[np.ndarray, np.ndarray]:
    J = len(world.job_id)
    days = np.arange(d0, d1)
    grid_j, grid_d = np.meshgrid(np.arange(J), days, indexing="ij")
    jj, dd = grid_j.ravel(), grid_d.ravel()
    runs_today = (world.job_weekday[jj] < 0) | (world.job_weekday[jj] == world.dow[dd])
    runs_today &= ~eff.job_paused[jj, dd]
    return jj[runs_today], dd[runs_today]


def generate(world: World, eff: Effects, d0: int, d1: int, rng: np.random.Generator, ids: RunIds) -> dict:
    jd_job, jd_day = _job_days(world, eff, d0, d1)
    k = world.job_runs_per_day[jd_job]
    job = np.repeat(jd_job, k)
    day = np.repeat(jd_day, k)
    slot = np.arange(len(job)) - np.repeat(np.cumsum(k) - k, k)
    n = len(job)
    ws = world.job_ws[job]
    interval_h = 24 // world.job_runs_per_day[job]
    hour = (world.job_hour[job] % interval_h) + slot * interval_h
    start = world.day_start_us[day] + hour * 3600 * US + (rng.gamma(2.0, 40.0, n) * US).astype(np.int64)

    weekend = world.dow[day] >= 5
    business = world.job_team[job] != 3  # platform jobs don't follow the business week
    season = np.where(weekend & business, 0.55, 1.0) * np.where(world.holiday[day] & business, 0.6, 1.0)
    volume = (world.job_volume_gb[job] * world.growth(ws, day) * season * rng.lognormal(0, 0.25, n)
              * eff.job_volume_mult[job, day])
    workers = world.job_workers[job]
    node = world.job_node[job]
    compute = world.job_compute[job]
    startup = np.choose(compute, [240.0, 15.0, 40.0]) * rng.lognormal(0, 0.2, n)
    work = volume * 45.0 / (workers ** 0.8 * NODE_SPEED[node])
    dur = startup + 50.0 * world.job_tasks[job] + work * rng.lognormal(0, 0.15, n)
    pressure = volume / (workers * NODE_MEM[node])
    mem_pct = np.clip(100.0 * (1.0 - np.exp(-2.5 * pressure)) + rng.normal(0, 3, n), 6.0, 99.6)

    dbr_upgraded = day >= eff.job_dbr_upgrade_day[job]
    version, _, upgrade_logit = runtime_at(world, eff, job, day)
    outage = eff.ws_outage[ws, day]
    logit = (-3.6 + np.where(dbr_upgraded, 0.0, DBR_EFFECT[version]) + COMPUTE_EFFECT[compute]
             + 0.18 * np.maximum(0.0, mem_pct - 80.0) + world.job_bias[job] + eff.job_fail_logit[job, day]
             + upgrade_logit + outage)
    # Upstream failures: resolve level by level (an upstream job always has a lower index).
    fail0 = np.zeros(n, bool)
    upstream = world.job_upstream[job]
    depth = np.zeros(len(world.job_id), int)
    for j in range(len(world.job_id)):
        if world.job_upstream[j] >= 0:
            depth[j] = depth[world.job_upstream[j]] + 1
    # One uniform per attempt; a downstream job sees its upstream's *final* outcome that day
    # (after the upstream's own retries).
    u = rng.random((3, n))
    retries = world.job_retries[job]
    ndays = d1 - d0
    failed_day = np.zeros((len(world.job_id), ndays), bool)
    upstream_failed = np.zeros(n, bool)
    fail1 = np.zeros(n, bool)
    fail2 = np.zeros(n, bool)
    for level in range(depth.max() + 1):
        sel = depth[job] == level
        if level > 0:
            upstream_failed[sel] = failed_day[upstream[sel], day[sel] - d0]
        lg = logit[sel] + 3.2 * upstream_failed[sel]
        fail0[sel] = u[0, sel] < _sigmoid(lg)
        fail1[sel] = u[1, sel] < _sigmoid(lg - 1.0)
        fail2[sel] = u[2, sel] < _sigmoid(lg - 1.0)
        r = retries[sel]
        final = np.where(fail0[sel] & (r >= 1), np.where(fail1[sel] & (r >= 2), fail2[sel], fail1[sel]), fail0[sel])
        np.logical_or.at(failed_day, (job[sel], day[sel] - d0), final)
    logit = logit + 3.2 * upstream_failed
    attempts = 1 + (fail0 & (retries >= 1)) + (fail0 & fail1 & (retries >= 2))
    final_fail = np.where(attempts == 1, fail0, np.where(attempts == 2, fail1, fail2))
    frac = rng.uniform(0.1, 0.9, (n, 3))
    # Each failed attempt used part of the work; the last attempt the whole of it unless it failed.
    total = dur * np.where(fail0, frac[:, 0], 1.0)
    total += np.where(attempts >= 2, dur * np.where(fail1, frac[:, 1], 1.0) + 30.0, 0.0)
    total += np.where(attempts >= 3, dur * np.where(fail2, frac[:, 2], 1.0) + 30.0, 0.0)
    timeout = world.job_timeout_s[job]
    timed_out = (timeout > 0) & (total > timeout)
    total = np.where(timed_out, timeout, total)
    cancelled = ~timed_out & (rng.random(n) < 0.004)
    total = np.where(cancelled, total * rng.uniform(0.05, 0.9, n), total)
    end = start + (total * US).astype(np.int64)

    # result_state / termination_code (Databricks' real values)
    cloud_err = rng.random(n) < np.where(outage > 0, 0.8, 0.08)
    result = np.where(final_fail, np.where(cloud_err, 5, 1), 0)
    result = np.where(timed_out, 2, np.where(cancelled, 3, result))
    states = ["SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED", "ERROR"]
    codes = ["SUCCESS", "RUN_EXECUTION_ERROR", "DRIVER_ERROR", "CLUSTER_ERROR", "LIBRARY_INSTALLATION_ERROR",
             "USER_CANCELED", "CLOUD_FAILURE", "TIMED_OUT"]
    code = np.zeros(n, int)
    code = np.where(final_fail, 1, code)
    code = np.where(final_fail & (mem_pct > 90), 2, code)
    code = np.where(final_fail & (compute == 0) & (rng.random(n) < 0.08), 3, code)
    # a runtime upgrade that broke a library: the incident's and routine ones alike
    broken_upgrade = (dbr_upgraded & (eff.job_fail_logit[job, day] > 0)) | (upgrade_logit > 0)
    code = np.where(final_fail & broken_upgrade & (rng.random(n) < 0.6), 4, code)
    code = np.where(result == 5, 6, code)
    code = np.where(timed_out, 7, np.where(cancelled, 5, code))

    # Manual re-runs of some failed runs (trigger ONETIME), 30 min – 3 h later.
    rerun = (result != 0) & (result != 3) & (rng.random(n) < 0.3)
    r_idx = np.nonzero(rerun)[0]
    r_start = end[r_idx] + (rng.uniform(1800, 10800, len(r_idx)) * US).astype(np.int64)
    r_fail = rng.random(len(r_idx)) < _sigmoid(logit[r_idx] - 1.0)
    r_dur = dur[r_idx] * np.where(r_fail, rng.uniform(0.1, 0.9, len(r_idx)), 1.0)
    r_end = r_start + (r_dur * US).astype(np.int64)

    # ---- assemble runs (scheduled + reruns)
    all_job = np.concatenate([job, job[r_idx]])
    all_start = np.concatenate([start, r_start])
    all_end = np.concatenate([end, r_end])
    all_state = np.concatenate([result, np.where(r_fail, 1, 0)])
    all_code = np.concatenate([code, np.where(r_fail, 1, 0)])
    trig = np.concatenate([np.zeros(n, int), np.ones(len(r_idx), int)])
    N = len(all_job)
    run_ids = ids.take(N)
    job_ids = [str(j) for j in world.job_id]
    all_ws = world.job_ws[all_job]
    cluster_pool = pa.array([[c] for c in world.cluster_id] + [[]], type=pa.list_(pa.field("element", pa.string())))
    all_day = np.concatenate([day, day[r_idx]])
    run_cluster = runtime_at(world, eff, all_job, all_day)[1]
    cl = np.where(run_cluster >= 0, run_cluster, len(world.cluster_id))
    runs = ag.table(FACT_JOB_RUN_TIMELINE, N, {
        "account_id": ag.const(world.account_id, N),
        "workspace_id": ag.take(world.ws_id, all_ws),
        "job_id": ag.take(job_ids, all_job),
        "run_id": ag.int_strings(run_ids),
        "period_start_time": ag.timestamps(all_start),
        "period_end_time": ag.timestamps(all_end),
        "trigger_type": ag.take(["CRON", "ONETIME"], trig),
        "result_state": ag.take(states, all_state),
        "run_type": ag.const("JOB_RUN", N),
        "run_name": ag.take(world.job_name + world.job_old_name, job_name_index(world, all_job, all_day)),
        "compute_ids": cluster_pool.take(pa.array(cl)),
        "termination_code": ag.take(codes, all_code),
        "run_date": ag.dates(all_start),
        "run_duration_seconds": pa.array((all_end - all_start) // US),
    })

    # ---- task runs: attempt 0 runs tasks up to the failing one; retries re-run the failing task.
    ntask = world.job_tasks[all_job]
    first_fail = np.concatenate([fail0, r_fail])
    fail_task = (rng.random(N) * ntask).astype(int)
    att = np.concatenate([attempts, np.ones(len(r_idx), int)])
    last_ok = np.where(first_fail | (all_state == 2) | (all_state == 3), fail_task, ntask - 1)
    rows0 = last_ok + 1
    extra = att - 1
    per_run = rows0 + extra
    t_run = np.repeat(np.arange(N), per_run)
    pos = np.arange(len(t_run)) - np.repeat(np.cumsum(per_run) - per_run, per_run)
    is_retry = pos >= rows0[t_run]
    t_task = np.where(is_retry, fail_task[t_run], pos)
    t_total = per_run[t_run]
    span = (all_end - all_start)[t_run]
    t_start = all_start[t_run] + span * pos // t_total
    t_end = all_start[t_run] + span * (pos + 1) // t_total
    last_row = pos == t_total - 1
    t_state = np.where(
        last_row, all_state[t_run], np.where(is_retry | (t_task == fail_task[t_run]) & first_fail[t_run], 1, 0)
    )
    t_state = np.where(~last_row & (t_state == 0), 0, t_state)
    t_code = np.where(last_row, all_code[t_run], np.where(t_state == 1, 1, 0))
    T = len(t_run)
    t_ids = ids.take(T)
    tasks = ag.table(FACT_JOB_TASK_RUN_TIMELINE, T, {
        "account_id": ag.const(world.account_id, T),
        "workspace_id": ag.take(world.ws_id, all_ws[t_run]),
        "job_id": ag.take(job_ids, all_job[t_run]),
        "run_id": ag.int_strings(t_ids),
        "period_start_time": ag.timestamps(t_start),
        "period_end_time": ag.timestamps(t_end),
        "task_key": ag.take(TASK_KEYS, t_task),
        "compute_ids": cluster_pool.take(pa.array(cl[t_run])),
        "result_state": ag.take(states, t_state),
        "job_run_id": ag.int_strings(run_ids[t_run]),
        "parent_run_id": ag.int_strings(run_ids[t_run]),
        "termination_code": ag.take(codes, t_code),
        "run_date": ag.dates(t_start),
        "run_duration_seconds": pa.array((t_end - t_start) // US),
    })

    mem_all = np.concatenate([mem_pct, mem_pct[r_idx]])
    vol_all = np.concatenate([volume, volume[r_idx]])
    return {
        "fact_job_run_timeline": runs,
        "fact_job_task_run_timeline": tasks,
        "_runs": dict(job=all_job, start=all_start, end=all_end, state=all_state, run_id=run_ids,
                      mem=mem_all, volume=vol_all, day=(all_start - world.day_start_us[0]) // ag.DAY_US,
                      cluster=run_cluster),
    }


def usage_and_nodes(world: World, runs: dict, rng: np.random.Generator) -> tuple[dict, pa.Table]:
    """Usage slices (hourly) and node-timeline rows caused by job runs."""
    job, start, end = runs["job"], runs["start"], runs["end"]
    compute = world.job_compute[job]
    nodes = world.job_workers[job] + 1
    dur_h = (end - start) / (3600 * US)
    photon = world.job_photon[job]
    rate = np.where(compute == 2, 1.1 * nodes, nodes * NODE_DBU[world.job_node[job]] * np.where(photon, 2.0, 1.0))
    dbu = dur_h * rate
    sku = np.where(
        compute == 2,
        SKU_INDEX["PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA"],
        np.where(
            compute == 1,
            np.where(
                photon, SKU_INDEX["PREMIUM_ALL_PURPOSE_COMPUTE_(PHOTON)"], SKU_INDEX["PREMIUM_ALL_PURPOSE_COMPUTE"]
            ),
            np.where(photon, SKU_INDEX["PREMIUM_JOBS_COMPUTE_(PHOTON)"], SKU_INDEX["PREMIUM_JOBS_COMPUTE"]),
        ),
    )
    # hourly slices
    slices = np.maximum(1, np.ceil(dur_h).astype(int))
    r = np.repeat(np.arange(len(job)), slices)
    i = np.arange(len(r)) - np.repeat(np.cumsum(slices) - slices, slices)
    s_start = start[r] + i * 3600 * US
    s_end = np.minimum(s_start + 3600 * US, end[r])
    frac = (s_end - s_start) / np.maximum(1, (end - start)[r])
    usage = dict(
        ws=world.job_ws[job][r], sku=sku[r], start=s_start, end=s_end, qty=dbu[r] * frac,
        cluster=np.where(compute[r] == 2, -1, runs["cluster"][r]), job=job[r], run_id=runs["run_id"][r],
        node=np.where(compute[r] == 2, -1, world.job_node[job][r]), photon=photon[r], serverless=compute[r] == 2,
        warehouse=np.full(len(r), -1), kind=np.where(compute[r] == 1, 1, 0),
    )

    # node timeline: job-cluster runs only (all-purpose clusters report in their own timeline)
    sel = np.nonzero(compute[r] == 0)[0]
    nn = nodes[r[sel]]
    nr = np.repeat(sel, nn)
    k = np.arange(len(nr)) - np.repeat(np.cumsum(nn) - nn, nn)
    run_of = r[nr]
    M = len(nr)
    mem = np.clip(runs["mem"][run_of] + rng.normal(0, 4, M) - np.where(k == 0, 15, 0), 3, 99.9)
    cpu_user = np.clip(rng.normal(55, 15, M) + 0.2 * (mem - 50), 1, 98)
    vol_bytes = (
        runs["volume"][run_of]
        * 2**30
        / np.maximum(1, nodes[run_of])
        * ((usage["end"][nr] - usage["start"][nr]) / np.maximum(1, (end - start)[run_of]))
    )
    node_type = world.job_node[job][run_of]
    nt = ag.table(FACT_NODE_TIMELINE, M, {
        "account_id": ag.const(world.account_id, M),
        "workspace_id": ag.take(world.ws_id, usage["ws"][nr]),
        "cluster_id": ag.take(world.cluster_id, usage["cluster"][nr]),
        "instance_id": ag.prefixed_hex(rng, M, "i-", 17),
        "start_time": ag.timestamps(usage["start"][nr]),
        "end_time": ag.timestamps(usage["end"][nr]),
        "driver": pa.array(k == 0),
        "cpu_user_percent": pa.array(cpu_user),
        "cpu_system_percent": pa.array(np.clip(rng.normal(6, 2, M), 0.5, 30)),
        "cpu_wait_percent": pa.array(np.clip(rng.gamma(2, 2, M) + np.maximum(0, mem - 85) * 0.8, 0, 60)),
        "mem_used_percent": pa.array(mem),
        "mem_swap_percent": pa.array(np.clip((mem - 90) * 1.5, 0, 40)),
        "network_sent_bytes": pa.array((vol_bytes * rng.uniform(0.2, 0.6, M)).astype(np.int64)),
        "network_received_bytes": pa.array((vol_bytes * rng.uniform(0.6, 1.2, M)).astype(np.int64)),
        "node_type": ag.take([n[0] for n in NODE_TYPES], node_type),
        "private_ip": ag.ips(np.full(M, 10), rng.integers(0, 256, M), rng.integers(0, 256, M), rng.integers(1, 255, M)),
    })
    return usage, nt
