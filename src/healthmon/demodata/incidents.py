"""Labelled incidents: which, where and when, and the knobs they turn in the generators.

Incidents start only in the test period (the last ``TEST_FRACTION`` of days). Each one changes
the *causes* the generators already model (input volume, tags, runtime version, a paused job,
a query losing partition pruning, extra audit events by a user...), so the evidence appears in
the ordinary columns of the raw tables — never in a column that only incidents set.
Kinds, rates and magnitudes are documented in ``docs/demodata.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from healthmon.demodata.arrowgen import DAY_US, US
from healthmon.demodata.world import DBR_VERSIONS, NODE_SPEED, UPGRADE_TARGET, World

# kind → (domain, expected incidents per workspace per 30 test days)
KINDS: dict[str, tuple[str, float]] = {
    "cost_spike": ("cost", 0.25),
    "runaway_job": ("cost", 0.25),
    "untagged_spend": ("cost", 0.2),
    "failing_job_streak_after_upgrade": ("reliability", 0.2),
    "sla_breach": ("reliability", 0.25),
    "credential_stuffing": ("security", 0.3),
    "data_exfiltration": ("security", 0.2),
    "privilege_escalation": ("security", 0.2),
    "query_performance_regression": ("performance", 0.25),
    "stale_table": ("quality", 0.3),
    "schema_change": ("quality", 0.3),
}


@dataclass
class Incident:
    incident_id: str
    kind: str
    domain: str
    ws: int
    start_us: int
    end_us: int
    magnitude: float
    description: str
    evidence: list[str]
    job: int = -1
    user: int = -1
    warehouse: int = -1
    cluster: int = -1
    table: int = -1
    sku: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def start_day(self) -> int:
        return self._day(self.start_us)

    def _day(self, us: int) -> int:
        return int(us // DAY_US)


@dataclass
class Effects:
    """Per-entity × per-day modifiers the generators apply (identity when no incident)."""

    job_fail_logit: np.ndarray       # (J, D) added to the failure log-odds
    job_volume_mult: np.ndarray      # (J, D) input volume multiplier
    job_paused: np.ndarray           # (J, D) no runs
    job_untagged_from: np.ndarray    # (J,) day index from which the job's tags are gone (D = never)
    job_dbr_upgrade_day: np.ndarray  # (J,) day the job's runtime was upgraded (D = never)
    ap_runaway: np.ndarray           # (C, D) all-purpose cluster left running, worker multiplier (0 = none)
    wh_regressed_tmpl: np.ndarray    # (Wh, D) template index that lost pruning (-1 = none)
    wh_regress_mult: np.ndarray      # (Wh, D) bytes multiplier for that template
    table_schema_change: dict        # (table, day) → (added, removed, type_changed)
    incidents: list[Incident]


def plan(world: World) -> Effects:
    rng = np.random.default_rng([world.seed, 3])
    W, D = len(world.ws_id), world.days
    J, C, Wh = len(world.job_id), len(world.cluster_id), len(world.wh_id)
    t0 = world.test_start_day
    test_days = D - t0
    eff = Effects(
        job_fail_logit=np.zeros((J, D)), job_volume_mult=np.ones((J, D)), job_paused=np.zeros((J, D), bool),
        job_untagged_from=np.full(J, D), job_dbr_upgrade_day=np.full(J, D), ap_runaway=np.zeros((C, D)),
        wh_regressed_tmpl=np.full((Wh, D), -1), wh_regress_mult=np.ones((Wh, D)), table_schema_change={},
        incidents=[],
    )
    busy_jobs: set[int] = set()
    busy_tables: set[int] = set()
    counter = 0

    def day_us(d: int) -> int:
        return int(world.day_start_us[0] + d * DAY_US)

    def pick_start(max_len: int) -> int:
        return int(rng.integers(t0, max(t0 + 1, D - max_len)))

    def free_job(ws: int, cond=None) -> int:
        cand = [j for j in np.nonzero(world.job_ws == ws)[0] if j not in busy_jobs and (cond is None or cond(j))]
        if not cand:
            return -1
        j = int(rng.choice(cand))
        busy_jobs.add(j)
        return j

    for kind, (domain, rate) in KINDS.items():
        n = rng.poisson(rate * W * test_days / 30.0)
        n = max(1, int(n))
        for _ in range(n):
            ws = int(rng.integers(W))
            counter += 1
            iid = f"INC-{counter:05d}"
            inc: Incident | None = None
            if kind == "cost_spike":
                aps = world.ap_cluster[world.cluster_ws[world.ap_cluster] == ws]
                c = int(rng.choice(aps))
                s, length = pick_start(3), int(rng.integers(1, 4))
                mult = float(rng.uniform(3, 6))
                eff.ap_runaway[c, s:s + length] = mult
                inc = Incident(iid, kind, domain, ws, day_us(s), day_us(min(D, s + length)), mult,
                               f"All-purpose cluster {world.cluster_name[c]} left running around the clock, "
                               f"autoscaled to {mult:.1f}x its usual workers.",
                               ["fact_usage", "fact_node_timeline", "fact_audit_logs"], cluster=c,
                               sku="PREMIUM_ALL_PURPOSE_COMPUTE")
            elif kind == "runaway_job":
                j = free_job(ws, lambda j: world.job_compute[j] != 1)
                if j < 0:
                    continue
                s, length = pick_start(4), int(rng.integers(2, 5))
                mult = float(rng.uniform(6, 15))
                eff.job_volume_mult[j, s:s + length] *= mult
                inc = Incident(iid, kind, domain, ws, day_us(s), day_us(min(D, s + length)), mult,
                               f"Job {world.job_name[j]} reprocessed {mult:.0f}x its usual input (a full backfill "
                               "triggered by a bad watermark).",
                               ["fact_usage", "fact_job_run_timeline", "fact_node_timeline"], job=j)
            elif kind == "untagged_spend":
                j = free_job(ws, lambda j: bool(world.job_tags[j]))
                if j < 0:
                    continue
                s = pick_start(5)
                mult = float(rng.uniform(3, 6))
                eff.job_untagged_from[j] = s
                eff.job_volume_mult[j, s:] *= mult
                inc = Incident(iid, kind, domain, ws, day_us(s), day_us(D), mult,
                               f"Job {world.job_name[j]} was redeployed without its tags and its volume grew "
                               f"{mult:.1f}x: its spend is now unattributed.",
                               ["fact_usage", "dim_job", "fact_audit_logs"], job=j)
            elif kind == "failing_job_streak_after_upgrade":
                j = free_job(ws, lambda j: world.job_compute[j] == 0)
                if j < 0:
                    continue
                s, length = pick_start(8), int(rng.integers(4, 9))
                # a broken library fails deterministically: retries rarely help
                boost = float(rng.uniform(5.0, 6.5))
                eff.job_dbr_upgrade_day[j] = s
                eff.job_fail_logit[j, s:s + length] += boost
                inc = Incident(iid, kind, domain, ws, day_us(s), day_us(min(D, s + length)), boost,
                               f"Job {world.job_name[j]}'s cluster was upgraded from "
                               f"{DBR_VERSIONS[world.job_dbr[j]]} to {UPGRADE_TARGET}; runs fail until a "
                               "library is pinned (failure log-odds +magnitude).",
                               ["fact_job_run_timeline", "fact_job_task_run_timeline", "dim_cluster", "fact_audit_logs"],
                               job=j, cluster=int(world.job_cluster[j]))
            elif kind == "sla_breach":
                j = free_job(ws, lambda j: world.job_timeout_s[j] > 0 and world.job_compute[j] != 1
                             and world.job_runs_per_day[j] == 1)
                if j < 0:
                    continue
                s, length = pick_start(4), int(rng.integers(2, 5))
                # enough extra input to run well past the timeout (set at ~4x the usual run)
                work = world.job_volume_gb[j] * 45.0 / (world.job_workers[j] ** 0.8 * NODE_SPEED[world.job_node[j]])
                mult = float(min(200.0, max(rng.uniform(5, 9), 2.2 * world.job_timeout_s[j] / max(work, 1.0))))
                eff.job_volume_mult[j, s:s + length] *= mult
                inc = Incident(iid, kind, domain, ws, day_us(s), day_us(min(D, s + length)), mult,
                               f"Upstream backlog: job {world.job_name[j]} received {mult:.1f}x its usual input and "
                               "ran past its timeout.",
                               ["fact_job_run_timeline", "fact_job_task_run_timeline", "fact_usage"], job=j)
            elif kind in ("credential_stuffing", "data_exfiltration", "privilege_escalation"):
                humans = np.nonzero((world.user_ws == ws) & ~world.user_is_sp)[0]
                if kind == "privilege_escalation":
                    humans = humans[world.user_role[humans] != 3] if np.any(world.user_role[humans] != 3) else humans
                u = int(rng.choice(humans))
                s = pick_start(2)
                if kind == "credential_stuffing":
                    hour = int(rng.integers(0, 6))
                    start = day_us(s) + hour * 3600 * US
                    length_h = int(rng.integers(1, 4))
                    attempts = int(rng.integers(150, 600))
                    inc = Incident(iid, kind, domain, ws, start, start + length_h * 3600 * US, float(attempts),
                                   f"{attempts} failed logins for {world.user_email[u]} from "
                                   f"{int(rng.integers(20, 60))} unfamiliar IPs within {length_h} h.",
                                   ["fact_audit_logs"], user=u)
                    inc.extra["n_ips"] = int(inc.description.split(" from ")[1].split()[0])
                elif kind == "data_exfiltration":
                    start = day_us(s) + int(rng.integers(17, 22)) * 3600 * US
                    length_h = int(rng.integers(3, 30))
                    mult = float(rng.uniform(20, 80))
                    whs = np.nonzero(world.wh_ws == ws)[0]
                    inc = Incident(iid, kind, domain, ws, start, start + length_h * 3600 * US, mult,
                                   f"{world.user_email[u]} downloaded/exported ~{mult:.0f}x their usual data volume, "
                                   "reading tables outside their usual set.",
                                   ["fact_audit_logs", "fact_query_history"], user=u, warehouse=int(rng.choice(whs)))
                else:
                    start = day_us(s) + int(rng.integers(0, 24)) * 3600 * US
                    length_h = int(rng.integers(1, 4))
                    grants = int(rng.integers(6, 25))
                    inc = Incident(iid, kind, domain, ws, start, start + length_h * 3600 * US, float(grants),
                                   f"{world.user_email[u]} (not an admin) made {grants} permission/grant changes, "
                                   "including adding themselves to the admins group.",
                                   ["fact_audit_logs"], user=u)
            elif kind == "query_performance_regression":
                whs = np.nonzero(world.wh_ws == ws)[0]
                w = int(rng.choice(whs))
                s, length = pick_start(7), int(rng.integers(3, 8))
                # The most frequent templates are the low indices (Zipf draw in the generator).
                tmpl = int(rng.integers(0, 3))
                mult = float(rng.uniform(8, 25))
                eff.wh_regressed_tmpl[w, s:s + length] = tmpl
                eff.wh_regress_mult[w, s:s + length] = mult
                inc = Incident(iid, kind, domain, ws, day_us(s), day_us(min(D, s + length)), mult,
                               f"A frequent query on warehouse {world.wh_name[w]} lost partition pruning after a "
                               f"view change: it scans {mult:.0f}x more bytes and spills.",
                               ["fact_query_history", "fact_usage"], warehouse=w)
            elif kind == "stale_table":
                cand = [t for t in np.nonzero(world.table_ws == ws)[0]
                        if t not in busy_tables and world.table_job[t] not in busy_jobs
                        and world.job_runs_per_day[world.table_job[t]] >= 1 and world.job_weekday[world.table_job[t]] < 0]
                if not cand:
                    continue
                t = int(rng.choice(cand))
                busy_tables.add(t)
                j = int(world.table_job[t])
                busy_jobs.add(j)
                s, length = pick_start(5), int(rng.integers(2, 6))
                eff.job_paused[j, s:s + length] = True
                inc = Incident(iid, kind, domain, ws, day_us(s), day_us(min(D, s + length)), float(length),
                               f"Writer job {world.job_name[j]} was paused by mistake; "
                               f"{_fq(world, t)} received no data for {length} days.",
                               ["fact_table_snapshots", "fact_data_quality_monitoring_table_results",
                                "fact_job_run_timeline"], job=j, table=t)
            elif kind == "schema_change":
                cand = [t for t in np.nonzero(world.table_ws == ws)[0] if t not in busy_tables]
                if not cand:
                    continue
                t = int(rng.choice(cand))
                busy_tables.add(t)
                s = pick_start(1)
                removed, changed = int(rng.integers(1, 4)), int(rng.integers(0, 3))
                added = int(rng.integers(0, 3))
                eff.table_schema_change[(t, s)] = (added, removed, changed)
                inc = Incident(iid, kind, domain, ws, day_us(s), day_us(s + 1), float(removed + changed),
                               f"Unannounced breaking schema change on {_fq(world, t)}: {removed} column(s) dropped, "
                               f"{changed} type change(s), {added} added.",
                               ["fact_table_snapshots", "fact_audit_logs"], table=t, job=int(world.table_job[t]))
            if inc is not None:
                eff.incidents.append(inc)
    return eff


def _fq(world: World, t: int) -> str:
    return f"{world.table_catalog[t]}.{world.table_schema[t]}.{world.table_name[t]}"


def fq_table(world: World, t: int) -> str:
    return _fq(world, t)
