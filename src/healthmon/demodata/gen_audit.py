"""Audit events: people and service principals with stable habits, plus incident bursts.

A human works from a local start hour for ~9.5 hours on weekdays (rarely at weekends or
holidays), from one of a few usual IPs (the office egress), on a usual set of tables, with an
action mix set by their role. Service principals act around the clock from one IP. Incidents
add events by specific users (failed logins from many new IPs, bulk downloads, grant changes)
and the change events that explain other incidents (cluster edits, job resets, table alters).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.arrowgen import DAY_US, US
from healthmon.demodata.incidents import Effects, fq_table
from healthmon.demodata.schemas import FACT_AUDIT_LOGS
from healthmon.demodata.world import ROLES, World

# (service_name, action_name, takes a table) and per-role weights (analyst, engineer, scientist, admin, SP)
ACTIONS = [
    ("unityCatalog", "getTable", True, [30, 20, 25, 10, 25]),
    ("unityCatalog", "generateTemporaryTableCredential", True, [10, 15, 15, 5, 30]),
    ("unityCatalog", "getSchema", False, [4, 5, 4, 5, 3]),
    ("databrickssql", "commandSubmit", False, [25, 8, 6, 3, 5]),
    ("databrickssql", "commandFinish", False, [25, 8, 6, 3, 5]),
    ("notebook", "runCommand", False, [6, 20, 25, 5, 0]),
    ("notebook", "attachNotebook", False, [2, 5, 5, 1, 0]),
    ("clusters", "start", False, [0.5, 3, 3, 2, 2]),
    ("clusters", "edit", False, [0, 1, 0.5, 3, 0.5]),
    ("jobs", "runNow", False, [0.5, 4, 2, 1, 6]),
    ("jobs", "resetJob", False, [0, 1, 0.3, 1, 0.5]),
    ("accounts", "tokenLogin", False, [3, 4, 4, 3, 12]),
    ("accounts", "login", False, [2, 1.5, 1.5, 2, 0]),
    ("secrets", "getSecret", False, [0, 2, 1, 1, 8]),
    ("unityCatalog", "updatePermissions", True, [0.05, 0.2, 0.05, 4, 0]),
    ("accounts", "addPrincipalToGroup", False, [0, 0.02, 0, 1.5, 0]),
    ("clusters", "changeClusterAcl", False, [0, 0.05, 0, 1, 0]),
    ("databrickssql", "downloadQueryResult", False, [1.5, 0.3, 0.8, 0.2, 0]),
    ("workspace", "workspaceExport", False, [0.2, 0.5, 0.5, 0.3, 0]),
    ("unityCatalog", "updateTables", True, [0, 0.5, 0.2, 0.5, 0.5]),
]
A_SERVICE = [a[0] for a in ACTIONS]
A_NAME = [a[1] for a in ACTIONS]
A_TABLE = np.array([a[2] for a in ACTIONS])
A_WEIGHTS = np.array([a[3] for a in ACTIONS], dtype=float).T
A_WEIGHTS = A_WEIGHTS / A_WEIGHTS.sum(axis=1, keepdims=True)
A_CUM = np.cumsum(A_WEIGHTS, axis=1)
_A_CUM_FLAT = (A_CUM + 2.0 * np.arange(A_CUM.shape[0])[:, None]).ravel()
ACTION_INDEX = {(s, a): i for i, (s, a, _t, _w) in enumerate(ACTIONS)}
USER_AGENTS = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/124.0", "Mozilla/5.0 (Windows NT 10.0) Edge/124.0",
               "databricks-sdk-py/0.40.0", "Databricks-Runtime/15.4", "python-requests/2.31.0", "Tableau/2024.1"]
SENSITIVE = re.compile(r"grant|revoke|delete|secret|permission|token|password|credential", re.I)
STATUS_ERRORS = {401: "Invalid credentials", 403: "PERMISSION_DENIED: User does not have privilege",
                 404: "RESOURCE_DOES_NOT_EXIST", 500: "Internal error"}


def _request_params(world: World, idx: np.ndarray) -> pa.Array:
    """request_params: table actions carry ``tableName`` (the key the security features read)
    and ``full_name_arg`` (Unity Catalog's own); a few other actions carry one generic key.

    ``idx`` < number of tables → that table; ``NT + g`` → generic g (0, 1: empty; 2: cluster;
    3: group; 4: grant change).
    """
    NT = len(world.table_name)
    fq = [fq_table(world, t) for t in range(NT)]
    is_table = idx < NT
    base = ag.map_column(["tableName", "full_name_arg"], fq, idx, is_table)
    if not (~is_table & (idx >= NT + 2)).any():
        return base
    # rare generic rows: build those few as Python maps and splice them in
    generic = {2: {"clusterId": "shared"}, 3: {"groupName": "admins"}, 4: {"changes": "ALL_PRIVILEGES"}}
    pool = pa.array([{}, {}, generic[2], generic[3], generic[4]], pa.map_(pa.string(), pa.string()))
    rare = np.nonzero(~is_table & (idx >= NT + 2))[0]
    choice = np.full(len(idx), -1)
    choice[rare] = np.arange(len(rare))
    extra = pool.take(pa.array(idx[rare] - NT))
    merged = pa.concat_arrays([base, extra])
    order = np.where(choice >= 0, len(idx) + choice, np.arange(len(idx)))
    return merged.take(pa.array(order))


def generate(world: World, eff: Effects, d0: int, d1: int, rng: np.random.Generator) -> list[pa.Table]:
    """Audit events of days [d0, d1): the everyday events, then (if any) the incidents' events."""
    U = len(world.user_email)
    uu, dd = np.meshgrid(np.arange(U), np.arange(d0, d1), indexing="ij")
    uu, dd = uu.ravel(), dd.ravel()
    sp = world.user_is_sp[uu]
    off = (world.dow[dd] >= 5) | world.holiday[dd]
    lam = world.user_rate[uu] * world.growth(world.user_ws[uu], dd) * np.where(sp, 1.0, np.where(off, 0.06, 1.0))
    counts = rng.poisson(lam)
    e_u = np.repeat(uu, counts)
    e_d = np.repeat(dd, counts)
    n = len(e_u)
    e_sp = world.user_is_sp[e_u]
    local = world.user_start_hour[e_u] + rng.uniform(0, 9.5, n)
    local = np.where(rng.random(n) < 0.03, rng.uniform(0, 24, n), local)  # occasional late work
    hour = np.where(e_sp, rng.uniform(0, 24, n), local - world.ws_tz[world.user_ws[e_u]])
    t = world.day_start_us[e_d] + (np.mod(hour, 24) * 3600 * US).astype(np.int64)
    role = np.where(e_sp, 4, world.user_role[e_u])
    # inverse-CDF draw per role in one searchsorted: role r's CDF is shifted to [2r, 2r + 1]
    action = np.searchsorted(_A_CUM_FLAT, rng.random(n) + 2.0 * role, side="right") - role * len(ACTIONS)
    action = np.clip(action, 0, len(ACTIONS) - 1)
    usual = world.user_tables[e_u, rng.integers(0, world.user_tables.shape[1], n)]
    ws_tables_any = rng.integers(0, len(world.table_name), n)
    table = np.where(rng.random(n) < 0.92, usual, ws_tables_any)
    ip = world.user_ips[e_u, rng.integers(0, 3, n)]
    ip = np.where(rng.random(n) < 0.03, rng.integers(0, len(world.ip_pool), n), ip)
    fail_p = np.where(np.isin(action, [ACTION_INDEX[("accounts", "login")]]), 0.05, 0.012)
    status = np.where(rng.random(n) < fail_p, np.where(action == ACTION_INDEX[("accounts", "login")], 401, 403), 200)
    agent = np.where(e_sp, 2 + rng.integers(0, 2, n), rng.integers(0, 2, n))
    agent = np.where(~e_sp & (world.user_role[e_u] == 0) & (rng.random(n) < 0.2), 5, agent)

    cols = dict(user=e_u, t=t, action=action, table=table, ip_idx=ip, status=status, agent=agent,
                ws=world.user_ws[e_u], new_ip=np.full(n, -1), generic=np.full(n, 0))
    pieces = [_build(world, cols, rng)]
    extra = _incident_events(world, eff, d0, d1, rng)
    if extra:
        pieces.append(_build(world, {k: np.concatenate([x[k] for x in extra]) for k in cols}, rng))
    return pieces


def _incident_events(world: World, eff: Effects, d0: int, d1: int, rng: np.random.Generator) -> list[dict]:
    lo = world.day_start_us[0] + d0 * DAY_US
    hi = world.day_start_us[0] + d1 * DAY_US
    out = []

    def ev(u: int, times: np.ndarray, actions, tables=None, status=None, new_ip=None, agent=0, generic=0) -> dict:
        m = len(times)
        return dict(user=np.full(m, u), t=times.astype(np.int64), action=np.broadcast_to(actions, m).copy(),
                    table=np.broadcast_to(tables if tables is not None else 0, m).copy(),
                    ip_idx=world.user_ips[u, rng.integers(0, 3, m)],
                    status=np.broadcast_to(status if status is not None else 200, m).copy(),
                    agent=np.full(m, agent), ws=np.full(m, world.user_ws[u]),
                    new_ip=new_ip if new_ip is not None else np.full(m, -1),
                    generic=np.broadcast_to(generic, m).copy())

    for inc in eff.incidents:
        if not lo <= inc.start_us < hi:
            continue
        span = max(1, inc.end_us - inc.start_us)
        if inc.kind == "credential_stuffing":
            m = int(inc.magnitude)
            times = inc.start_us + np.sort(rng.random(m) * span)
            new_ip = rng.integers(0, inc.extra.get("n_ips", 30), m) + 10_000 * (1 + len(out))
            status = np.where(rng.random(m) < 0.995, 401, 200)
            out.append(ev(inc.user, times, ACTION_INDEX[("accounts", "login")], status=status, new_ip=new_ip, agent=4))
        elif inc.kind == "data_exfiltration":
            m = int(world.user_rate[inc.user] * inc.magnitude / 8) + 20
            times = inc.start_us + np.sort(rng.random(m) * span)
            acts = rng.choice([ACTION_INDEX[("databrickssql", "downloadQueryResult")],
                               ACTION_INDEX[("workspace", "workspaceExport")],
                               ACTION_INDEX[("unityCatalog", "generateTemporaryTableCredential")],
                               ACTION_INDEX[("unityCatalog", "getTable")]], size=m, p=[0.35, 0.15, 0.3, 0.2])
            tables = rng.integers(0, len(world.table_name), m)
            out.append(ev(inc.user, times, acts, tables=tables))
        elif inc.kind == "privilege_escalation":
            m = int(inc.magnitude)
            times = inc.start_us + np.sort(rng.random(m) * span)
            # joins the admins group first, then at least half grant changes on tables
            acts = np.concatenate([[ACTION_INDEX[("accounts", "addPrincipalToGroup")]],
                                   np.full((m + 1) // 2, ACTION_INDEX[("unityCatalog", "updatePermissions")]),
                                   rng.choice([ACTION_INDEX[("unityCatalog", "updatePermissions")],
                                               ACTION_INDEX[("accounts", "addPrincipalToGroup")],
                                               ACTION_INDEX[("clusters", "changeClusterAcl")]], size=m - 1 - (m + 1) // 2)])
            tables = rng.integers(0, len(world.table_name), m)
            status = np.where(rng.random(m) < 0.2, 403, 200)
            generic = np.where(acts == ACTION_INDEX[("accounts", "addPrincipalToGroup")], 3, 4)
            out.append(ev(inc.user, times, acts, tables=tables, status=status, generic=generic))
        elif inc.kind == "cost_spike":
            owner = int(world.cluster_owner[inc.cluster])
            out.append(ev(owner, np.array([inc.start_us + 600 * US]), ACTION_INDEX[("clusters", "edit")], generic=2))
        elif inc.kind in ("untagged_spend",):
            owner = int(world.job_owner[inc.job])
            out.append(ev(owner, np.array([inc.start_us + 300 * US]), ACTION_INDEX[("jobs", "resetJob")]))
        elif inc.kind == "failing_job_streak_after_upgrade":
            owner = int(world.job_owner[inc.job])
            out.append(ev(owner, np.array([inc.start_us - 1800 * US]), ACTION_INDEX[("clusters", "edit")], generic=2))
        elif inc.kind == "schema_change":
            owner = int(world.job_owner[world.table_job[inc.table]])
            out.append(ev(owner, np.array([inc.start_us + int(rng.integers(9, 17)) * 3600 * US]),
                          ACTION_INDEX[("unityCatalog", "updateTables")], tables=inc.table))
    return out


def _build(world: World, c: dict, rng: np.random.Generator) -> pa.Table:
    n = len(c["user"])
    action = c["action"]
    status = c["status"]
    is_table = A_TABLE[action]
    params_idx = np.where(is_table & (c["generic"] == 0), c["table"], len(world.table_name) + c["generic"])
    params_idx = np.where(is_table & (c["generic"] == 4), c["table"], params_idx)
    base_ips = ag.take(world.ip_pool, c["ip_idx"])
    if (c["new_ip"] >= 0).any():
        base_ips = base_ips.cast(pa.string())
        x = c["new_ip"]
        stuffed = ag.ips(45 + x % 150, (x * 7) % 256, (x * 13) % 256, 1 + (x * 31) % 250)
        ip_arr = pa.compute.if_else(pa.array(x >= 0), stuffed, base_ips)
    else:
        ip_arr = base_ips
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
