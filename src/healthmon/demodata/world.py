"""The static part of the synthetic account: workspaces, people, jobs, clusters, warehouses,
tables, SKUs and prices. Everything the event generators draw from, as numpy arrays indexed
by entity, plus the calendar (seasonality, holidays, growth).

Causal knobs live here so that the facts can be explained by other columns: a job's input
volume, workers, node memory and runtime version (→ duration, memory pressure, failures); a
warehouse's size and cluster bounds (→ latency, queueing); a user's working hours, IPs and usual
tables (→ audit events); a table's writer job (→ freshness).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from healthmon.demodata.arrowgen import DAY_US, US

CLOUD = "AWS"
COMPANY_DOMAIN = "acme-analytics.com"

# (sku_name, usage_unit, list price per unit, billing_origin_product)
SKUS = [
    ("PREMIUM_JOBS_COMPUTE", "DBU", 0.15, "JOBS"),
    ("PREMIUM_JOBS_COMPUTE_(PHOTON)", "DBU", 0.15, "JOBS"),
    ("PREMIUM_ALL_PURPOSE_COMPUTE", "DBU", 0.55, "ALL_PURPOSE"),
    ("PREMIUM_ALL_PURPOSE_COMPUTE_(PHOTON)", "DBU", 0.55, "ALL_PURPOSE"),
    ("PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA", "DBU", 0.35, "JOBS"),
    ("PREMIUM_INTERACTIVE_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA", "DBU", 0.75, "INTERACTIVE"),
    ("PREMIUM_SQL_COMPUTE", "DBU", 0.22, "SQL"),
    ("PREMIUM_SQL_PRO_COMPUTE_US_EAST_N_VIRGINIA", "DBU", 0.55, "SQL"),
    ("PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST_N_VIRGINIA", "DBU", 0.70, "SQL"),
    ("PREMIUM_DLT_CORE_COMPUTE", "DBU", 0.20, "DLT"),
    ("PREMIUM_DLT_ADVANCED_COMPUTE", "DBU", 0.36, "DLT"),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST_N_VIRGINIA", "DBU", 0.07, "MODEL_SERVING"),
]
SKU_INDEX = {s[0]: i for i, s in enumerate(SKUS)}
SKU_PRICE = np.array([s[2] for s in SKUS])
# A price change inside the period: the serverless SQL promotion ends (list price rises).
PRICE_CHANGE_SKU = "PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST_N_VIRGINIA"
PRICE_BEFORE_CHANGE = 0.55

# (node type, memory GiB, DBU per node-hour, relative throughput)
NODE_TYPES = [
    ("m5d.xlarge", 16.0, 0.69, 1.0),
    ("m5d.2xlarge", 32.0, 1.37, 2.0),
    ("r5d.2xlarge", 64.0, 1.37, 2.0),
    ("i3.xlarge", 30.5, 1.00, 1.2),
    ("i3.2xlarge", 61.0, 2.00, 2.4),
    ("c5d.2xlarge", 16.0, 1.20, 2.2),
]
NODE_MEM = np.array([n[1] for n in NODE_TYPES])
NODE_DBU = np.array([n[2] for n in NODE_TYPES])
NODE_SPEED = np.array([n[3] for n in NODE_TYPES])

# Runtime versions and their failure log-odds effect; the newest is what upgrades move to.
DBR_VERSIONS = ["13.3.x-scala2.12", "14.3.x-scala2.12", "15.4.x-scala2.12", "16.4.x-scala2.12"]
DBR_EFFECT = np.array([0.35, 0.0, -0.15, 0.05])
UPGRADE_TARGET = "17.0.x-scala2.13"

# SQL warehouse sizes: (name, DBU/hour per cluster, scan GB/s per cluster, memory GiB per cluster)
WAREHOUSE_SIZES = [
    ("2X_SMALL", 4, 0.25, 64),
    ("X_SMALL", 6, 0.5, 128),
    ("SMALL", 12, 1.0, 256),
    ("MEDIUM", 24, 2.0, 512),
    ("LARGE", 40, 4.0, 1024),
]
WH_DBU = np.array([w[1] for w in WAREHOUSE_SIZES], dtype=float)
WH_SCAN = np.array([w[2] for w in WAREHOUSE_SIZES])
WH_MEM = np.array([w[3] for w in WAREHOUSE_SIZES], dtype=float)
WAREHOUSE_TYPES = ["PRO", "SERVERLESS", "CLASSIC"]
WH_TYPE_SKU = [SKU_INDEX["PREMIUM_SQL_PRO_COMPUTE_US_EAST_N_VIRGINIA"],
               SKU_INDEX["PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST_N_VIRGINIA"],
               SKU_INDEX["PREMIUM_SQL_COMPUTE"]]

TEAMS = ["finance", "marketing", "sales", "platform", "data_science", "supply_chain", "product"]
# Subjects of each team's pipelines. Several are shared ("forecast", "customers", "events",
# "orders", "accounts", "usage"): the subject of a job does not tell its team either.
TEAM_SUBJECTS = {
    "finance": ["revenue", "ledger", "invoices", "forecast", "payments", "accounts", "customers"],
    "marketing": ["campaigns", "attribution", "leads", "web_events", "email_engagement", "customers", "events"],
    "sales": ["pipeline", "bookings", "accounts", "quota", "opportunities", "customers", "orders"],
    "platform": ["audit_export", "cost_rollup", "cluster_usage", "table_maintenance", "lineage", "usage", "events"],
    "data_science": ["churn_features", "recommendations", "demand_model", "embeddings", "scoring", "forecast",
                     "customers"],
    "supply_chain": ["inventory", "shipments", "suppliers", "warehouse_stock", "orders", "forecast"],
    "product": ["sessions", "feature_usage", "experiments", "funnels", "nps", "events", "usage"],
}
# Words a team's job names may start with: the team's own name first, then aliases, several of
# them shared between teams ("revenue", "ops", "analytics", "growth", "data").
TEAM_NAME_WORDS = {
    "finance": ["finance", "fin", "revenue", "billing"],
    "marketing": ["marketing", "mkt", "growth", "analytics"],
    "sales": ["sales", "crm", "revenue", "gtm"],
    "platform": ["platform", "infra", "ops", "data"],
    "data_science": ["data_science", "ds", "ml", "analytics", "data"],
    "supply_chain": ["supply_chain", "scm", "logistics", "ops"],
    "product": ["product", "app", "growth", "analytics"],
}
# How a job is named: (team's own name, an alias of the team, no team word, another team's word)
NAME_STYLE_P = [0.3, 0.2, 0.35, 0.15]
RENAMED_SHARE = 0.12  # jobs renamed once during the period (usage and runs carry the old name before)
JOB_VERBS = ["daily_etl", "ingest", "aggregate", "refresh", "train", "score", "export", "snapshot"]
TASK_KEYS = ["ingest", "transform", "validate", "publish", "optimize"]
PROJECTS = {t: [f"{t}_core", f"{t}_analytics", f"{t}_ml"] for t in TEAMS}
COST_CENTERS = {t: f"CC-{1000 + 37 * i}" for i, t in enumerate(TEAMS)}

FIRST = ["alex", "maria", "sam", "li", "priya", "jonas", "fatima", "diego", "olga", "kenji", "amara", "noah",
         "elena", "omar", "sofia", "ravi", "hannah", "tomas", "yara", "lucas", "mei", "ivan", "zoe", "arjun"]
LAST = ["smith", "garcia", "chen", "patel", "muller", "kowalski", "okafor", "silva", "nguyen", "rossi",
        "tanaka", "haddad", "novak", "jensen", "ibrahim", "costa", "larsen", "kim", "dubois", "moreno"]

ROLES = ["analyst", "engineer", "scientist", "admin"]


# Audit actions: (service_name, action_name, takes a table) and per-role weights (analyst,
# engineer, scientist, admin, SP). Permission changes are not an admin-only action: analysts share
# queries and dashboards, engineers grant on the tables they own.
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
    ("accounts", "login", False, [4, 4, 4, 5, 0]),
    ("secrets", "getSecret", False, [0, 2, 1, 1, 8]),
    ("unityCatalog", "updatePermissions", True, [0.5, 1.2, 0.5, 4, 0]),
    ("accounts", "addPrincipalToGroup", False, [0, 0.02, 0, 1.5, 0]),
    ("clusters", "changeClusterAcl", False, [0, 0.05, 0, 1, 0]),
    ("databrickssql", "downloadQueryResult", False, [1.5, 0.3, 0.8, 0.2, 0]),
    ("workspace", "workspaceExport", False, [0.2, 0.5, 0.5, 0.3, 0]),
    ("unityCatalog", "updateTables", True, [0, 0.5, 0.2, 0.5, 0.5]),
]
ACTION_INDEX = {(s, a): i for i, (s, a, _t, _w) in enumerate(ACTIONS)}
EXPORT_ACTIONS = (
    ACTION_INDEX[("databrickssql", "downloadQueryResult")],
    ACTION_INDEX[("workspace", "workspaceExport")],
)
READ_ACTIONS = (ACTION_INDEX[("unityCatalog", "getTable")],
                ACTION_INDEX[("unityCatalog", "generateTemporaryTableCredential")])
GRANT_ACTIONS = (ACTION_INDEX[("unityCatalog", "updatePermissions")], ACTION_INDEX[("accounts", "addPrincipalToGroup")],
                 ACTION_INDEX[("clusters", "changeClusterAcl")])


@dataclass(frozen=True)
class Scale:
    name: str
    users: int          # humans per workspace
    service_principals: int
    jobs: int           # per workspace
    warehouses: int     # per workspace
    ap_clusters: int    # all-purpose clusters per workspace
    queries_per_wh_day: float
    audit_per_user_day: float
    batch_days: int     # days generated per batch (memory bound for large)


SCALES = {
    "small": Scale("small", users=6, service_principals=1, jobs=6, warehouses=1, ap_clusters=1,
                   queries_per_wh_day=60, audit_per_user_day=12, batch_days=400),
    "medium": Scale("medium", users=24, service_principals=2, jobs=18, warehouses=2, ap_clusters=2,
                    queries_per_wh_day=260, audit_per_user_day=30, batch_days=60),
    "large": Scale("large", users=60, service_principals=4, jobs=60, warehouses=4, ap_clusters=4,
                   queries_per_wh_day=2200, audit_per_user_day=90, batch_days=6),
}

DEFAULT_END_DATE = dt.date(2026, 9, 30)
# The evaluation's test period is the last 20 % of days; incidents happen everywhere, and the
# incident plan places each kind at least once inside the test period and once before it (when an
# eligible entity is free: on very small accounts a kind may miss one of the two).
TEST_FRACTION = 0.2
TABLE_DEV_SHARE = 0.35  # tables under active development (schema changes, some breaking)


def us_hol(years: range) -> set[dt.date]:
    """US holidays the synthetic company observes (fixed and floating)."""
    out: set[dt.date] = set()

    def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
        d = dt.date(year, month, 1)
        d += dt.timedelta(days=(weekday - d.weekday()) % 7)
        return d + dt.timedelta(weeks=n - 1)

    def last_weekday(year: int, month: int, weekday: int) -> dt.date:
        d = dt.date(year, month + 1, 1) - dt.timedelta(days=1) if month < 12 else dt.date(year, 12, 31)
        return d - dt.timedelta(days=(d.weekday() - weekday) % 7)

    for y in years:
        out |= {dt.date(y, 1, 1), dt.date(y, 7, 4), dt.date(y, 12, 24), dt.date(y, 12, 25), dt.date(y, 12, 31)}
        out |= {nth_weekday(y, 1, 0, 3), last_weekday(y, 5, 0), nth_weekday(y, 9, 0, 1),
                nth_weekday(y, 11, 3, 4), nth_weekday(y, 11, 3, 4) + dt.timedelta(days=1)}
    return out


@dataclass
class World:
    seed: int
    scale: Scale
    start: dt.date
    days: int
    account_id: str
    # calendar, per day
    day_start_us: np.ndarray
    dow: np.ndarray            # 0 = Monday
    holiday: np.ndarray        # bool
    # workspaces
    ws_id: list[str]
    ws_name: list[str]
    ws_size: np.ndarray        # activity multiplier
    ws_growth: np.ndarray      # yearly growth rate
    ws_tz: np.ndarray          # UTC offset hours of the main office
    ws_create_us: np.ndarray
    # users (humans then service principals), global index
    user_email: list[str]
    user_ws: np.ndarray
    user_is_sp: np.ndarray
    user_role: np.ndarray      # index in ROLES; -1 for SPs
    user_rate: np.ndarray      # audit events per day (before seasonality)
    user_ips: np.ndarray       # (n_users, 3) indices in ip pool
    user_tables: np.ndarray    # (n_users, 6) table indices
    user_start_hour: np.ndarray  # local start of working day
    ip_pool: list[str]
    user_ip_office: np.ndarray  # (n_users, 3) the IP slot is the workspace's office egress
    # jobs
    job_id: np.ndarray         # int64, globally unique
    job_ws: np.ndarray
    job_team: np.ndarray
    job_name: list[str]
    job_tags: list[dict]       # {} = untagged
    job_old_name: list[str]    # name before the rename ("" = never renamed)
    job_rename_day: np.ndarray  # day index of the rename (0 = named so since before the period)
    job_runs_per_day: np.ndarray
    job_weekday: np.ndarray    # weekly jobs run on this dow; -1 otherwise
    job_hour: np.ndarray       # first run hour (UTC)
    job_compute: np.ndarray    # 0 job cluster, 1 all-purpose, 2 serverless
    job_workers: np.ndarray
    job_node: np.ndarray
    job_dbr: np.ndarray
    job_photon: np.ndarray
    job_volume_gb: np.ndarray
    job_bias: np.ndarray       # per-job failure log-odds
    job_upstream: np.ndarray   # job index or -1
    job_tasks: np.ndarray
    job_retries: np.ndarray
    job_timeout_s: np.ndarray  # 0 = none
    job_cluster: np.ndarray    # cluster index (its job cluster, or the shared all-purpose cluster)
    job_owner: np.ndarray      # user index (creator)
    job_run_as: np.ndarray     # user index
    job_created_us: np.ndarray
    # clusters (job clusters + all-purpose)
    cluster_id: list[str]
    cluster_ws: np.ndarray
    cluster_name: list[str]
    cluster_source: list[str]
    cluster_node: np.ndarray
    cluster_workers: np.ndarray
    cluster_dbr: np.ndarray
    cluster_owner: np.ndarray
    cluster_created_us: np.ndarray
    cluster_tags: list[dict]
    ap_cluster: np.ndarray     # indices of all-purpose clusters
    # warehouses
    wh_id: list[str]
    wh_ws: np.ndarray
    wh_name: list[str]
    wh_type: np.ndarray
    wh_size: np.ndarray
    wh_min: np.ndarray
    wh_max: np.ndarray
    wh_auto_stop: np.ndarray
    wh_rate: np.ndarray        # queries per day (before seasonality)
    wh_owner: np.ndarray
    wh_created_us: np.ndarray
    # query templates per warehouse: (n_wh, T) base bytes
    tmpl_bytes: np.ndarray
    tmpl_type: np.ndarray
    tmpl_prunes: np.ndarray    # (n_wh, T) False: the statement never prunes files
    # tables
    table_catalog: list[str]
    table_schema: list[str]
    table_name: list[str]
    table_ws: np.ndarray
    table_job: np.ndarray      # writer job
    table_columns: np.ndarray
    table_has_pk: np.ndarray
    table_cdf: np.ndarray
    table_overwrite: np.ndarray  # True: each write replaces the data
    table_rows0: np.ndarray
    table_row_width: np.ndarray
    table_created_us: np.ndarray
    table_monitored: np.ndarray
    table_downstream: np.ndarray
    table_dev: np.ndarray      # in active development: frequent schema changes, some breaking
    # other hourly products
    dlt_ws: np.ndarray
    dlt_id: list[str]
    dlt_dbu: np.ndarray
    dlt_advanced: np.ndarray
    serving_ws: np.ndarray
    serving_name: list[str]
    serving_id: list[str]
    serving_dbu: np.ndarray
    extra: dict = field(default_factory=dict)
    # Routine runtime upgrades of job-cluster jobs (one entry per upgrade, see _routine_upgrades):
    # the job runs on cluster ``upgrade_cluster_before`` (older runtime) until ``upgrade_day``.
    upgrade_job: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    upgrade_day: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    upgrade_from: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # index in DBR_VERSIONS
    upgrade_to: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    upgrade_cluster_before: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    upgrade_breaks: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # first runs fail
    upgrade_fail_logit: np.ndarray = field(default_factory=lambda: np.zeros(0))   # extra failure log-odds
    upgrade_fix_days: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # days until fixed

    @property
    def start_us(self) -> int:
        return int(self.day_start_us[0])

    @property
    def test_start_day(self) -> int:
        return self.days - max(1, int(round(self.days * TEST_FRACTION)))

    def growth(self, ws: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (1.0 + self.ws_growth[ws]) ** (day / 365.0)


def _unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    out = np.unique(rng.integers(low, high, size=int(n * 1.2) + 10))
    rng.shuffle(out)
    return out[:n]


def _job_name(rng: np.random.Generator, team: str, subj: str, verb: str) -> str:
    """A job name in one of the styles of NAME_STYLE_P: the team word is often an alias shared
    with other teams, absent, or another team's (a pipeline handed over)."""
    style = int(rng.choice(4, p=NAME_STYLE_P))
    if style == 0:
        return f"{team}_{subj}_{verb}"
    if style == 1:
        words = TEAM_NAME_WORDS[team][1:]
        return f"{words[rng.integers(len(words))]}_{subj}_{verb}"
    if style == 2:
        return f"{subj}_{verb}"
    others = [t for t in TEAMS if t != team]
    other = TEAM_NAME_WORDS[others[rng.integers(len(others))]]
    return f"{other[rng.integers(len(other))]}_{subj}_{verb}"


