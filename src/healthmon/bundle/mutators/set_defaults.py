"""Defaults the real CLI fills in.

``set_workspace_defaults`` runs before interpolation (so ``${workspace.file_path}`` resolves):
``current_user`` (userName, short_name), ``root_path`` = ``~/.bundle/${bundle.name}/${bundle.target}``
with ``~`` = ``/Workspace/Users/<userName>``, ``file_path`` / ``resource_path`` /
``artifact_path`` / ``state_path`` under it, and ``/Workspace`` prefixed to ``/Users/...`` and
``/Shared/...`` paths.

``set_resource_defaults`` runs after mode and presets (whose "where unset" rules must see the
user's values first): every job gets ``max_concurrent_runs: 1``, ``format: MULTI_TASK``,
``queue.enabled: true``, ``deployment: {kind: BUNDLE, metadata_file_path: <state_path>/metadata.json}``,
``edit_mode: UI_LOCKED`` and, if it has none, ``name`` = its resource key.
"""

from __future__ import annotations

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import fail
from healthmon.bundle.dyn import Value, kind_name, set_path
from healthmon.settings import short_name

CHECK = "defaults"
WORKSPACE_PATHS = ("root_path", "file_path", "resource_path", "artifact_path", "state_path")


def _expand(path: str, user: str) -> str:
    if path == "~" or path.startswith("~/"):
        path = f"/Workspace/Users/{user}" + path[1:]
    if path.startswith("/Users/") or path.startswith("/Shared/"):
        path = "/Workspace" + path
    return path


def set_workspace_defaults(config: Value, ctx: LoadContext) -> Value:
    bundle = config.get("bundle")
    if bundle is None or bundle.v is None:
        raise fail("bundle: required section is missing (expected bundle.name)", config.loc, "bundle", check=CHECK)
    if not bundle.is_map:
        raise fail(f"bundle: expected a map with at least a name, found {kind_name(bundle)}", bundle.loc, "bundle",
                   check=CHECK)
    name = bundle.get("name")
    if name is None or not isinstance(name.v, str) or not name.v:
        raise fail("bundle.name: required field is missing or not a string", bundle.loc, "bundle.name", check=CHECK)
    ws = config.get("workspace")
    if ws is not None and ws.v is not None and not ws.is_map:
        raise fail("workspace: expected a map", ws.loc, "workspace", check=CHECK)
    loc = ws.loc if ws is not None else bundle.loc
    user = ctx.user_name
    config = set_path(config, ("workspace", "current_user"), Value(
        {"userName": Value(user, loc), "short_name": Value(short_name(user), loc)}, loc))
    ws = config.get("workspace")

    def current(field: str) -> Value | None:
        v = ws.get(field)
        return v if v is not None and v.v is not None else None

    root = current("root_path") or Value("~/.bundle/${bundle.name}/${bundle.target}", loc)
    if not isinstance(root.v, str):
        raise fail("workspace.root_path: expected a string", root.loc, "workspace.root_path", check=CHECK)
    values = {"root_path": Value(_expand(root.v, user), root.loc)}
    for field, suffix in (("file_path", "files"), ("resource_path", "resources"),
                          ("artifact_path", "artifacts"), ("state_path", "state")):
        v = current(field) or Value("${workspace.root_path}/" + suffix, loc)
        if not isinstance(v.v, str):
            raise fail(f"workspace.{field}: expected a string", v.loc, f"workspace.{field}", check=CHECK)
        values[field] = Value(_expand(v.v, user), v.loc)
    return Value({**config.v, "workspace": Value({**ws.v, **values}, ws.loc)}, config.loc)


def _job_defaults(key: str, job: Value, state_path: str) -> Value:
    loc = job.loc
    out = dict(job.v)

    def default(field: str, value) -> None:
        if field not in out or out[field].v is None:
            out[field] = Value(value, loc)

    default("name", key)
    default("max_concurrent_runs", 1)
    default("format", "MULTI_TASK")
    default("edit_mode", "UI_LOCKED")
    queue = out.get("queue")
    if queue is None or queue.v is None:
        out["queue"] = Value({"enabled": Value(True, loc)}, loc)
    deployment = out.get("deployment")
    dep = dict(deployment.v) if deployment is not None and deployment.is_map else {}
    dep.setdefault("kind", Value("BUNDLE", loc))
    dep.setdefault("metadata_file_path", Value(f"{state_path}/metadata.json", loc))
    out["deployment"] = Value(dep, deployment.loc if deployment is not None else loc)
    return Value(out, loc)


def set_resource_defaults(config: Value) -> Value:
    res = config.get("resources")
    jobs = res.get("jobs") if res is not None else None
    if jobs is None or not jobs.is_map:
        return config
    state = config.get("workspace").get("state_path").v
    new_jobs = {k: _job_defaults(k, j, state) if j.is_map else j for k, j in jobs.v.items()}
    return set_path(config, ("resources", "jobs"), Value(new_jobs, jobs.loc))
