"""What happens to the account beyond its everyday habits, in the form the generators apply.

Two plans fill one :class:`Effects`: the harmless oddities every real account is full of
(:mod:`healthmon.demodata.benign`, recorded in ``ground_truth_benign_events``) and the labelled
incidents (:mod:`healthmon.demodata.incidents`, recorded in ``ground_truth_incidents``). Both
only turn knobs the generators already model — per entity and day (input volume, failure
log-odds, paused jobs, lost tags, query bytes...) — or add ordinary events (audit events,
statements) by ordinary users, so their evidence lands in ordinary columns. The generators do
not know which plan turned a knob.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from healthmon.demodata.arrowgen import DAY_US
from healthmon.demodata.world import World

ATTACKER_AGENT = 4  # user agent python-requests: scripts, attackers' and ordinary ones alike
AUDIT_KEYS = ("user", "t", "action", "table", "ip_idx", "status", "agent", "ws", "new_ip", "generic")
QUERY_KEYS = ("wh", "user", "ws", "start", "bytes", "tmpl")


@dataclass
class Event:
    """One injected event: an incident (labelled) or a harmless oddity (benign)."""

    event_id: str
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
    magnitude_class: str = ""
    group_id: str = ""


@dataclass
class Effects:
    """Per-entity × per-day modifiers (identity when nothing happens) and injected events."""

    job_fail_logit: np.ndarray       # (J, D) added to the failure log-odds
    job_volume_mult: np.ndarray      # (J, D) input volume multiplier
    job_paused: np.ndarray           # (J, D) no runs
    job_untagged: np.ndarray  # (J, D) the job's usage carries no tags that day
    job_dbr_upgrade_day: (
        np.ndarray
    )  # (J,) day the job's cluster was upgraded in place to the newest runtime (D = never)
    ws_outage: np.ndarray  # (W, D) failure log-odds added to every run of the workspace (cloud outage)
    ap_hour_mult: np.ndarray  # (A, D*24) all-purpose cluster up that hour at this multiple of its workers (0 = usual)
    wh_regressed_tmpl: np.ndarray    # (Wh, D) template index that lost pruning (-1 = none)
    wh_regress_mult: np.ndarray      # (Wh, D) bytes multiplier for that template
    tmpl_bytes_mult: np.ndarray      # (Wh, T, D) bytes multiplier of a template (data growth), pruning kept
    ws_query_mult: np.ndarray        # (W, D) statement arrival multiplier
    user_start_day: np.ndarray       # (U,) first day the user exists (new hires)
    user_away_ip: np.ndarray         # (U, D) code of the IP a travelling user works from (-1 = usual IPs)
    ws_vpn_day: np.ndarray           # (W,) from this day the office egress IPs are new ones (D = never)
    user_tables_from: np.ndarray     # (U,) from this day the user works on user_tables_after (D = never)
    user_tables_after: np.ndarray    # (U, 6)
    table_schema_change: dict        # (table, day) -> (added, removed, type_changed)
    audit: list[dict] = field(default_factory=list)    # injected audit events, AUDIT_KEYS arrays
    queries: list[dict] = field(default_factory=list)  # injected statements, QUERY_KEYS arrays
    incidents: list[Event] = field(default_factory=list)
    benign: list[Event] = field(default_factory=list)

    @classmethod
    def empty(cls, world: World) -> Effects:
        W, D = len(world.ws_id), world.days
        J, U, Wh = len(world.job_id), len(world.user_email), len(world.wh_id)
        T = world.tmpl_bytes.shape[1]
        return cls(
            job_fail_logit=np.zeros((J, D)), job_volume_mult=np.ones((J, D)), job_paused=np.zeros((J, D), bool),
            job_untagged=np.zeros((J, D), bool), job_dbr_upgrade_day=np.full(J, D), ws_outage=np.zeros((W, D)),
            ap_hour_mult=np.zeros((len(world.ap_cluster), D * 24)),
            wh_regressed_tmpl=np.full((Wh, D), -1), wh_regress_mult=np.ones((Wh, D)),
            tmpl_bytes_mult=np.ones((Wh, T, D), np.float32), ws_query_mult=np.ones((W, D)),
            user_start_day=np.zeros(U, int), user_away_ip=np.full((U, D), -1, np.int64), ws_vpn_day=np.full(W, D),
            user_tables_from=np.full(U, D), user_tables_after=world.user_tables.copy(), table_schema_change={},
        )

    def add_audit(self, world: World, rng: np.random.Generator, user: int, times, actions, *, tables=0, status=200,
                  new_ip=None, agent: int | None = None, generic=0) -> None:
        """Audit events by ``user`` at ``times`` (µs), from the user's usual IPs unless ``new_ip``
        gives IP codes (see ``gen_audit``); ``generic`` selects request parameters (gen_audit)."""
        times = np.asarray(times, dtype=np.int64)
        m = len(times)
        if m == 0:
            return
        if agent is None:  # the user's usual client: SDK for service principals, a browser for people
            agent = 2 if world.user_is_sp[user] else int(rng.integers(0, 2))
        self.audit.append(dict(
            user=np.full(m, user), t=times, action=np.broadcast_to(actions, m).copy(),
            table=np.broadcast_to(tables, m).copy(), ip_idx=world.user_ips[user, rng.integers(0, 3, m)],
            status=np.broadcast_to(status, m).copy(), agent=np.full(m, agent), ws=np.full(m, world.user_ws[user]),
            new_ip=np.full(m, -1) if new_ip is None else np.broadcast_to(new_ip, m).copy(),
            generic=np.broadcast_to(generic, m).copy()))

    def add_queries(self, world: World, rng: np.random.Generator, user: int, wh: int, times, nbytes) -> None:
        """Ad-hoc statements by ``user`` on warehouse ``wh`` (random statement texts of it)."""
        times = np.asarray(times, dtype=np.int64)
        m = len(times)
        if m == 0:
            return
        self.queries.append(dict(wh=np.full(m, wh), user=np.full(m, user), ws=np.full(m, world.wh_ws[wh]), start=times,
                                 bytes=np.asarray(nbytes, float), tmpl=rng.integers(0, world.tmpl_bytes.shape[1], m)))

    def audit_between(self, lo_us: int, hi_us: int) -> dict | None:
        """Injected audit events with lo <= time < hi, in plan order (None when there are none)."""
        return _between(self.audit, AUDIT_KEYS, "t", lo_us, hi_us)

    def queries_between(self, lo_us: int, hi_us: int) -> dict | None:
        return _between(self.queries, QUERY_KEYS, "start", lo_us, hi_us)


def _between(parts: list[dict], keys: tuple[str, ...], time_key: str, lo: int, hi: int) -> dict | None:
    picked = [(p, (p[time_key] >= lo) & (p[time_key] < hi)) for p in parts]
    picked = [(p, m) for p, m in picked if m.any()]
    if not picked:
        return None
    return {k: np.concatenate([p[k][m] for p, m in picked]) for k in keys}


class Calendar:
    """Which entity is taken when: plans pick an entity that is free over an event's days, so two
    events never overlap on one entity (nor follow each other within ``margin`` days) and each
    label stays unambiguous."""

    def __init__(self, days: int, margin: int = 3):
        self.days = days
        self.margin = margin
        self._busy: dict[tuple, list[tuple[int, int]]] = {}

    def free(self, key: tuple, start: int, end: int) -> bool:
        return all(e <= start or s >= end for s, e in self._busy.get(key, ()))

    def take(self, key: tuple, start: int, end: int, margin: int | None = None) -> None:
        m = self.margin if margin is None else margin
        self._busy.setdefault(key, []).append((start - m, end + m))

    def pick(self, rng: np.random.Generator, candidates, keys, start: int, end: int,
             eligible: Callable[[int], bool] | None = None) -> int:
        """A random candidate whose calendar ``keys(c)`` are all free over [start, end), taken;
        -1 if none. The first key is the entity itself (kept free ``margin`` days around); the
        others (the entity an evaluation matches a domain on) only over the event itself.
        ``eligible(c)`` false skips a candidate after the shuffle, so the random draws stay those
        of the whole candidate list."""
        cands = list(candidates)
        rng.shuffle(cands)
        for c in cands:
            if eligible is not None and not eligible(c):
                continue
            ks = keys(c)
            if all(self.free(k, start, end) for k in ks):
                for i, k in enumerate(ks):
                    self.take(k, start, end, None if i == 0 else 0)
                return int(c)
        return -1


def day_us(world: World, d: float) -> int:
    return int(world.day_start_us[0] + d * DAY_US)


def local_hour_us(world: World, d: int, ws: int, local_hour: float) -> int:
    """UTC µs of a local hour of day ``d`` in the workspace's office time zone."""
    return int(world.day_start_us[0] + d * DAY_US + (local_hour - world.ws_tz[ws]) * 3600 * 1_000_000)