def _unique_name(name: str, scope, used: set) -> str:
    out, k = name, 2
    while (scope, out) in used:
        out, k = f"{name}_{k}", k + 1
    used.add((scope, out))
    return out


def build_world(seed: int, scale: Scale, workspaces: int, days: int, end_date: dt.date) -> World:
    rng = np.random.default_rng([seed, 1])
    start = end_date - dt.timedelta(days=days - 1)
    epoch = dt.date(1970, 1, 1)
    day_dates = [start + dt.timedelta(days=i) for i in range(days)]
    day_start_us = np.array([(d - epoch).days * DAY_US for d in day_dates], dtype=np.int64)
    dow = np.array([d.weekday() for d in day_dates])
    hol = us_hol(range(start.year, end_date.year + 1))
    holiday = np.array([d in hol for d in day_dates])

    W = workspaces
    ws_ids = _unique_ints(rng, W, 10**15, 9 * 10**15)
    regions = ["us", "eu", "apac"]
    envs = ["prod", "analytics", "ml", "dev", "staging"]
    ws_region = rng.integers(0, 3, W)
    ws_name = [f"acme-{regions[r]}-{envs[i % len(envs)]}{'' if i < len(envs) else '-' + str(i // len(envs))}"
               for i, r in enumerate(ws_region)]
    ws_tz = np.array([-5, 1, 8])[ws_region] + rng.integers(-1, 2, W)
    ws_size = rng.lognormal(0.0, 0.45, W)
    ws_growth = rng.uniform(-0.05, 0.9, W)
    ws_create_us = day_start_us[0] - rng.integers(200, 1500, W) * DAY_US

    # ---- users
    S = scale
    n_h, n_sp = S.users, S.service_principals
    emails, ws_of_user, sp_of_user, role_of_user = [], [], [], []
    seen: set[str] = set()
    for w in range(W):
        for _ in range(n_h):
            base = f"{FIRST[rng.integers(len(FIRST))]}.{LAST[rng.integers(len(LAST))]}"
            email, k = f"{base}@{COMPANY_DOMAIN}", 2
            while email in seen:
                email, k = f"{base}{k}@{COMPANY_DOMAIN}", k + 1
            seen.add(email)
            emails.append(email)
            ws_of_user.append(w)
            sp_of_user.append(False)
            role_of_user.append(int(rng.choice(4, p=[0.45, 0.3, 0.17, 0.08])))
        for j in range(n_sp):
            purpose = ["etl", "ml", "reporting", "ingest"][j % 4]
            emails.append(f"svc-{purpose}-{ws_name[w]}-spn@{COMPANY_DOMAIN}")
            ws_of_user.append(w)
            sp_of_user.append(True)
            role_of_user.append(-1)
    U = len(emails)
    u_ws = np.array(ws_of_user)
    u_sp = np.array(sp_of_user)
    u_role = np.array(role_of_user)
    u_rate = rng.lognormal(np.log(S.audit_per_user_day), 0.5, U) * np.where(u_sp, 2.0, 1.0)
    n_ip = max(64, U * 2)
    ip_pool = [f"{rng.integers(3, 223)}.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"
               for _ in range(n_ip)]
    # Office egress IPs are shared within a workspace (people sit together); SPs use 1 fixed IP.
    ws_office = rng.integers(0, n_ip, size=(W, 3))
    u_office = rng.random((U, 3)) < 0.75
    u_ips = np.where(u_office, ws_office[u_ws[:, None], rng.integers(0, 3, size=(U, 3))],
                     rng.integers(0, n_ip, size=(U, 3)))
    u_ips[u_sp] = u_ips[u_sp][:, :1]  # SPs: always the same egress IP (broadcast over 3 slots)
    u_office[u_sp] = False  # a service principal's egress is its cloud's, not the office's
    u_start_hour = np.clip(np.round(rng.normal(8.5, 1.0, U)), 6, 11)

    # ---- jobs
    J = W * S.jobs
    job_ws = np.repeat(np.arange(W), S.jobs)
    job_id = _unique_ints(rng, J, 10**14, 10**15)
    job_team = rng.integers(0, len(TEAMS), J)
    names, parts, tags = [], [], []
    used_names: set[tuple[int, str]] = set()
    for j in range(J):
        team = TEAMS[job_team[j]]
        subj = TEAM_SUBJECTS[team][rng.integers(len(TEAM_SUBJECTS[team]))]
        verb = JOB_VERBS[rng.integers(len(JOB_VERBS))]
        name = _unique_name(_job_name(rng, team, subj, verb), int(job_ws[j]), used_names)
        names.append(name)
        parts.append((subj, verb))
        if rng.random() < 0.72:
            # keys in one order, each set a prefix of it (team, project, cost_center): readers
            # that rebuild maps from JSON objects keep a column's first-seen key order
            t = {"team": team}
            if rng.random() < 0.8:
                t["project"] = PROJECTS[team][rng.integers(3)]
                if rng.random() < 0.75:
                    t["cost_center"] = COST_CENTERS[team]
            tags.append(t)
        else:
            tags.append({})
    # Renamed jobs: before the rename day their runs and usage carry the old name.
    job_rename_day = np.zeros(J, int)
    old_names = [""] * J
    for renamed in np.nonzero(rng.random(J) < RENAMED_SHARE)[0]:
        subj, verb = parts[renamed]
        old = _unique_name(_job_name(rng, TEAMS[job_team[renamed]], subj, verb) + "_v1", int(job_ws[renamed]),
                           used_names)
        job_rename_day[renamed] = int(rng.integers(min(7, days - 1), max(8, days - 7)))
        old_names[renamed] = old
    sched = rng.choice(4, size=J, p=[0.62, 0.12, 0.11, 0.15])  # daily, hourly, 4-hourly, weekly
    runs_per_day = np.array([1, 24, 6, 1])[sched]
    job_weekday = np.where(sched == 3, rng.integers(0, 7, J), -1)
    job_hour = rng.integers(0, 24, J)
    job_compute = rng.choice(3, size=J, p=[0.55, 0.2, 0.25])
    job_workers = np.clip(np.round(rng.lognormal(1.3, 0.7, J)), 1, 32).astype(int)
    job_node = rng.integers(0, len(NODE_TYPES), J)
    job_dbr = rng.choice(len(DBR_VERSIONS), size=J, p=[0.15, 0.3, 0.4, 0.15])
    job_photon = rng.random(J) < 0.35
    # Heavy tail: a few jobs move most of the data. Volume per run is per-day volume / runs.
    job_volume_gb = rng.lognormal(2.5, 1.3, J) / np.sqrt(runs_per_day)
    job_bias = rng.normal(0.0, 0.5, J)
    job_upstream = np.full(J, -1)
    for j in range(J):
        # a daily job may run after an earlier daily job of its workspace (reads its output)
        cand = np.nonzero((job_ws[:j] == job_ws[j]) & (runs_per_day[:j] == 1) & (job_weekday[:j] == -1))[0]
        if len(cand) and runs_per_day[j] == 1 and rng.random() < 0.4:
            u = int(rng.choice(cand))
            job_upstream[j] = u
            job_weekday[j] = -1
            job_hour[j] = (job_hour[u] + 2) % 24
    job_tasks = rng.integers(1, 6, J)
    job_retries = np.where(rng.random(J) < 0.4, rng.integers(1, 3, J), 0)
    job_timeout_s = np.where(rng.random(J) < 0.5, 0, 0)  # set below from typical duration
    ws_users = [np.nonzero((u_ws == w) & ~u_sp)[0] for w in range(W)]
    ws_sps = [np.nonzero((u_ws == w) & u_sp)[0] for w in range(W)]
    job_owner = np.array([rng.choice(ws_users[w]) for w in job_ws])
    job_run_as = np.array([rng.choice(ws_sps[w]) if rng.random() < 0.6 else job_owner[j]
                           for j, w in enumerate(job_ws)])
    job_created_us = day_start_us[0] - rng.integers(10, 600, J) * DAY_US

    # ---- clusters: one job-cluster definition per job (compute 0), plus all-purpose clusters
    c_id: list[str] = []
    c_ws, c_name, c_src, c_node, c_workers, c_dbr, c_owner, c_created, c_tags = ([] for _ in range(9))

    def cluster_id_str() -> str:
        head, mid = rng.integers(1000, 9999), rng.integers(100000, 999999)  # draw order fixes the ids
        return f"{head}-{mid}-{''.join(rng.choice(list('abcdefghijklmnopqrstuvwxyz'), 8))}"

    ap_list = []
    for w in range(W):
        for k in range(S.ap_clusters):
            ap_list.append(len(c_id))
            c_id.append(cluster_id_str())
            c_ws.append(w)
            team = TEAMS[rng.integers(len(TEAMS))]
            c_name.append(f"{team}-shared-{k + 1}")
            c_src.append("UI")
            c_node.append(int(rng.integers(0, len(NODE_TYPES))))
            c_workers.append(int(rng.integers(2, 9)))
            c_dbr.append(int(rng.choice(len(DBR_VERSIONS), p=[0.1, 0.3, 0.4, 0.2])))
            c_owner.append(int(rng.choice(ws_users[w])))
            c_created.append(int(day_start_us[0] - rng.integers(30, 400) * DAY_US))
            c_tags.append({"team": team} if rng.random() < 0.7 else {})
    ap_idx = np.array(ap_list, dtype=int)
    job_cluster = np.full(J, -1)
    for j in range(J):
        if job_compute[j] == 1:
            job_cluster[j] = int(rng.choice(ap_idx[np.array(c_ws)[ap_idx] == job_ws[j]]))
            job_dbr[j] = c_dbr[job_cluster[j]]
            job_node[j] = c_node[job_cluster[j]]
            job_workers[j] = c_workers[job_cluster[j]]
        elif job_compute[j] == 0:
            job_cluster[j] = len(c_id)
            c_id.append(f"job-{job_id[j]}-run")
            c_ws.append(int(job_ws[j]))
            c_name.append(f"job-{job_id[j]}-{names[j]}")
            c_src.append("JOB")
            c_node.append(int(job_node[j]))
            c_workers.append(int(job_workers[j]))
            c_dbr.append(int(job_dbr[j]))
            c_owner.append(int(job_owner[j]))
            c_created.append(int(job_created_us[j]))
            c_tags.append(dict(tags[j]))
    # Typical duration → a timeout for half the jobs (jobs with SLAs), from 1.6x (tight: heavy
    # days such as month ends or backfills run into it) to 5x their typical run.
    typical = 300 + job_volume_gb * 45 / (job_workers ** 0.8 * NODE_SPEED[job_node])
    job_timeout_s = np.where(rng.random(J) < 0.5, np.round(typical * rng.uniform(1.6, 5.0, J) / 60) * 60 + 300,
                             0).astype(np.int64)

    # ---- warehouses
    Wh = W * S.warehouses
    wh_ws = np.repeat(np.arange(W), S.warehouses)
    wh_type = rng.choice(3, size=Wh, p=[0.5, 0.35, 0.15])
    wh_size = rng.choice(len(WAREHOUSE_SIZES), size=Wh, p=[0.15, 0.25, 0.3, 0.2, 0.1])
    wh_min = np.ones(Wh, dtype=int)
    wh_max = rng.choice([1, 2, 4, 8], size=Wh, p=[0.3, 0.35, 0.25, 0.1])
    wh_auto_stop = np.where(wh_type == 1, 10, rng.choice([15, 30, 60, 120], size=Wh))
    wh_rate = S.queries_per_wh_day * ws_size[wh_ws] * rng.lognormal(0, 0.4, Wh)
    wh_ids = [f"{x:016x}" for x in _unique_ints(rng, Wh, 16**14, 16**15 - 1)]
    wh_names = [
        f"{['bi', 'analytics', 'reporting', 'adhoc', 'etl'][i % 5]}-warehouse-"
        f"{ws_name[wh_ws[i]].split('-')[-1]}-{i % S.warehouses + 1}"
        for i in range(Wh)
    ]
    wh_owner = np.array([rng.choice(ws_users[w]) for w in wh_ws])
    wh_created_us = day_start_us[0] - rng.integers(30, 500, Wh) * DAY_US
    T = 24
    # Heavy-tailed scans; some warehouses serve much heavier workloads than their size suits
    # (those spill and breach the 60 s SLA often — the warehouse-sizing signal).
    wh_heavy = rng.lognormal(0.4, 1.2, Wh)
    tmpl_bytes = rng.lognormal(np.log(2e8), 1.8, size=(Wh, T)) * wh_heavy[:, None]
    tmpl_type = rng.choice(5, size=(Wh, T), p=[0.78, 0.08, 0.06, 0.05, 0.03])
    # Some statements never prune (full scans of small dimension tables, views without a
    # partition filter): a scan that prunes nothing is ordinary.
    tmpl_prunes = rng.random((Wh, T)) >= 0.15

    # ---- tables: each job writes 1–2 tables in its workspace catalog
    t_cat, t_sch, t_name, ws_of_table, job_of_table = [], [], [], [], []
    used_tables: set = set()
    for j in range(J):
        team = TEAMS[job_team[j]]
        for k in range(1 + int(rng.random() < 0.35)):
            t_cat.append(ws_name[job_ws[j]].replace("-", "_"))
            t_sch.append(team)
            t_name.append(
                _unique_name(f"{'_'.join(parts[j])}{'' if k == 0 else '_history'}", (int(job_ws[j]), team), used_tables)
            )
            ws_of_table.append(int(job_ws[j]))
            job_of_table.append(j)
    NT = len(t_name)
    t_ws = np.array(ws_of_table)
    t_job = np.array(job_of_table)
    # per user: 6 usual tables from their workspace
    user_tables = np.zeros((U, 6), dtype=int)
    for u in range(U):
        cand = np.nonzero(t_ws == u_ws[u])[0]
        user_tables[u] = rng.choice(cand, size=6, replace=len(cand) < 6)

    # ---- routine runtime upgrades (own random stream: the rest of the world stays as it was)
    upgrades = _routine_upgrades(np.random.default_rng([seed, 31]), days, job_id, job_compute, job_dbr, job_photon,
                                 job_tasks, job_bias, job_cluster, job_created_us, day_start_us,
                                 (c_id, c_ws, c_name, c_src, c_node, c_workers, c_dbr, c_owner, c_created, c_tags))

    # ---- DLT pipelines and model serving endpoints (hourly metered products)
    dlt_ws = np.array([w for w in range(W) for _ in range(int(rng.integers(0, 3)))], dtype=int)
    serving_ws = np.array([w for w in range(W) for _ in range(int(rng.integers(0, 3)))], dtype=int)

    return World(
        seed=seed,
        scale=S,
        start=start,
        days=days,
        account_id=str(np.random.default_rng([seed, 2]).integers(10**8, 10**9)) + "-acme-account",
        day_start_us=day_start_us,
        dow=dow,
        holiday=holiday,
        ws_id=[str(x) for x in ws_ids],
        ws_name=ws_name,
        ws_size=ws_size,
        ws_growth=ws_growth,
        ws_tz=ws_tz,
        ws_create_us=ws_create_us,
        user_email=emails,
        user_ws=u_ws,
        user_is_sp=u_sp,
        user_role=u_role,
        user_rate=u_rate,
        user_ips=u_ips,
        user_tables=user_tables,
        user_start_hour=u_start_hour,
        ip_pool=ip_pool,
        user_ip_office=u_office,
        job_id=job_id,
        job_ws=job_ws,
        job_team=job_team,
        job_name=names,
        job_tags=tags,
        job_old_name=old_names,
        job_rename_day=job_rename_day,
        job_runs_per_day=runs_per_day,
        job_weekday=job_weekday,
        job_hour=job_hour,
        job_compute=job_compute,
        job_workers=job_workers,
        job_node=job_node,
        job_dbr=job_dbr,
        job_photon=job_photon,
        job_volume_gb=job_volume_gb,
        job_bias=job_bias,
        job_upstream=job_upstream,
        job_tasks=job_tasks,
        job_retries=job_retries,
        job_timeout_s=job_timeout_s,
        job_cluster=job_cluster,
        job_owner=job_owner,
        job_run_as=job_run_as,
        job_created_us=job_created_us,
        cluster_id=c_id,
        cluster_ws=np.array(c_ws),
        cluster_name=c_name,
        cluster_source=c_src,
        cluster_node=np.array(c_node),
        cluster_workers=np.array(c_workers),
        cluster_dbr=np.array(c_dbr),
        cluster_owner=np.array(c_owner),
        cluster_created_us=np.array(c_created, dtype=np.int64),
        cluster_tags=c_tags,
        ap_cluster=ap_idx,
        wh_id=wh_ids,
        wh_ws=wh_ws,
        wh_name=wh_names,
        wh_type=wh_type,
        wh_size=wh_size,
        wh_min=wh_min,
        wh_max=wh_max,
        wh_auto_stop=wh_auto_stop,
        wh_rate=wh_rate,
        wh_owner=wh_owner,
        wh_created_us=wh_created_us,
        tmpl_bytes=tmpl_bytes,
        tmpl_type=tmpl_type,
        tmpl_prunes=tmpl_prunes,
        table_catalog=t_cat,
        table_schema=t_sch,
        table_name=t_name,
        table_ws=t_ws,
        table_job=t_job,
        table_columns=rng.integers(5, 60, NT),
        table_has_pk=rng.random(NT) < 0.45,
        table_cdf=rng.random(NT) < 0.3,
        table_overwrite=rng.random(NT) < 0.3,
        table_rows0=np.round(rng.lognormal(13, 1.5, NT)).astype(np.int64),
        table_row_width=rng.integers(80, 600, NT),
        table_created_us=day_start_us[0] - rng.integers(30, 700, NT) * DAY_US,
        table_monitored=rng.random(NT) < 0.6,
        table_downstream=rng.poisson(2.0, NT),
        table_dev=rng.random(NT) < TABLE_DEV_SHARE,
        dlt_ws=dlt_ws,
        dlt_id=[
            f"{x:08x}-{y:04x}-4{z:03x}-8000-{q:012x}"
            for x, y, z, q in zip(
                rng.integers(0, 2**32, len(dlt_ws)),
                rng.integers(0, 2**16, len(dlt_ws)),
                rng.integers(0, 2**12, len(dlt_ws)),
                rng.integers(0, 2**48, len(dlt_ws)),
            )
        ],
        dlt_dbu=rng.lognormal(1.5, 0.6, len(dlt_ws)),
        dlt_advanced=rng.random(len(dlt_ws)) < 0.4,
        serving_ws=serving_ws,
        serving_name=[f"{TEAMS[rng.integers(len(TEAMS))]}-model-{i}" for i in range(len(serving_ws))],
        serving_id=[f"{x:032x}" for x in rng.integers(0, 2**62, len(serving_ws))],
        serving_dbu=rng.lognormal(0.5, 0.8, len(serving_ws)),
        **upgrades,
    )


