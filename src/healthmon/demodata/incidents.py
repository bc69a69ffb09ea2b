"""Labelled incidents: which, where, when and how big, and the knobs they turn.

Incidents happen over the whole period after a warm-up (the features' 28-day baselines), in
training and validation as well as in the evaluation's test period (the last ``TEST_FRACTION``
of days); each kind occurs at least once before the test period and once inside it. Each has a
magnitude class — subtle, moderate or blatant — drawn first, then a kind-specific magnitude in
that class's range. An incident changes the *causes* the generators already model (input
volume, tags, runtime version, a paused or failing job, a query losing partition pruning,
ordinary audit events and statements by a user), so its evidence appears in ordinary columns,
next to the harmless oddities of :mod:`healthmon.demodata.benign` that move the same columns.
Kinds, rates and magnitudes are documented in ``docs/demodata.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthmon.demodata import benign
from healthmon.demodata.arrowgen import US
from healthmon.demodata.effects import ATTACKER_AGENT, Calendar, Effects, Event, day_us, local_hour_us
from healthmon.demodata.world import (
    ACTION_INDEX,
    ACTIONS,
    DBR_VERSIONS,
    EXPORT_ACTIONS,
    GRANT_ACTIONS,
    NODE_DBU,
    NODE_SPEED,
    READ_ACTIONS,
    UPGRADE_TARGET,
    WH_DBU,
    World,
    fq_table,
)

CLASSES = ("subtle", "moderate", "blatant")
CLASS_P = {"subtle": 0.4, "moderate": 0.35, "blatant": 0.25}


@dataclass(frozen=True)
class Kind:
    domain: str
    rate: float  # expected incidents per workspace per 30 days, anywhere after the warm-up
    magnitude: dict[str, tuple[float, float]]  # magnitude class -> range of the kind's magnitude
    unit: str    # what the magnitude measures (docs and the ground-truth description)


KINDS: dict[str, Kind] = {
    "cost_spike": Kind("cost", 0.15, {"subtle": (1.5, 3), "moderate": (3, 6), "blatant": (6, 20)},
                       "DBUs of the all-purpose cluster's day / its usual working day"),
    "runaway_job": Kind("cost", 0.2, {"subtle": (1.5, 3), "moderate": (3, 6), "blatant": (6, 15)},
                        "input volume multiplier"),
    "untagged_spend": Kind("cost", 0.12, {"subtle": (1.0, 1.5), "moderate": (1.5, 3), "blatant": (3, 6)},
                           "input volume multiplier while the tags are gone"),
    "workload_surge": Kind("cost", 0.15, {"subtle": (0.03, 0.06), "moderate": (0.06, 0.12), "blatant": (0.12, 0.3)},
                           "extra DBUs / the workspace's usual daily DBUs"),
    "failing_job_streak_after_upgrade": Kind("reliability", 0.12, {"subtle": (1.5, 2.5), "moderate": (2.5, 4),
                                                                   "blatant": (4.5, 6.5)},
                                             "failure log-odds added"),
    "sla_breach": Kind("reliability", 0.15, {"subtle": (1.1, 1.4), "moderate": (1.4, 2), "blatant": (2, 4)},
                       "planned run length / the job's timeout"),
    "credential_stuffing": Kind("security", 0.15, {"subtle": (20, 60), "moderate": (60, 150), "blatant": (150, 600)},
                                "failed logins"),
    "password_spray": Kind("security", 0.05, {"subtle": (3, 3), "moderate": (4, 5), "blatant": (6, 6)},
                           "failed logins per targeted user"),
    "data_exfiltration": Kind("security", 0.08, {"subtle": (3, 6), "moderate": (6, 20), "blatant": (20, 80)},
                              "exports / the user's usual daily exports"),
    "low_and_slow_exfiltration": Kind("security", 0.05, {"subtle": (1.5, 2.2), "moderate": (2.2, 3)},
                                      "daily exports / the user's usual, for weeks"),
    "read_only_exfiltration": Kind("security", 0.06, {"subtle": (8, 20), "moderate": (20, 40), "blatant": (40, 100)},
                                   "tables read outside the user's usual set"),
    "privilege_escalation": Kind("security", 0.08, {"subtle": (3, 5), "moderate": (6, 12), "blatant": (13, 25)},
                                 "grant changes"),
    "unusual_grant": Kind("security", 0.1, {"subtle": (1, 2)}, "grant changes"),
    "query_performance_regression": Kind("performance", 0.15, {"subtle": (1.5, 3), "moderate": (3, 8),
                                                               "blatant": (8, 25)},
                                         "bytes scanned by the template / usual"),
    "stale_table": Kind("quality", 0.15, {"subtle": (1, 2), "moderate": (3, 4), "blatant": (5, 8)}, "days paused"),
    "failing_writer": Kind("quality", 0.12, {"subtle": (1, 2), "moderate": (3, 4), "blatant": (5, 8)},
                           "days the writer fails"),
    "schema_change": Kind("quality", 0.15, {"subtle": (1, 1), "moderate": (2, 2), "blatant": (3, 6)},
                          "columns dropped or retyped"),
}
WARMUP_DAYS = 28  # no incident before the features' 28-day baselines exist (less on short periods)
MAX_ATTEMPTS = 10

_A = ACTION_INDEX
LOGIN = _A[("accounts", "login")]
EXPORT_WEIGHT = np.array(ACTIONS[EXPORT_ACTIONS[0]][3]) + np.array(ACTIONS[EXPORT_ACTIONS[1]][3])
ROLE_WEIGHT_SUM = np.array([a[3] for a in ACTIONS], float).sum(axis=0)


def plan(world: World) -> Effects:
    """Everything that happens beyond everyday habits: the harmless oddities first, then the
    incidents on entities that are free at the time (own random streams: 4 and 3)."""
    eff = Effects.empty(world)
    cal = Calendar(world.days)
    benign.plan_benign(world, eff, cal, np.random.default_rng([world.seed, 4]))
    _Planner(world, eff, cal, np.random.default_rng([world.seed, 3])).run()
    return eff


def warmup_days(world: World) -> int:
    return min(WARMUP_DAYS, world.test_start_day // 2)


def export_rate(world: World) -> np.ndarray:
    """Each user's usual exports per active day (from their role's action mix)."""
    role = np.where(world.user_is_sp, 4, world.user_role)
    return world.user_rate * EXPORT_WEIGHT[role] / ROLE_WEIGHT_SUM[role]


def typical_daily_dbu(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rough usual DBUs per day: of each job's input-proportional work, of each all-purpose
    cluster (by position in ``world.ap_cluster``), and of each workspace (jobs, warehouses,
    all-purpose clusters, pipelines, serving). Sizes incidents only."""
    compute, workers, node = world.job_compute, world.job_workers, world.job_node
    nodes = workers + 1
    rate = np.where(compute == 2, 1.1 * nodes, nodes * NODE_DBU[node] * np.where(world.job_photon, 2.0, 1.0))
    runs = np.where(world.job_weekday >= 0, 1 / 7, world.job_runs_per_day)
    work_s = world.job_volume_gb * 45.0 / (workers ** 0.8 * NODE_SPEED[node])
    overhead_s = np.choose(compute, [240.0, 15.0, 40.0]) + 50.0 * world.job_tasks
    job_work = runs * work_s / 3600 * rate
    ws = np.zeros(len(world.ws_id))
    np.add.at(ws, world.job_ws, runs * (work_s + overhead_s) / 3600 * rate)
    np.add.at(ws, world.wh_ws, WH_DBU[world.wh_size] * 12.0)
    ap = world.ap_cluster
    # ~11 working hours at 85 % uptime and 65 % of each hour, on 5 days of 7
    ap_dbu = (world.cluster_workers[ap] + 1) * NODE_DBU[world.cluster_node[ap]] * 4.3
    np.add.at(ws, world.cluster_ws[ap], ap_dbu)
    np.add.at(ws, world.dlt_ws, world.dlt_dbu * 12.0)
    np.add.at(ws, world.serving_ws, world.serving_dbu * 24.0)
    return job_work, ap_dbu, ws


