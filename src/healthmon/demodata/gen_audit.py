"""Audit events: people and service principals with stable habits, plus injected events.

A human works from a local start hour for ~9.5 hours on weekdays (rarely at weekends or
holidays), from one of a few usual IPs (the office egress, new ones after a VPN change, hotel
IPs while travelling), on a usual set of tables (another after a project change), with an action
mix set by their role. Service principals act around the clock from one IP. Logins fail now and
then (typos, expired tokens). The effects plan adds events by specific users — incidents (failed
logins from new IPs, exports, grants) and harmless look-alikes (scheduled exports, onboarding
grants, expired-token retries) — and the change events that explain other effects (cluster
edits, job resets, table alters); here they are only audit events.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.arrowgen import DAY_US, US
from healthmon.demodata.effects import Effects
from healthmon.demodata.schemas import FACT_AUDIT_LOGS
from healthmon.demodata.world import ACTION_INDEX, ACTIONS, World, fq_table

A_SERVICE = [a[0] for a in ACTIONS]
A_NAME = [a[1] for a in ACTIONS]
A_TABLE = np.array([a[2] for a in ACTIONS])
A_WEIGHTS = np.array([a[3] for a in ACTIONS], dtype=float).T
A_WEIGHTS = A_WEIGHTS / A_WEIGHTS.sum(axis=1, keepdims=True)
A_CUM = np.cumsum(A_WEIGHTS, axis=1)
_A_CUM_FLAT = (A_CUM + 2.0 * np.arange(A_CUM.shape[0])[:, None]).ravel()
USER_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/124.0",
    "Mozilla/5.0 (Windows NT 10.0) Edge/124.0",
    "databricks-sdk-py/0.40.0",
    "Databricks-Runtime/15.4",
    "python-requests/2.31.0",
    "Tableau/2024.1",
]
SENSITIVE = re.compile(r"grant|revoke|delete|secret|permission|token|password|credential", re.I)
STATUS_ERRORS = {401: "Invalid credentials", 403: "PERMISSION_DENIED: User does not have privilege",
                 404: "RESOURCE_DOES_NOT_EXIST", 500: "Internal error"}


def _request_params(world: World, idx: np.ndarray) -> pa.Array:
    """request_params: table actions carry ``tableName`` (the key the security features read)
    and ``full_name_arg`` (Unity Catalog's own); a few other actions carry one generic key.

    ``idx`` < number of tables → that table; ``NT + g`` → generic g (0, 1: empty; 2: cluster;
    3: the admins group; 4: grant change; 5: a team group).
    """
    NT = len(world.table_name)
    fq = [fq_table(world, t) for t in range(NT)]
    is_table = idx < NT
    base = ag.map_column(["tableName", "full_name_arg"], fq, idx, is_table)
    if not (~is_table & (idx >= NT + 2)).any():
        return base
    # rare generic rows: build those few as Python maps and splice them in
    generic = {2: {"clusterId": "shared"}, 3: {"groupName": "admins"}, 4: {"changes": "ALL_PRIVILEGES"},
               5: {"groupName": "team-members"}}
    pool = pa.array([{}, {}] + [generic[g] for g in (2, 3, 4, 5)], pa.map_(pa.string(), pa.string()))
    rare = np.nonzero(~is_table & (idx >= NT + 2))[0]
    choice = np.full(len(idx), -1)
    choice[rare] = np.arange(len(rare))
    extra = pool.take(pa.array(idx[rare] - NT))
    merged = pa.concat_arrays([base, extra])
    order = np.where(choice >= 0, len(idx) + choice, np.arange(len(idx)))
    return merged.take(pa.array(order))


VPN_IP_CODE = 2_000_000  # + 3 x workspace + slot: the office egress IPs after a VPN change
EXPIRED_TOKEN_RATE = 0.05  # token logins refused (401): tokens expire, scripts keep using them
LOGIN_FAILURE_RATE = 0.08  # password logins refused (401): typos, MFA timeouts
OTHER_FAILURE_RATE = 0.012  # other actions refused (403)


def generate(world: World, eff: Effects, d0: int, d1: int, rng: np.random.Generator) -> list[pa.Table]:
    """Audit events of days [d0, d1): the everyday events, then (if any) the injected ones."""
    U = len(world.user_email)
    grid_u, grid_d = np.meshgrid(np.arange(U), np.arange(d0, d1), indexing="ij")
    uu, dd = grid_u.ravel(), grid_d.ravel()
    sp = world.user_is_sp[uu]
    off = (world.dow[dd] >= 5) | world.holiday[dd]
    lam = world.user_rate[uu] * world.growth(world.user_ws[uu], dd) * np.where(sp, 1.0, np.where(off, 0.06, 1.0))
    lam = np.where(dd >= eff.user_start_day[uu], lam, 0.0)  # new hires exist from their first day
    counts = rng.poisson(lam)
    e_u = np.repeat(uu, counts)
    e_d = np.repeat(dd, counts)
    n = len(e_u)
    e_sp = world.user_is_sp[e_u]
    e_ws = world.user_ws[e_u]
    local = world.user_start_hour[e_u] + rng.uniform(0, 9.5, n)
    local = np.where(rng.random(n) < 0.03, rng.uniform(0, 24, n), local)  # occasional late work
    hour = np.where(e_sp, rng.uniform(0, 24, n), local - world.ws_tz[e_ws])
    t = world.day_start_us[e_d] + (np.mod(hour, 24) * 3600 * US).astype(np.int64)
    role = np.where(e_sp, 4, world.user_role[e_u])
    # inverse-CDF draw per role in one searchsorted: role r's CDF is shifted to [2r, 2r + 1]
    action = np.searchsorted(_A_CUM_FLAT, rng.random(n) + 2.0 * role, side="right") - role * len(ACTIONS)
    action = np.clip(action, 0, len(ACTIONS) - 1)
    slot = rng.integers(0, world.user_tables.shape[1], n)
    usual = np.where(e_d >= eff.user_tables_from[e_u], eff.user_tables_after[e_u, slot], world.user_tables[e_u, slot])
    ws_tables_any = rng.integers(0, len(world.table_name), n)
    table = np.where(rng.random(n) < 0.92, usual, ws_tables_any)
    k = rng.integers(0, 3, n)
    ip = world.user_ips[e_u, k]
    elsewhere = rng.random(n) < 0.03
    ip = np.where(elsewhere, rng.integers(0, len(world.ip_pool), n), ip)
    # after a VPN change the office egress IPs are new ones; travellers work from hotel IPs
    vpn = world.user_ip_office[e_u, k] & ~elsewhere & (e_d >= eff.ws_vpn_day[e_ws])
    new_ip = np.where(vpn, VPN_IP_CODE + 3 * e_ws + k, -1)
    away = eff.user_away_ip[e_u, e_d]
    new_ip = np.where((away >= 0) & (rng.random(n) < 0.9), away, new_ip)
    is_login = action == ACTION_INDEX[("accounts", "login")]
    is_token = action == ACTION_INDEX[("accounts", "tokenLogin")]
    fail_p = np.where(is_login, LOGIN_FAILURE_RATE, np.where(is_token, EXPIRED_TOKEN_RATE, OTHER_FAILURE_RATE))
    status = np.where(rng.random(n) < fail_p, np.where(is_login | is_token, 401, 403), 200)
    agent = np.where(e_sp, 2 + rng.integers(0, 2, n), rng.integers(0, 2, n))
    agent = np.where(~e_sp & (world.user_role[e_u] == 0) & (rng.random(n) < 0.2), 5, agent)

    cols = dict(user=e_u, t=t, action=action, table=table, ip_idx=ip, status=status, agent=agent,
                ws=e_ws, new_ip=new_ip, generic=np.full(n, 0))
    pieces = [_build(world, cols, rng)]
    lo = int(world.day_start_us[0] + d0 * DAY_US)
    extra = eff.audit_between(lo, lo + (d1 - d0) * DAY_US)
    if extra is not None:
        pieces.append(_build(world, extra, rng))
    return pieces


def code_ips(codes: np.ndarray) -> list[str]:
    """The IP addresses of IP codes (IPs outside the world's pool: attackers', hotels', a new VPN's)."""
    return [f"{45 + x % 150}.{(x * 7) % 256}.{(x * 13) % 256}.{1 + (x * 31) % 250}" for x in codes.tolist()]


def _build(world: World, c: dict, rng: np.random.Generator) -> pa.Table:
    n = len(c["user"])
    action = c["action"]
    status = c["status"]
    is_table = A_TABLE[action]
    params_idx = np.where(is_table & (c["generic"] == 0), c["table"], len(world.table_name) + c["generic"])
    params_idx = np.where(is_table & (c["generic"] == 4), c["table"], params_idx)
    ip_arr = ag.take(world.ip_pool + code_ips(codes := np.unique(c["new_ip"][c["new_ip"] >= 0])),
                     np.where(c["new_ip"] >= 0, len(world.ip_pool) + np.searchsorted(codes, c["new_ip"]), c["ip_idx"]))
    acc = np.array([s == "accounts" for s in A_SERVICE])[action]
    err_codes = list(STATUS_ERRORS)
    err_idx = np.searchsorted(err_codes, status)
    sensitive = np.array([bool(SENSITIVE.search(a)) for a in A_NAME])
    emails = ag.take(world.user_email, c["user"])
    return ag.table(FACT_AUDIT_LOGS, n, {
        "account_id": ag.const(world.account_id, n),
        "workspace_id": ag.take(world.ws_id + ["0"], np.where(acc, len(world.ws_id), c["ws"])),
        "version": ag.const("2.0", n),
        "event_time": ag.timestamps(c["t"]),
        "event_date": ag.dates(c["t"]),
        "source_ip_address": ip_arr,
        "user_agent": ag.take(USER_AGENTS, c["agent"]),
        "session_id": ag.int_strings(c["user"].astype(np.int64) * 10**7 + (c["t"] // (6 * 3600 * US)) % 10**7),
        "user_identity_email": emails,
        "user_identity_subject_name": emails,
        "service_name": ag.take(A_SERVICE, action),
        "action_name": ag.take(A_NAME, action),
        "request_id": ag.uuids(rng, n),
        "request_params": _request_params(world, params_idx),
        "response_status_code": pa.array(status.astype(np.int32)),
        "response_error_message": ag.masked(ag.take([STATUS_ERRORS.get(k, "") for k in err_codes] + [""],
                                                    np.minimum(err_idx, len(err_codes))), status >= 400),
        "response_result": ag.masked(ag.const("{}", n), status < 400),
        "audit_level": ag.take(["WORKSPACE_LEVEL", "ACCOUNT_LEVEL"], acc.astype(int)),
        "event_id": ag.uuids(rng, n),
        "identity_metadata_run_by": emails,
        "identity_metadata_run_as": emails,
        "is_failed_action": pa.array(status >= 400),
        "is_sensitive_action": pa.array(sensitive[action]),
    })