# Breakage after a runtime upgrade (failure log-odds of the first runs on the new runtime):
# bigger version jumps, Photon, many tasks, the oldest runtime and already flaky jobs break more
# often (all visible in the gold tables); so do jobs with custom libraries and some releases'
# own regressions, which no column records, and the rest is noise.
UPGRADE_BREAK_BASE = -3.0
UPGRADE_CUSTOM_LIBS_SHARE = 0.35
UPGRADE_CUSTOM_LIBS_EFFECT = 1.6
UPGRADE_RELEASE_RISK_SD = 0.6
UPGRADE_NOISE_SD = 1.0


def _routine_upgrades(rng, days, job_id, job_compute, job_dbr, job_photon, job_tasks, job_bias, job_cluster,
                      job_created_us, day_start_us, clusters) -> dict:
    """Jobs on job clusters move to newer runtimes at random times over the whole period.

    Each upgrade is a new job-cluster definition (its own cluster_id, as Databricks creates for
    every job cluster), so a run's runtime is readable from ``compute_ids`` -> ``dim_cluster``.
    The job's current definition keeps index ``job_cluster[j]`` (the latest runtime, which
    ``job_dbr[j]`` then holds); earlier definitions are appended to ``clusters``. Mutates
    ``job_dbr`` and the cluster lists; returns the World fields describing the upgrades.
    """
    c_id, c_ws, c_name, c_src, c_node, c_workers, c_dbr, c_owner, c_created, c_tags = clusters
    latest = len(DBR_VERSIONS) - 1
    custom_libs = rng.random(len(job_id)) < UPGRADE_CUSTOM_LIBS_SHARE  # hidden causes
    release_risk = rng.normal(0.0, UPGRADE_RELEASE_RISK_SD, len(DBR_VERSIONS))
    out: dict[str, list[Any]] = {k: [] for k in ("upgrade_job", "upgrade_day", "upgrade_from", "upgrade_to",
                                                 "upgrade_cluster_before", "upgrade_breaks", "upgrade_fail_logit",
                                                 "upgrade_fix_days")}
    for j in np.nonzero(job_compute == 0)[0]:
        version = int(job_dbr[j])
        day = int(rng.integers(5, max(6, days - 3)))
        steps = []
        while version < latest and day < days and rng.random() < 0.85:
            to = latest if rng.random() < 0.35 else version + 1
            steps.append((day, version, to))
            version = to
            day += int(rng.integers(20, 60))
        if not steps:
            continue
        final = job_cluster[j]
        # definitions in time order: [initial, after step 1, ...]; the last is the final cluster
        before = []
        for k, (_d, v_from, _) in enumerate(steps):
            before.append(len(c_id))
            c_id.append(f"job-{job_id[j]}-run-v{k + 1}")
            c_ws.append(c_ws[final])
            c_name.append(c_name[final])
            c_src.append("JOB")
            c_node.append(c_node[final])
            c_workers.append(c_workers[final])
            c_dbr.append(int(v_from))
            c_owner.append(c_owner[final])
            c_created.append(int(job_created_us[j]) if k == 0 else int(day_start_us[steps[k - 1][0]] + 3 * 3600 * US))
            c_tags.append(dict(c_tags[final]))
        c_dbr[final] = int(steps[-1][2])
        c_created[final] = int(day_start_us[steps[-1][0]] + 3 * 3600 * US)
        job_dbr[j] = steps[-1][2]
        for k, (d, v_from, v_to) in enumerate(steps):
            z = (
                UPGRADE_BREAK_BASE
                + 1.5 * (v_to - v_from - 1)
                + 1.8 * bool(job_photon[j])
                + 0.7 * (int(job_tasks[j]) - 3)
                + 1.5 * (v_from == 0)
                + 1.0 * float(job_bias[j])
                + UPGRADE_CUSTOM_LIBS_EFFECT * custom_libs[j]
                + release_risk[v_to]
                + rng.normal(0.0, UPGRADE_NOISE_SD)
            )
            breaks = bool(rng.random() < 1.0 / (1.0 + np.exp(-z)))
            out["upgrade_job"].append(int(j))
            out["upgrade_day"].append(int(d))
            out["upgrade_from"].append(int(v_from))
            out["upgrade_to"].append(int(v_to))
            out["upgrade_cluster_before"].append(before[k])
            out["upgrade_breaks"].append(breaks)
            # a broken library fails deterministically: retries rarely help (as in the incident)
            out["upgrade_fail_logit"].append(float(rng.uniform(4.5, 6.5)) if breaks else 0.0)
            out["upgrade_fix_days"].append(int(rng.integers(1, 4)))
    dtypes = {"upgrade_breaks": bool, "upgrade_fail_logit": float}
    return {k: np.array(v, dtype=dtypes.get(k, int)) for k, v in out.items()}


def fq_table(world: World, t: int) -> str:
    """``catalog.schema.table`` of table index ``t``."""
    return f"{world.table_catalog[t]}.{world.table_schema[t]}.{world.table_name[t]}"
