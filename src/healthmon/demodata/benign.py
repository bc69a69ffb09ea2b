"""Harmless oddities: the things real accounts are full of that look like incidents.

Month-end peaks, planned backfills, data growth, tag churn, scheduled bulk exports by service
principals, grant bursts when a team is onboarded, travel and VPN changes, expired tokens and
forgotten passwords, access reviews, new hires, paused and retired jobs, templates whose data
grew... They happen in every period (training, validation and test) at the rates of
``BENIGN_KINDS``, move the same columns as the incidents, and are never labelled as incidents:
each is recorded in ``ground_truth_benign_events`` for analysis only (which oddity a detector
flagged). Routine behaviour that is merely uneven (never-pruning statements, tables in active
development, daily scheduled exports) lives in the world and the generators, not here.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from healthmon.demodata.arrowgen import US
from healthmon.demodata.effects import ATTACKER_AGENT, Calendar, Effects, Event, day_us, local_hour_us
from healthmon.demodata.world import ACTION_INDEX, EXPORT_ACTIONS, GRANT_ACTIONS, READ_ACTIONS, TEAMS, World, fq_table

# kind -> (domain where it shows most, expected events per workspace per 30 days)
BENIGN_KINDS: dict[str, tuple[str, float]] = {
    "planned_backfill": ("cost", 0.3),
    "data_growth_step": ("cost", 0.15),
    "heavy_interactive_session": ("cost", 0.3),
    "tag_churn": ("cost", 0.45),
    "cloud_outage": ("reliability", 0.08),
    "team_onboarding_grants": ("security", 0.35),
    "travel": ("security", 0.5),
    "vpn_change": ("security", 0.03),
    "expired_token_retries": ("security", 0.6),
    "forgotten_password": ("security", 0.5),
    "access_review": ("security", 0.1),
    "new_hire": ("security", 0.15),
    "project_change": ("security", 0.25),
    "template_data_growth": ("performance", 0.2),
    "adhoc_heavy_analysis": ("performance", 0.3),
    "planned_pause": ("quality", 0.75),
    "job_retired": ("quality", 0.03),
}
# Calendar rules (not rates): month-end closing and the month-end bulk exports of reporting SPs.
CALENDAR_KINDS = {"month_end_peak": "cost", "scheduled_bulk_export": "security"}
MONTH_END_TEAMS = ("finance", "sales")
SP_EXPORT_SHARE = 0.5  # service principals with a scheduled export (daily, plus a month-end bulk)

_A = ACTION_INDEX
LOGIN, TOKEN_LOGIN = _A[("accounts", "login")], _A[("accounts", "tokenLogin")]
TEAM_GROUP = 5  # gen_audit request parameters: {"groupName": <a team group>}


def plan_benign(world: World, eff: Effects, cal: Calendar, rng: np.random.Generator) -> None:
    _Benign(world, eff, cal, rng).run()


class _Benign:
    def __init__(self, world: World, eff: Effects, cal: Calendar, rng: np.random.Generator):
        self.w, self.eff, self.cal, self.rng = world, eff, cal, rng
        self.D = world.days
        self.counter = 0
        self.ip_code = 1_000_000  # IP codes of travel and VPN egress (incidents use their own range)
        self.tagged = np.array([j for j in range(len(world.job_id)) if world.job_tags[j]], int)
        dates = [world.start + dt.timedelta(days=d) for d in range(self.D)]
        # the last two days of each month; quarter ends are bigger
        self.month_end = np.array([(d + dt.timedelta(days=2)).month != d.month for d in dates])
        self.quarter_end = self.month_end & np.array([d.month in (3, 6, 9, 12) for d in dates])
        self.last_of_month = np.array([(d + dt.timedelta(days=1)).month != d.month for d in dates])

    def run(self) -> None:
        self._month_end_peaks()
        self._scheduled_exports()
        W = len(self.w.ws_id)
        for kind, (_domain, rate) in BENIGN_KINDS.items():
            for _ in range(int(self.rng.poisson(rate * W * self.D / 30.0))):
                getattr(self, f"_{kind}")(kind)

    # ---- helpers
    def _record(self, kind: str, ws: int, start_us: int, end_us: int, magnitude: float, description: str,
                evidence: list[str], **entity) -> None:
        self.counter += 1
        domain = BENIGN_KINDS[kind][0] if kind in BENIGN_KINDS else CALENDAR_KINDS[kind]
        self.eff.benign.append(Event(f"BEN-{self.counter:05d}", kind, domain, int(ws), int(start_us), int(end_us),
                                     float(magnitude), description, evidence, **entity))

    def _pick(self, cands, key, s: int, e: int) -> int:
        return self.cal.pick(self.rng, cands, lambda c: [key(c)], s, e)

    def _day(self, length: int = 1) -> int:
        return int(self.rng.integers(0, max(1, self.D - length + 1)))

    def _workday(self) -> int:
        d = self._day()
        while (self.w.dow[d] >= 5 or self.w.holiday[d]) and d + 1 < self.D:
            d += 1
        return d

    def _humans(self, cond=None) -> np.ndarray:
        ok = ~self.w.user_is_sp
        return np.nonzero(ok if cond is None else ok & cond)[0]

    def _work_time(self, d: int, u: int) -> int:
        w = self.w
        return local_hour_us(w, d, int(w.user_ws[u]), float(w.user_start_hour[u]) + self.rng.uniform(0.5, 8.5))

    def _ips(self, n: int) -> np.ndarray:
        out = np.arange(self.ip_code, self.ip_code + n)
        self.ip_code += n
        return out

    # ---- calendar rules
    def _month_end_peaks(self) -> None:
        """Month-end closing: finance and sales jobs (and a few others) process 1.5–3x their
        input on the last two days of the month (more at quarter end); dashboards refresh more."""
        w, rng, eff = self.w, self.rng, self.eff
        team_of = np.array(TEAMS)[w.job_team]
        days = np.nonzero(self.month_end)[0]
        blocks = np.split(days, np.nonzero(np.diff(days) > 1)[0] + 1) if len(days) else []
        for ws in range(len(w.ws_id)):
            if rng.random() >= 0.7:
                continue
            mine = np.nonzero(w.job_ws == ws)[0]
            p = np.where(np.isin(team_of[mine], MONTH_END_TEAMS), 0.7, 0.12)
            jobs = mine[rng.random(len(mine)) < p]
            if not len(jobs):
                continue
            job_mult = rng.uniform(1.5, 3.0, len(jobs))
            query_mult = rng.uniform(1.3, 1.8)
            for block in blocks:
                boost = 1.6 if self.quarter_end[block].any() else 1.0
                eff.job_volume_mult[np.ix_(jobs, block)] *= (1 + (job_mult - 1) * boost)[:, None]
                eff.ws_query_mult[ws, block] *= 1 + (query_mult - 1) * boost
                self._record("month_end_peak", ws, day_us(w, int(block[0])), day_us(w, int(block[-1]) + 1),
                             float(np.mean(1 + (job_mult - 1) * boost)),
                             f"Month-end closing: {len(jobs)} job(s) processed {np.mean(job_mult):.1f}x (x{boost} at "
                             "quarter end) their usual input; dashboards refreshed more often.",
                             ["fact_usage", "fact_job_run_timeline", "fact_query_history"])

    def _scheduled_exports(self) -> None:
        """Reporting service principals export query results every day at a fixed hour, and a
        bulk of 30–200 on the last day of each month (the month's reports)."""
        w, rng, eff = self.w, self.rng, self.eff
        for u in np.nonzero(w.user_is_sp)[0]:
            if rng.random() >= SP_EXPORT_SHARE:
                continue
            ws = int(w.user_ws[u])
            daily = rng.uniform(1.0, 6.0)
            hour = int(rng.integers(0, 24))
            counts = rng.poisson(daily, self.D)
            day = np.repeat(np.arange(self.D), counts)
            times = w.day_start_us[day] + hour * 3600 * US + (rng.random(len(day)) * 900 * US).astype(np.int64)
            eff.add_audit(w, rng, int(u), times, rng.choice(EXPORT_ACTIONS, len(day), p=[0.9, 0.1]))
            whs = np.nonzero(w.wh_ws == ws)[0]
            for d in np.nonzero(self.last_of_month)[0]:
                m = int(rng.integers(30, 201))
                start = int(w.day_start_us[d] + min(hour, 21) * 3600 * US)  # done by midnight
                t = start + np.sort(rng.random(m) * rng.uniform(1, 2) * 3600 * US).astype(np.int64)
                eff.add_audit(w, rng, int(u), t, rng.choice(EXPORT_ACTIONS, m, p=[0.9, 0.1]))
                q = max(1, m // 3)
                wh = int(rng.choice(whs))
                eff.add_queries(w, rng, int(u), wh, t[:q] - 60 * US, rng.lognormal(np.log(4e8), 0.7, q))
                self._record(
                    "scheduled_bulk_export",
                    ws,
                    start,
                    int(t[-1]) + US,
                    m,
                    f"{w.user_email[u]} exported {m} month-end reports (scheduled; usually ~{daily:.0f} a day).",
                    ["fact_audit_logs", "fact_query_history"],
                    user=int(u),
                    warehouse=wh,
                )

    # ---- cost
    def _planned_backfill(self, kind: str) -> None:
        w, rng = self.w, self.rng
        length = int(rng.integers(1, 4))
        s = self._day(length)
        j = self._pick(range(len(w.job_id)), lambda j: ("job", j), s, s + length)
        if j < 0:
            return
        mult = rng.uniform(4, 20)
        self.eff.job_volume_mult[j, s:s + length] *= mult
        self.eff.add_audit(w, rng, int(w.job_owner[j]), [day_us(w, s) - 1800 * US], _A[("jobs", "runNow")])
        self._record(
            kind,
            int(w.job_ws[j]),
            day_us(w, s),
            day_us(w, min(self.D, s + length)),
            mult,
            f"Planned backfill: job {w.job_name[j]} reprocessed {mult:.0f}x its usual input for {length} day(s).",
            ["fact_usage", "fact_job_run_timeline"],
            job=j,
        )

    def _data_growth_step(self, kind: str) -> None:
        w, rng = self.w, self.rng
        s = self._day(7)
        j = self._pick(range(len(w.job_id)), lambda j: ("job", j), s, s + 7)
        if j < 0:
            return
        mult = rng.uniform(1.3, 2.5)
        self.eff.job_volume_mult[j, s:] *= mult
        self._record(kind, int(w.job_ws[j]), day_us(w, s), day_us(w, min(self.D, s + 7)), mult,
                     f"A new data source: job {w.job_name[j]}'s input grew {mult:.1f}x for good.",
                     ["fact_usage", "fact_job_run_timeline", "fact_table_snapshots"], job=j)

    def _heavy_interactive_session(self, kind: str) -> None:
        w, rng = self.w, self.rng
        d = self._workday()
        pos = self._pick(range(len(w.ap_cluster)), lambda p: ("ap", p), d, d + 1)
        if pos < 0:
            return
        c = int(w.ap_cluster[pos])
        ws = int(w.cluster_ws[c])
        hours = int(rng.integers(5, 15))
        mult = rng.uniform(1.5, 3.0)
        start = local_hour_us(w, d, ws, float(rng.integers(16, 21)))
        first = (start - int(w.day_start_us[0])) // (3600 * US)
        sl = self.eff.ap_hour_mult[pos, first:first + hours]
        sl[:] = np.maximum(sl, mult)
        self._record(
            kind,
            ws,
            start,
            start + hours * 3600 * US,
            mult,
            f"A model training session kept {w.cluster_name[c]} up {hours} h into the night at {mult:.1f}x its "
            "workers.",
            ["fact_usage", "fact_node_timeline"],
            cluster=c,
            sku="PREMIUM_ALL_PURPOSE_COMPUTE",
        )

    def _tag_churn(self, kind: str) -> None:
        w, rng = self.w, self.rng
        length = int(rng.integers(2, 22))
        s = self._day(2)
        e = min(self.D, s + length)
        j = self._pick(self.tagged, lambda j: ("job", j), s, e)
        if j < 0:
            return
        self.eff.job_untagged[j, s:e] = True
        owner = int(w.job_owner[j])
        self.eff.add_audit(w, rng, owner, [day_us(w, s) + 600 * US], _A[("jobs", "resetJob")])
        if e < self.D:
            self.eff.add_audit(w, rng, owner, [day_us(w, e) - 3600 * US], _A[("jobs", "resetJob")])
        self._record(
            kind,
            int(w.job_ws[j]),
            day_us(w, s),
            day_us(w, e),
            e - s,
            f"Job {w.job_name[j]} was redeployed from a branch without its tags; restored after {e - s} day(s).",
            ["fact_usage", "fact_audit_logs"],
            job=j,
        )

    # ---- reliability
    def _cloud_outage(self, kind: str) -> None:
        w, rng = self.w, self.rng
        ws, d = int(rng.integers(len(w.ws_id))), self._day()
        boost = rng.uniform(1.5, 3.0)
        self.eff.ws_outage[ws, d] += boost
        self._record(kind, ws, day_us(w, d), day_us(w, d + 1), boost,
                     f"Cloud provider incident in {w.ws_name[ws]}'s region: runs failed more (log-odds +{boost:.1f}, "
                     "CLOUD_FAILURE).", ["fact_job_run_timeline", "fact_job_task_run_timeline"])

    # ---- security
    def _team_onboarding_grants(self, kind: str) -> None:
        w, rng = self.w, self.rng
        ws, d = int(rng.integers(len(w.ws_id))), self._workday()
        mine = w.user_ws == ws
        lead = rng.random() < 0.25
        role = 1 if lead else 3
        cands = self._humans(mine & (w.user_role == role))
        if not len(cands):
            cands = self._humans(mine)
        u = self._pick(cands, lambda u: ("user", u), d, d + 1)
        if u < 0:
            return
        m = int(rng.integers(2, 7)) if lead else int(rng.integers(8, 41))
        start = self._work_time(d, u)
        t = start + np.sort(rng.random(m) * rng.uniform(0.5, 3) * 3600 * US).astype(np.int64)
        acts = rng.choice(GRANT_ACTIONS, m, p=[0.7, 0.2, 0.1])
        generic = np.select([acts == GRANT_ACTIONS[1], acts == GRANT_ACTIONS[2]], [TEAM_GROUP, 2], 0)
        tables = rng.choice(np.nonzero(w.table_ws == ws)[0], m)
        self.eff.add_audit(w, rng, u, t, acts, tables=tables, generic=generic)
        who = "team lead" if lead else "workspace admin"
        self._record(kind, ws, start, int(t[-1]) + US, m,
                     f"{w.user_email[u]} ({who}) onboarded a team: {m} grants and group memberships.",
                     ["fact_audit_logs"], user=u)

    def _travel(self, kind: str) -> None:
        w, rng = self.w, self.rng
        length = int(rng.integers(2, 11))
        s = self._day(length)
        u = self._pick(self._humans(), lambda u: ("user", u), s, s + length)
        if u < 0:
            return
        ips = self._ips(int(rng.integers(1, 3)))
        self.eff.user_away_ip[u, s:s + length] = rng.choice(ips, min(length, self.D - s))
        self._record(kind, int(w.user_ws[u]), day_us(w, s), day_us(w, min(self.D, s + length)), len(ips),
                     f"{w.user_email[u]} travelled and worked from {len(ips)} hotel/airport IP(s) for {length} days.",
                     ["fact_audit_logs"], user=u)

    def _vpn_change(self, kind: str) -> None:
        w, rng = self.w, self.rng
        ws, d = int(rng.integers(len(w.ws_id))), self._day(7)
        if self.eff.ws_vpn_day[ws] < self.D:
            return
        self.eff.ws_vpn_day[ws] = d
        self._record(kind, ws, day_us(w, d), day_us(w, min(self.D, d + 7)), 3,
                     f"{w.ws_name[ws]}'s office moved to a new VPN provider: every office IP changed for good.",
                     ["fact_audit_logs"])

    def _expired_token_retries(self, kind: str) -> None:
        w, rng = self.w, self.rng
        d = self._day()
        sp = rng.random() < 0.5
        cands = np.nonzero(w.user_is_sp)[0] if sp else self._humans(np.isin(w.user_role, (1, 2)))
        u = self._pick(cands, lambda u: ("user", u), d, d + 1)
        if u < 0:
            return
        m = int(rng.integers(5, 41))
        start = int(w.day_start_us[d] + rng.uniform(0, 24) * 3600 * US)
        t = start + np.sort(rng.random(m) * rng.uniform(0.5, 2) * 3600 * US).astype(np.int64)
        self.eff.add_audit(w, rng, u, t, TOKEN_LOGIN, status=401, agent=2 if sp else ATTACKER_AGENT)
        self._record(
            kind,
            int(w.user_ws[u]),
            start,
            int(t[-1]) + US,
            m,
            f"A script of {w.user_email[u]} retried {m} times with an expired token.",
            ["fact_audit_logs"],
            user=u,
        )

    def _forgotten_password(self, kind: str) -> None:
        w, rng = self.w, self.rng
        d = self._workday()
        u = self._pick(self._humans(), lambda u: ("user", u), d, d + 1)
        if u < 0:
            return
        m = int(rng.integers(3, 7))
        start = self._work_time(d, u)
        t = start + np.sort(rng.random(m + 1) * rng.uniform(5, 20) * 60 * US).astype(np.int64)
        self.eff.add_audit(w, rng, u, t, LOGIN, status=np.r_[np.full(m, 401), 200])
        self._record(kind, int(w.user_ws[u]), start, int(t[-1]) + US, m,
                     f"{w.user_email[u]} mistyped a password {m} times before logging in (after a reset).",
                     ["fact_audit_logs"], user=u)

    def _access_review(self, kind: str) -> None:
        w, rng = self.w, self.rng
        ws, d = int(rng.integers(len(w.ws_id))), self._workday()
        mine = w.user_ws == ws
        cands = self._humans(mine & (w.user_role == 3))
        if not len(cands):
            cands = self._humans(mine & (w.user_role == 0))
        u = self._pick(cands, lambda u: ("user", u), d, d + 1)
        if u < 0:
            return
        tables = np.nonzero(w.table_ws == ws)[0]
        n = min(len(tables), int(rng.integers(20, 81)))
        chosen = rng.choice(tables, n, replace=False)
        reps = rng.integers(1, 3, n)
        start = self._work_time(d, u)
        t = start + np.sort(rng.random(reps.sum()) * 6 * 3600 * US).astype(np.int64)
        self.eff.add_audit(w, rng, u, t, READ_ACTIONS[0], tables=rng.permutation(np.repeat(chosen, reps)))
        self._record(kind, ws, start, int(t[-1]) + US, n,
                     f"{w.user_email[u]} reviewed access to {n} tables of the workspace (quarterly access review).",
                     ["fact_audit_logs"], user=u)

    def _new_hire(self, kind: str) -> None:
        w, rng = self.w, self.rng
        s = int(rng.integers(min(7, self.D - 1), max(8, self.D - 7)))
        # people who own nothing yet (owners act on their jobs and clusters from the first day)
        owners = np.zeros(len(w.user_email), bool)
        owners[np.concatenate([w.job_owner, w.job_run_as, w.cluster_owner, w.wh_owner])] = True
        cands = self._humans((w.user_role != 3) & (self.eff.user_start_day == 0) & ~owners)
        u = self._pick(cands, lambda u: ("user", u), 0, min(self.D, s + 14))
        if u < 0:
            return
        self.eff.user_start_day[u] = s
        self._record(kind, int(w.user_ws[u]), day_us(w, s), day_us(w, min(self.D, s + 14)), 0,
                     f"{w.user_email[u]} joined the company: no history before this day.", ["fact_audit_logs"], user=u)

    def _project_change(self, kind: str) -> None:
        w, rng = self.w, self.rng
        s = self._day(14)
        cands = self._humans(self.eff.user_tables_from == self.D)
        u = self._pick(cands, lambda u: ("user", u), s, s + 14)
        if u < 0:
            return
        tables = np.nonzero(w.table_ws == w.user_ws[u])[0]
        self.eff.user_tables_from[u] = s
        self.eff.user_tables_after[u] = rng.choice(
            tables, w.user_tables.shape[1], replace=len(tables) < w.user_tables.shape[1]
        )
        self._record(kind, int(w.user_ws[u]), day_us(w, s), day_us(w, min(self.D, s + 14)), 0,
                     f"{w.user_email[u]} moved to another project and works on other tables from now on.",
                     ["fact_audit_logs"], user=u)

    # ---- performance
    def _template_data_growth(self, kind: str) -> None:
        w, rng = self.w, self.rng
        s = self._day(7)
        wh = self._pick(range(len(w.wh_id)), lambda x: ("wh", x), s, s + 7)
        if wh < 0:
            return
        tmpl = int(rng.integers(0, 6))
        mult = rng.uniform(1.5, 3.0)
        self.eff.tmpl_bytes_mult[wh, tmpl, s:] *= mult
        self._record(
            kind,
            int(w.wh_ws[wh]),
            day_us(w, s),
            day_us(w, min(self.D, s + 7)),
            mult,
            f"Two more years of history were loaded into a table a frequent query on {w.wh_name[wh]} reads: "
            f"it scans {mult:.1f}x the bytes from now on (pruning intact).",
            ["fact_query_history"],
            warehouse=wh,
        )

    def _adhoc_heavy_analysis(self, kind: str) -> None:
        w, rng = self.w, self.rng
        d = self._workday()
        u = self._pick(self._humans(np.isin(w.user_role, (0, 2))), lambda u: ("user", u), d, d + 1)
        if u < 0:
            return
        wh = int(rng.choice(np.nonzero(w.wh_ws == w.user_ws[u])[0]))
        m = int(rng.integers(10, 41))
        start = self._work_time(d, u)
        t = start + np.sort(rng.random(m) * 3 * 3600 * US).astype(np.int64)
        self.eff.add_queries(w, rng, u, wh, t, rng.lognormal(np.log(8e9), 0.8, m))
        self._record(kind, int(w.user_ws[u]), start, int(t[-1]) + US, m,
                     f"{w.user_email[u]} ran {m} heavy ad-hoc queries on {w.wh_name[wh]} (a quarterly analysis).",
                     ["fact_query_history"], user=u, warehouse=wh)

    # ---- quality
    def _writer(self, s: int, e: int) -> int:
        w = self.w
        cands = np.nonzero(w.job_weekday[w.table_job] < 0)[0]
        t = self._pick(cands, lambda t: ("job", int(w.table_job[t])), s, e)
        return t

    def _planned_pause(self, kind: str) -> None:
        w, rng = self.w, self.rng
        length = int(rng.integers(2, 11))
        s = self._day(length)
        t = self._writer(s, s + length)
        if t < 0:
            return
        j = int(w.table_job[t])
        self.eff.job_paused[j, s:s + length] = True
        self.eff.add_audit(w, rng, int(w.job_owner[j]), [day_us(w, s) - int(rng.integers(1, 8)) * 3600 * US],
                           _A[("jobs", "resetJob")])
        self._record(kind, int(w.job_ws[j]), day_us(w, s), day_us(w, min(self.D, s + length)), length,
                     f"Job {w.job_name[j]} was paused for planned maintenance of its source; {fq_table(w, t)} was not "
                     f"written for {length} days.", ["fact_job_run_timeline", "fact_table_snapshots"], job=j, table=t)

    def _job_retired(self, kind: str) -> None:
        w, rng = self.w, self.rng
        s = self._day(7)
        t = self._writer(s, self.D)
        if t < 0:
            return
        j = int(w.table_job[t])
        self.eff.job_paused[j, s:] = True
        self.eff.add_audit(w, rng, int(w.job_owner[j]), [day_us(w, s) - 3600 * US], _A[("jobs", "resetJob")])
        self._record(kind, int(w.job_ws[j]), day_us(w, s), day_us(w, min(self.D, s + 7)), 0,
                     f"Job {w.job_name[j]} was retired (replaced by a new pipeline); {fq_table(w, t)} is no longer "
                     "written.", ["fact_job_run_timeline", "fact_table_snapshots"], job=j, table=t)