class _Planner:
    def __init__(self, world: World, eff: Effects, cal: Calendar, rng: np.random.Generator):
        self.w, self.eff, self.cal, self.rng = world, eff, cal, rng
        self.D = world.days
        self.t0 = world.test_start_day
        self.warmup = warmup_days(world)
        self.job_work_dbu, self.ap_dbu, self.ws_dbu = typical_daily_dbu(world)
        self.export_rate = export_rate(world)
        self.counter = 0
        self.ip_code = 10_000

    # ---- calendar
    def run(self) -> None:
        W = len(self.w.ws_id)
        for kind, spec in KINDS.items():
            windows = ((self.warmup, self.t0), (self.t0, self.D))
            for lo, hi in windows:
                n = max(1, int(self.rng.poisson(spec.rate * W * (hi - lo) / 30.0)))
                for _ in range(n):
                    cls = self._class(spec)
                    mag = float(self.rng.uniform(*spec.magnitude[cls]))
                    # another start day when no eligible entity is free at the first one
                    for _attempt in range(MAX_ATTEMPTS):
                        before = len(self.eff.incidents)
                        getattr(self, f"_{kind}")(kind, spec, cls, mag, lo, hi)
                        if len(self.eff.incidents) > before:
                            break

    def _class(self, spec: Kind) -> str:
        names = list(spec.magnitude)
        p = np.array([CLASS_P[c] for c in names])
        return names[int(self.rng.choice(len(names), p=p / p.sum()))]

    def _start(self, lo: int, hi: int, length: int) -> int:
        """A start day in [lo, hi) such that the incident ends by the last day when possible."""
        return int(self.rng.integers(lo, max(lo + 1, min(hi, self.D - length + 1))))

    def _pick(self, cands, keys: Callable[[int], list[tuple]], s: int, e: int,
              eligible: Callable[[int], bool] | None = None) -> int:
        return self.cal.pick(self.rng, cands, keys, s, e, eligible)

    def _record(self, kind: str, cls: str, mag: float, ws: int, start_us: int, end_us: int, description: str,
                evidence: list[str], group: str = "", **entity) -> Event:
        self.counter += 1
        iid = f"INC-{self.counter:05d}"
        ev = Event(iid, kind, KINDS[kind].domain, ws, int(start_us), int(end_us), float(mag), description, evidence,
                   magnitude_class=cls, group_id=group or iid, **entity)
        self.eff.incidents.append(ev)
        return ev

    def _job_keys(self, domain_key: str) -> Callable[[int], list[tuple]]:
        w = self.w
        if domain_key == "cost":
            return lambda j: [("job", j), ("cost", int(w.job_ws[j]))]
        return lambda j: [("job", j)]

    def _humans(self, s: int, cond=None) -> np.ndarray:
        w = self.w
        ok = ~w.user_is_sp & (self.eff.user_start_day <= s - 14)
        if cond is not None:
            ok &= cond
        return np.nonzero(ok)[0]

    def _new_ips(self, n: int) -> np.ndarray:
        out = np.arange(self.ip_code, self.ip_code + n)
        self.ip_code += n
        return out

    def _hour_us(self, d: int, ws: int, local_hour: float) -> int:
        return local_hour_us(self.w, d, ws, local_hour)

    # ---- cost
    def _cost_spike(self, kind, spec, cls, mag, lo, hi):
        w, eff, rng = self.w, self.eff, self.rng
        length = 1 if cls == "subtle" else int(rng.integers(1, 4))
        s = self._start(lo, hi, length)
        if cls == "subtle":  # a workday: left on after hours, no change of size
            while (w.dow[s] >= 5 or w.holiday[s]) and s + 1 < self.D:
                s += 1
        aps = w.ap_cluster
        pos = self._pick(range(len(aps)), lambda p: [("ap", p), ("cost", int(w.cluster_ws[aps[p]]))], s, s + length)
        if pos < 0:
            return
        c = int(aps[pos])
        ws = int(w.cluster_ws[c])
        if cls == "subtle":
            # usual day ~ 6 full-size hours; M x that = the usual hours + extra hours after 19:00
            extra_h = int(np.clip(round(6 * (mag - 1)), 3, 12))
            first = (self._hour_us(s, ws, 19) - int(w.day_start_us[0])) // (3600 * US)
            eff.ap_hour_mult[pos, first:first + extra_h] = 1.0
            start, end = day_us(w, s), self._hour_us(s, ws, 19) + extra_h * 3600 * US
            what = f"left running {extra_h} h after working hours"
        else:
            workers = max(1.0, mag / 4.0)  # 24 h at k x workers ~ 4k usual working days
            eff.ap_hour_mult[pos, s * 24:(s + length) * 24] = workers
            start, end = day_us(w, s), day_us(w, min(self.D, s + length))
            what = f"left running around the clock at {workers:.1f}x its usual workers for {length} day(s)"
            eff.add_audit(w, rng, int(w.cluster_owner[c]), [start + 600 * US], _A[("clusters", "edit")], generic=2)
        self._record(kind, cls, mag, ws, start, end, f"All-purpose cluster {w.cluster_name[c]} {what} (~{mag:.1f}x its "
                     "usual daily DBUs).", ["fact_usage", "fact_node_timeline", "fact_audit_logs"], cluster=c,
                     sku="PREMIUM_ALL_PURPOSE_COMPUTE")

    def _runaway_job(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        length = int(rng.integers(3, 8)) if cls == "subtle" else int(rng.integers(2, 5))
        s = self._start(lo, hi, length)
        # a job that runs in the window: a weekly job off its weekday (or a paused one) would
        # leave an incident with no effect in any table
        e = min(self.D, s + length)
        runs = (w.job_weekday < 0) | np.isin(w.job_weekday, w.dow[s:e])
        runs &= ~self.eff.job_paused[:, s:e].all(axis=1)
        j = self._pick(np.nonzero(w.job_compute != 1)[0], self._job_keys("cost"), s, s + length,
                       eligible=lambda j: bool(runs[j]))
        if j < 0:
            return
        self.eff.job_volume_mult[j, s:s + length] *= mag
        self._record(kind, cls, mag, int(w.job_ws[j]), day_us(w, s), day_us(w, min(self.D, s + length)),
                     f"Job {w.job_name[j]} reprocessed {mag:.1f}x its usual input (a bad watermark).",
                     ["fact_usage", "fact_job_run_timeline", "fact_node_timeline"], job=j)

    def _untagged_spend(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        length = int(rng.integers(7, 22))
        s = self._start(lo, hi, 7)
        e = min(self.D, s + length)
        tagged = np.array([bool(t) for t in w.job_tags])
        # weeks long: it may overlap another cost incident of its workspace (the job is its own)
        j = self._pick(np.nonzero(tagged)[0], lambda j: [("job", j)], s, e)
        if j < 0:
            return
        self.eff.job_untagged[j, s:e] = True
        self.eff.job_volume_mult[j, s:e] *= mag
        owner = int(w.job_owner[j])
        self.eff.add_audit(w, rng, owner, [day_us(w, s) + 300 * US], _A[("jobs", "resetJob")])
        self._record(kind, cls, mag, int(w.job_ws[j]), day_us(w, s), day_us(w, e),
                     f"Job {w.job_name[j]} was redeployed without its tags and its volume grew {mag:.1f}x: its "
                     f"spend is unattributed for {e - s} days.", ["fact_usage", "dim_job", "fact_audit_logs"], job=j)

    def _workload_surge(self, kind, spec, cls, mag, lo, hi):
        """One workload adds ``mag`` of its workspace's usual daily DBUs for days: a job whose
        input grows at most 8x, else a shared all-purpose cluster scaled up over working hours
        (jobs are small next to warehouses and shared clusters in many workspaces)."""
        w, rng = self.w, self.rng
        length = int(rng.integers(3, 11))
        s = self._start(lo, hi, length)
        e = min(self.D, s + length)
        job_mult = 1.0 + mag * self.ws_dbu[w.job_ws] / np.maximum(self.job_work_dbu, 1e-9)
        j = self._pick(np.nonzero(job_mult <= 8.0)[0], self._job_keys("cost"), s, e)
        if j >= 0:
            self.eff.job_volume_mult[j, s:e] *= job_mult[j]
            self._record(kind, cls, mag, int(w.job_ws[j]), day_us(w, s), day_us(w, e),
                         f"Job {w.job_name[j]} took {job_mult[j]:.1f}x its usual input (an unplanned new consumer), "
                         f"adding ~{100 * mag:.0f} % of the workspace's daily DBUs.",
                         ["fact_usage", "fact_job_run_timeline"], job=j)
            return
        aps = w.ap_cluster
        ap_mult = 1.0 + mag * self.ws_dbu[w.cluster_ws[aps]] / np.maximum(self.ap_dbu, 1e-9)
        pos = self._pick(
            np.nonzero(ap_mult <= 8.0)[0], lambda p: [("ap", p), ("cost", int(w.cluster_ws[aps[p]]))], s, e
        )
        if pos < 0:
            return
        c = int(aps[pos])
        ws = int(w.cluster_ws[c])
        for d in range(s, e):
            if w.dow[d] < 5 and not w.holiday[d]:
                first = (local_hour_us(w, d, ws, 8) - int(w.day_start_us[0])) // (3600 * US)
                self.eff.ap_hour_mult[pos, first:first + 11] = ap_mult[pos]
        self.eff.add_audit(w, rng, int(w.cluster_owner[c]), [day_us(w, s) + 600 * US], _A[("clusters", "edit")],
                           generic=2)
        self._record(kind, cls, mag, ws, day_us(w, s), day_us(w, e),
                     f"Shared cluster {w.cluster_name[c]} was scaled to {ap_mult[pos]:.1f}x its workers over working "
                     f"hours for a new project, adding ~{100 * mag:.0f} % of the workspace's daily DBUs.",
                     ["fact_usage", "fact_node_timeline", "fact_audit_logs"], cluster=c,
                     sku="PREMIUM_ALL_PURPOSE_COMPUTE")

    # ---- reliability
    def _failing_job_streak_after_upgrade(self, kind, spec, cls, mag, lo, hi):
        w, rng, eff = self.w, self.rng, self.eff
        length = int(rng.integers(4, 9))
        s = self._start(lo, hi, length)
        # once per job: the upgrade replaces the job's current cluster definition in place
        cands = np.nonzero((w.job_compute == 0) & (eff.job_dbr_upgrade_day == self.D))[0]
        j = self._pick(cands, lambda j: [("job", j)], s, self.D)
        if j < 0:
            return
        eff.job_dbr_upgrade_day[j] = s
        eff.job_fail_logit[j, s:s + length] += mag
        eff.add_audit(w, rng, int(w.job_owner[j]), [day_us(w, s) - 1800 * US], _A[("clusters", "edit")], generic=2)
        self._record(kind, cls, mag, int(w.job_ws[j]), day_us(w, s), day_us(w, min(self.D, s + length)),
                     f"Job {w.job_name[j]}'s cluster was upgraded from {DBR_VERSIONS[w.job_dbr[j]]} to "
                     f"{UPGRADE_TARGET}; runs fail until a library is pinned (failure log-odds +{mag:.1f}).",
                     ["fact_job_run_timeline", "fact_job_task_run_timeline", "dim_cluster", "fact_audit_logs"],
                     job=j, cluster=int(w.job_cluster[j]))

    def _sla_breach(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        length = int(rng.integers(2, 5))
        s = self._start(lo, hi, length)
        cands = np.nonzero((w.job_timeout_s > 0) & (w.job_runs_per_day == 1) & (w.job_weekday < 0))[0]
        j = self._pick(cands, lambda j: [("job", j)], s, s + length)
        if j < 0:
            return
        # upstream backlog: enough input to run `mag` x its timeout
        work = w.job_volume_gb[j] * 45.0 / (w.job_workers[j] ** 0.8 * NODE_SPEED[w.job_node[j]])
        overhead = 240.0 + 50.0 * w.job_tasks[j]
        mult = float(np.clip((mag * w.job_timeout_s[j] - overhead) / max(work, 1.0), 1.2, 200.0))
        self.eff.job_volume_mult[j, s:s + length] *= mult
        self._record(kind, cls, mag, int(w.job_ws[j]), day_us(w, s), day_us(w, min(self.D, s + length)),
                     f"Upstream backlog: job {w.job_name[j]} received {mult:.1f}x its usual input and ran into its "
                     "timeout.", ["fact_job_run_timeline", "fact_job_task_run_timeline", "fact_usage"], job=j)

    # ---- security
    def _credential_stuffing(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        s = self._start(lo, hi, 1)
        u = self._pick(self._humans(s), lambda u: [("user", u)], s, s + 1)
        if u < 0:
            return
        attempts = int(round(mag))
        start = day_us(w, s) + int(rng.integers(0, 6)) * 3600 * US
        length_h = int(rng.integers(1, 4))
        ips = self._new_ips(int(rng.integers(5, 60)))
        times = start + np.sort(rng.random(attempts) * length_h * 3600 * US).astype(np.int64)
        status = np.where(rng.random(attempts) < 0.995, 401, 200)
        self.eff.add_audit(
            w, rng, u, times, LOGIN, status=status, new_ip=rng.choice(ips, attempts), agent=ATTACKER_AGENT
        )
        self._record(
            kind,
            cls,
            attempts,
            int(w.user_ws[u]),
            start,
            start + length_h * 3600 * US,
            f"{attempts} failed logins for {w.user_email[u]} from {len(ips)} unfamiliar IPs within {length_h} h.",
            ["fact_audit_logs"],
            user=u,
        )

    def _password_spray(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        s = self._start(lo, hi, 1)
        ws = int(rng.integers(len(w.ws_id)))
        humans = [u for u in self._humans(s, w.user_ws == ws) if self.cal.free(("user", u), s, s + 1)]
        if len(humans) < 3:
            return
        targets = rng.choice(humans, size=min(len(humans), int(rng.integers(6, 21))), replace=False)
        per_user = int(round(mag))
        ips = self._new_ips(int(rng.integers(1, 4)))
        start = day_us(w, s) + int(rng.integers(0, 24)) * 3600 * US
        length_h = int(rng.integers(1, 5))
        group = ""
        for u in sorted(int(x) for x in targets):
            self.cal.take(("user", u), s, s + 1)
            times = start + np.sort(rng.random(per_user) * length_h * 3600 * US).astype(np.int64)
            self.eff.add_audit(
                w, rng, u, times, LOGIN, status=401, new_ip=rng.choice(ips, per_user), agent=ATTACKER_AGENT
            )
            ev = self._record(
                kind,
                cls,
                per_user,
                ws,
                start,
                start + length_h * 3600 * US,
                f"Password spray over {len(targets)} users of the workspace from {len(ips)} IP(s): "
                f"{per_user} failed logins for {w.user_email[u]}.",
                ["fact_audit_logs"],
                group=group,
                user=u,
            )
            group = group or ev.event_id

    def _exfil_user(self, s: int, e: int, need_exports: bool) -> int:
        w = self.w
        cond = (w.user_role != 3) & ((self.export_rate > 0.05) if need_exports else True)
        return self._pick(self._humans(s, cond), lambda u: [("user", u)], s, e)

    def _foreign_tables(self, u: int, n: int) -> np.ndarray:
        w = self.w
        own = set(self.eff.user_tables_after[u]) | set(w.user_tables[u])
        foreign: list[Any] = [t for t in np.nonzero(w.table_ws == w.user_ws[u])[0] if t not in own]
        cands = np.array(foreign or [0])
        other = np.nonzero(w.table_ws != w.user_ws[u])[0]
        pool = np.concatenate([cands, other[: max(0, n - len(cands))]]) if len(cands) < n else cands
        return self.rng.choice(pool, size=n, replace=len(pool) < n)

    def _data_exfiltration(self, kind, spec, cls, mag, lo, hi):
        w, rng, eff = self.w, self.rng, self.eff
        s = self._start(lo, hi, 2)
        u = self._exfil_user(s, s + 2, True)
        if u < 0:
            return
        ws = int(w.user_ws[u])
        start = day_us(w, s) + int(rng.integers(17, 22)) * 3600 * US
        length_h = int(rng.integers(3, 30))
        span = length_h * 3600 * US
        m = max(3, int(round(self.export_rate[u] * mag)))
        times = start + np.sort(rng.random(m) * span).astype(np.int64)
        eff.add_audit(w, rng, u, times, rng.choice(EXPORT_ACTIONS, m, p=[0.7, 0.3]))
        k = max(2, m // 2)
        eff.add_audit(w, rng, u, start + np.sort(rng.random(k) * span).astype(np.int64), rng.choice(READ_ACTIONS, k),
                      tables=self._foreign_tables(u, k))
        wh = int(rng.choice(np.nonzero(w.wh_ws == ws)[0]))
        q = max(3, m // 2)
        eff.add_queries(w, rng, u, wh, start + np.sort(rng.random(q) * span).astype(np.int64),
                        rng.lognormal(np.log(2e9 * min(mag, 40) / 10), 0.5, q))
        self._record(
            kind,
            cls,
            mag,
            ws,
            start,
            start + span,
            f"{w.user_email[u]} exported {m} query results/notebooks (~{mag:.0f}x their usual) in {length_h} h, "
            "reading tables outside their usual set.",
            ["fact_audit_logs", "fact_query_history"],
            user=u,
            warehouse=wh,
        )

    def _low_and_slow_exfiltration(self, kind, spec, cls, mag, lo, hi):
        w, rng, eff = self.w, self.rng, self.eff
        length = int(rng.integers(14, 36))
        s = self._start(lo, hi, min(length, 14))
        e = min(self.D, s + length)
        u = self._exfil_user(s, e, True)
        if u < 0:
            return
        ws = int(w.user_ws[u])
        wh = int(rng.choice(np.nonzero(w.wh_ws == ws)[0]))
        extra = max(0.5, self.export_rate[u] * (mag - 1.0))
        for d in range(s, e):
            if w.dow[d] >= 5 or w.holiday[d]:
                continue
            m = int(rng.poisson(extra))
            if m:
                times = self._hour_us(d, ws, float(w.user_start_hour[u])) + np.sort(
                    rng.random(m) * 9 * 3600 * US
                ).astype(np.int64)
                eff.add_audit(w, rng, u, times, rng.choice(EXPORT_ACTIONS, m, p=[0.7, 0.3]))
                eff.add_audit(w, rng, u, times + 60 * US, READ_ACTIONS[0], tables=self._foreign_tables(u, m))
                eff.add_queries(w, rng, u, wh, times - 120 * US, rng.lognormal(np.log(5e8), 0.6, m))
        self._record(kind, cls, mag, ws, day_us(w, s), day_us(w, e),
                     f"{w.user_email[u]} exported ~{mag:.1f}x their usual volume every workday for {e - s} days.",
                     ["fact_audit_logs", "fact_query_history"], user=u, warehouse=wh)

    def _read_only_exfiltration(self, kind, spec, cls, mag, lo, hi):
        w, rng, eff = self.w, self.rng, self.eff
        length = int(rng.integers(1, 4))
        s = self._start(lo, hi, length)
        u = self._exfil_user(s, s + length, False)
        if u < 0:
            return
        ws = int(w.user_ws[u])
        wh = int(rng.choice(np.nonzero(w.wh_ws == ws)[0]))
        n_tables = int(round(mag))
        tables = self._foreign_tables(u, n_tables)
        day = s + rng.integers(0, length, n_tables)
        t_read = np.array([self._hour_us(int(d), ws, float(w.user_start_hour[u])) for d in day]) \
            + (rng.random(n_tables) * 9 * 3600 * US).astype(np.int64)
        reps = rng.integers(2, 5, n_tables)
        times = np.repeat(t_read, reps) + (rng.random(reps.sum()) * 600 * US).astype(np.int64)
        order = np.argsort(times, kind="stable")
        eff.add_audit(w, rng, u, times[order], rng.choice(READ_ACTIONS, len(times))[order],
                      tables=np.repeat(tables, reps)[order])
        eff.add_queries(w, rng, u, wh, np.sort(t_read + 30 * US), rng.lognormal(np.log(3e9), 0.8, n_tables))
        self._record(kind, cls, mag, ws, day_us(w, s), day_us(w, min(self.D, s + length)),
                     f"{w.user_email[u]} read {n_tables} tables outside their usual set through queries and table "
                     "credentials, without any download or export.", ["fact_audit_logs", "fact_query_history"], user=u,
                     warehouse=wh)

    def _privilege_escalation(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        s = self._start(lo, hi, 1)
        u = self._pick(self._humans(s, w.user_role != 3), lambda u: [("user", u)], s, s + 1)
        if u < 0:
            return
        m = int(round(mag))
        start = day_us(w, s) + int(rng.integers(0, 24)) * 3600 * US
        length_h = int(rng.integers(1, 4))
        times = start + np.sort(rng.random(m) * length_h * 3600 * US).astype(np.int64)
        # joins the admins group first, then grant changes (at least half on tables)
        acts = np.concatenate([[GRANT_ACTIONS[1]], np.full((m + 1) // 2, GRANT_ACTIONS[0]),
                               rng.choice(GRANT_ACTIONS, size=max(0, m - 1 - (m + 1) // 2))])[:m]
        generic = np.where(acts == GRANT_ACTIONS[1], 3, 4)
        self.eff.add_audit(w, rng, u, times, acts, tables=rng.integers(0, len(w.table_name), m),
                           status=np.where(rng.random(m) < 0.2, 403, 200), generic=generic)
        self._record(kind, cls, m, int(w.user_ws[u]), start, start + length_h * 3600 * US,
                     f"{w.user_email[u]} (not an admin) made {m} permission/grant changes, including adding themselves "
                     "to the admins group.", ["fact_audit_logs"], user=u)

    def _unusual_grant(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        s = self._start(lo, hi, 1)
        u = self._pick(self._humans(s, w.user_role != 3), lambda u: [("user", u)], s, s + 1)
        if u < 0:
            return
        m = int(round(mag))
        start = self._hour_us(s, int(w.user_ws[u]), float(w.user_start_hour[u]) + rng.uniform(0, 9))
        times = start + np.sort(rng.random(m) * 600 * US).astype(np.int64)
        self.eff.add_audit(w, rng, u, times, GRANT_ACTIONS[0], tables=self._foreign_tables(u, m), generic=4)
        self._record(kind, cls, m, int(w.user_ws[u]), start, start + 3600 * US,
                     f"{w.user_email[u]} granted ALL PRIVILEGES on {m} table(s) outside their usual set.",
                     ["fact_audit_logs"], user=u)

    # ---- performance
    def _query_performance_regression(self, kind, spec, cls, mag, lo, hi):
        w, rng, eff = self.w, self.rng, self.eff
        length = int(rng.integers(5, 15)) if cls == "subtle" else int(rng.integers(3, 8))
        s = self._start(lo, hi, length)
        wh = self._pick(range(len(w.wh_id)), lambda x: [("wh", x)], s, s + length)
        if wh < 0:
            return
        # the most frequent templates are the low indices (Zipf draw in gen_sql); one that prunes
        pruning = [t for t in range(3) if w.tmpl_prunes[wh, t]] or [0]
        tmpl = int(rng.choice(pruning))
        eff.wh_regressed_tmpl[wh, s:s + length] = tmpl
        eff.wh_regress_mult[wh, s:s + length] = mag
        self._record(kind, cls, mag, int(w.wh_ws[wh]), day_us(w, s), day_us(w, min(self.D, s + length)),
                     f"A frequent query on warehouse {w.wh_name[wh]} lost partition pruning after a view change: it "
                     f"scans {mag:.1f}x more bytes.", ["fact_query_history", "fact_usage"], warehouse=wh)

    # ---- quality
    def _writer_table(self, s: int, e: int) -> tuple[int, int]:
        """A table whose writer is a daily job (not weekly), both free over [s, e)."""
        w = self.w
        cands = np.nonzero(w.job_weekday[w.table_job] < 0)[0]
        t = self._pick(cands, lambda t: [("table", t), ("job", int(w.table_job[t])), ("quality", int(w.table_ws[t]))],
                       s, e)
        return t, (int(w.table_job[t]) if t >= 0 else -1)

    def _stale_table(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        days = int(round(mag))
        s = self._start(lo, hi, days)
        t, j = self._writer_table(s, s + days)
        if t < 0:
            return
        self.eff.job_paused[j, s:s + days] = True
        self.eff.add_audit(w, rng, int(w.job_owner[j]), [day_us(w, s) - int(rng.integers(1, 6)) * 3600 * US],
                           _A[("jobs", "resetJob")])
        self._record(kind, cls, days, int(w.job_ws[j]), day_us(w, s), day_us(w, min(self.D, s + days)),
                     f"Writer job {w.job_name[j]} was paused by mistake; {fq_table(w, t)} received no data for {days} "
                     "day(s).", ["fact_table_snapshots", "fact_data_quality_monitoring_table_results",
                                 "fact_job_run_timeline"], job=j, table=t)

    def _failing_writer(self, kind, spec, cls, mag, lo, hi):
        w = self.w
        days = int(round(mag))
        s = self._start(lo, hi, days)
        t, j = self._writer_table(s, s + days)
        if t < 0:
            return
        self.eff.job_fail_logit[j, s:s + days] += 8.0  # every attempt fails (an expired credential at the source)
        self._record(kind, cls, days, int(w.job_ws[j]), day_us(w, s), day_us(w, min(self.D, s + days)),
                     f"Writer job {w.job_name[j]} kept running but every run failed for {days} day(s); "
                     f"{fq_table(w, t)} received no data.", ["fact_table_snapshots", "fact_job_run_timeline",
                                                             "fact_data_quality_monitoring_table_results"],
                     job=j, table=t)

    def _schema_change(self, kind, spec, cls, mag, lo, hi):
        w, rng = self.w, self.rng
        s = self._start(lo, hi, 1)
        t = self._pick(range(len(w.table_name)), lambda t: [("table", t), ("quality", int(w.table_ws[t]))], s, s + 1)
        if t < 0:
            return
        broken = int(round(mag))
        changed = int(rng.integers(0, broken)) if broken > 1 else 0
        removed = broken - changed
        added = int(rng.integers(0, 3))
        key = (t, s)
        a0, r0, c0 = self.eff.table_schema_change.get(key, (0, 0, 0))
        self.eff.table_schema_change[key] = (a0 + added, r0 + removed, c0 + changed)
        owner = int(w.job_owner[w.table_job[t]])
        self.eff.add_audit(w, rng, owner, [day_us(w, s) + int(rng.integers(9, 17)) * 3600 * US],
                           _A[("unityCatalog", "updateTables")], tables=t)
        self._record(kind, cls, broken, int(w.table_ws[t]), day_us(w, s), day_us(w, s + 1),
                     f"Unannounced breaking schema change on {fq_table(w, t)}: {removed} column(s) dropped, {changed} "
                     f"type change(s), {added} added.", ["fact_table_snapshots", "fact_audit_logs"], table=t,
                     job=int(w.table_job[t]))
