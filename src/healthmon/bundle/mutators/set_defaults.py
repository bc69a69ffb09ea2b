"""Defaults the real CLI fills in.

``set_workspace_defaults`` runs before interpolation (so ``${workspace.file_path}`` resolves):
``current_user`` (userName, short_name), ``root_path`` = ``~/.bundle/${bundle.name}/${bundle.target}``
with ``~`` = ``/Workspace/Users/<userName>``, ``file_path`` / ``resource_path`` /
``artifact_path`` / ``state_path`` under it, and ``/Workspace`` prefixed to ``/Users/...`` and
``/Shared/...`` paths.

``set_resource_defaults`` runs after mode and presets (whose "where unset" rules must see the
user's values first): ``RESOURCE_DEFAULTS`` (a job without a name is ``Untitled``, a task without
a key gets ``""``, ``max_concurrent_runs: 1``, ...), ``queue.enabled: true``, ``deployment:
{kind: BUNDLE, metadata_file_path: <state_path>/metadata.json}`` on jobs and pipelines, dashboards'
and alerts' ``parent_path`` (the resource path).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from healthmon.bundle import lookup
from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import Diagnostics, fail
from healthmon.bundle.dyn import NO_LOC, Path, Value, from_plain, get_path, map_pattern, required_path, set_path, walk
from healthmon.bundle.mutators.interpolate import REF
from healthmon.bundle.step import BundleState, Step
from healthmon.settings import short_name

CHECK = "defaults"
WORKSPACE_PATHS = ("root_path", "file_path", "resource_path", "artifact_path", "state_path")


def _expand(path: str, user: str) -> str:
    if path == "~" or path.startswith("~/"):
        path = f"/Workspace/Users/{user}" + path[1:]
    # The CLI's PrependWorkspacePrefix: absolute paths live under /Workspace (or /Volumes).
    if path.startswith("/") and path != "/" and not path.startswith(("/Workspace/", "/Volumes/")) \
            and path != "/Workspace":
        path = "/Workspace" + path
    return path


# What ``workspace.current_user`` holds without asking the workspace; any other field
# (``id``, ``displayName``, ``active``, ``groups``, ...) comes from its SCIM ``Me``.
OFFLINE_USER_FIELDS = ("userName", "short_name", "domain_friendly_name")
_USER_FIELD_REF = re.compile(r"\$\{workspace\.current_user\.([^.}\[]+)")


def domain_friendly_name(user_name: str) -> str:
    """``short_name`` fit for a DNS label (an app name): the local part of the user name,
    lowercased, each run of characters other than a-z and 0-9 one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", user_name.split("@", 1)[0].lower()).strip("-")


def current_user(config: Value, user: str) -> dict:
    """The CLI's ``workspace.current_user``: SCIM ``Me`` plus ``short_name`` and
    ``domain_friendly_name``. Reading the local workspace costs a database connection (~0.25 s
    CPU, half of validate's budget), so it is read only when the configuration references a field
    that needs it; otherwise the user name is all there is to know."""
    me: dict = {"userName": user}
    needed = {m.group(1) for _, node in walk(config) if isinstance(node.v, str) and "current_user." in node.v
              for m in _USER_FIELD_REF.finditer(node.v)}
    if needed - set(OFFLINE_USER_FIELDS):
        try:
            me = {k: v for k, v in lookup.current_user(user).items() if k != "schemas"}
        except lookup.LookupError_ as exc:
            raise fail(f"failed to resolve workspace.current_user: {exc}", check=CHECK) from None
    return {**me, "short_name": short_name(user), "domain_friendly_name": domain_friendly_name(user)}


def set_workspace_defaults(config: Value, ctx: LoadContext) -> Value:
    bundle = config.get("bundle")
    name = bundle.get("name") if bundle is not None and bundle.is_map else None
    if bundle is None or name is None or not isinstance(name.v, str) or not name.v:
        # The CLI's DefineDefaultWorkspaceRoot (diag.Errorf): no location, the message names the field.
        raise fail("unable to define default workspace root: bundle name not defined", check=CHECK)
    ws = config.get("workspace")
    if ws is not None and ws.v is not None and not ws.is_map:
        raise fail("workspace: expected a map", ws.loc, "workspace", check=CHECK)
    # What the CLI sets on its typed configuration has no location (FromTyped gives a field the
    # user did not write none), so --include-locations does not list it.
    user = ctx.user_name
    config = set_path(config, ("workspace", "current_user"), from_plain(current_user(config, user), NO_LOC))
    ws = required_path(config, ("workspace",))

    def current(field: str) -> Value | None:
        v = ws.get(field)
        return v if v is not None and v.v is not None else None

    # Literal values, as the CLI's DefineDefaultWorkspaceRoot (the header shows them even when a
    # later step fails).
    root = current("root_path") or Value(f"~/.bundle/{name.v}/{required_path(config, ('bundle', 'target')).v}")
    if not isinstance(root.v, str):
        raise fail("workspace.root_path: expected a string", root.loc, "workspace.root_path", check=CHECK)
    values = {"root_path": Value(_expand(root.v, user), root.loc)}
    for field, suffix in (("file_path", "files"), ("resource_path", "resources"),
                          ("artifact_path", "artifacts"), ("state_path", "state")):
        v = current(field) or Value(values["root_path"].v + "/" + suffix)
        if not isinstance(v.v, str):
            raise fail(f"workspace.{field}: expected a string", v.loc, f"workspace.{field}", check=CHECK)
        values[field] = Value(_expand(v.v, user), v.loc)
    return config.rebuilt({**config.v, "workspace": ws.rebuilt({**ws.v, **values})})


# Where unset (and where the parent exists), as the CLI's resource defaults.
RESOURCE_DEFAULTS = (
    ("resources.jobs.*", "name", "Untitled"),
    ("resources.jobs.*", "max_concurrent_runs", 1),
    ("resources.jobs.*", "format", "MULTI_TASK"),
    ("resources.jobs.*", "edit_mode", "UI_LOCKED"),
    ("resources.jobs.*.tasks[*]", "task_key", ""),
    ("resources.jobs.*.tasks[*].dbt_task", "schema", "default"),
    ("resources.jobs.*.tasks[*].for_each_task.task.dbt_task", "schema", "default"),
    ("resources.jobs.*.job_clusters[*].new_cluster.workload_type.clients", "notebooks", True),
    ("resources.jobs.*.job_clusters[*].new_cluster.workload_type.clients", "jobs", True),
    ("resources.volumes.*", "volume_type", "MANAGED"),
    ("resources.dashboards.*", "embed_credentials", False),
)
# Where unset, a value taken from the resolved workspace paths.
WORKSPACE_DEFAULTS = (
    ("resources.dashboards.*", "parent_path", "resource_path"),
    ("resources.alerts.*", "parent_path", "resource_path"),
)


def _set_default(node: Value, field: str, value) -> Value:
    if not node.is_map or (field in node.v and node.v[field].v is not None):
        return node
    # No location, as the CLI's SetDefault (dyn.V) and typed defaults: the user did not write it.
    return node.rebuilt({**node.v, field: Value(value)})


def _filler(field: str, value: Any) -> Callable[[Path, Value], Value]:
    return lambda _path, node: _set_default(node, field, value)


def _volume_path(_path, node: Value) -> Value:
    """A volume's files live under ``/Volumes/<catalog>/<schema>/<name>`` (Unity Catalog's
    ``volume_path``); left unset while a part is unknown."""
    if not node.is_map or node.get("volume_path") is not None:
        return node
    parts = [node.get(k) for k in ("catalog_name", "schema_name", "name")]
    known = [p.v for p in parts if p is not None and isinstance(p.v, str) and p.v and "${" not in p.v]
    if len(known) != len(parts):
        return node
    return node.rebuilt({**node.v, "volume_path": Value("/Volumes/" + "/".join(known))})


def set_resource_defaults(config: Value) -> Value:
    for pat, field, value in RESOURCE_DEFAULTS:
        config = map_pattern(config, pat, _filler(field, value))
    for pat, field, ws_field in WORKSPACE_DEFAULTS:
        config = map_pattern(config, pat, _filler(field, required_path(config, ("workspace", ws_field)).v))
    state = required_path(config, ("workspace", "state_path")).v

    def job(_path, node: Value) -> Value:
        if not node.is_map:
            return node
        queue = node.get("queue")
        if queue is None or queue.v is None:
            node = node.rebuilt({**node.v, "queue": Value({"enabled": Value(True)})})
        return annotate(_path, node)

    def annotate(_path, node: Value) -> Value:
        """The CLI's AnnotateJobs / AnnotatePipelines: the deployment that owns the resource."""
        if not node.is_map:
            return node
        out = dict(node.v)
        deployment = out.get("deployment")
        dep = dict(deployment.v) if deployment is not None and deployment.is_map else {}
        dep.setdefault("kind", Value("BUNDLE"))
        dep.setdefault("metadata_file_path", Value(f"{state}/metadata.json"))
        out["deployment"] = deployment.rebuilt(dep) if deployment is not None else Value(dep)
        return node.rebuilt(out)

    config = map_pattern(config, "resources.jobs.*", job)
    config = map_pattern(config, "resources.pipelines.*", annotate)
    config = map_pattern(config, "resources.volumes.*", _volume_path)
    return config


class DefineWorkspaceDefaults(Step):
    name = "define_workspace_defaults"
    reads = ("bundle.name", "workspace.*")
    updates = ("workspace.current_user", "workspace.root_path", "workspace.file_path", "workspace.resource_path",
               "workspace.artifact_path", "workspace.state_path")

    def run(self, b: BundleState) -> Diagnostics:
        diags = auth_interpolation_warnings(b.config)
        host = get_path(b.config, ("workspace", "host"))
        problem = host_parse_error(host.v) if host is not None and isinstance(host.v, str) else None
        if problem:
            # The CLI asks the workspace for the current user here, with the host as written: a
            # host Go cannot parse (an unresolved ${var.host}) fails the request, and loading stops
            # before the user and the workspace paths are known.
            diags.error(f"failed during request visitor: {problem}", check="workspace")
            return diags
        b.config = set_workspace_defaults(b.config, b.ctx)
        return diags


# Characters Go's url.Parse accepts in a host besides letters and digits (shouldEscape with
# encodeHost: unreserved marks, sub-delims, ':' for the port, '[' ']' for IPv6, '<' '>' '"');
# '%' escapes and non-ASCII letters are accepted too.
_GO_HOST_CHARS = set("-_.~!$&'()*+,;=:[]<>\"%")
_GO_PORT = re.compile(r":[0-9]*")


def host_parse_error(host: str) -> str | None:
    """Go's ``url.Parse`` error for the host the Databricks SDK builds (``https://`` added when
    there is no scheme), as the SDK reports it; None when Go parses it."""
    url = host if host.startswith(("http://", "https://")) else "https://" + host
    authority = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
    name = authority.rsplit("@", 1)[-1]
    if not name.startswith("[") and ":" in name:
        port = name[name.rindex(":"):]
        if not _GO_PORT.fullmatch(port):
            return f'parse "{url}": invalid port "{port}" after host'
    for c in name:
        if not (c.isascii() and c.isalnum()) and c.isascii() and c not in _GO_HOST_CHARS:
            return f'parse "{url}": invalid character "{c}" in host name'
    return None


# The workspace fields that configure authentication and the environment variable that sets each
# (the CLI's InterpolationInAuthConfig, with the SDK's attribute → environment names): the CLI
# authenticates before it resolves references, so a reference there is not used.
AUTH_FIELDS = {
    "host": "DATABRICKS_HOST", "profile": "DATABRICKS_CONFIG_PROFILE", "auth_type": "DATABRICKS_AUTH_TYPE",
    "metadata_service_url": "DATABRICKS_METADATA_SERVICE_URL", "client_id": "DATABRICKS_CLIENT_ID",
    "google_service_account": "DATABRICKS_GOOGLE_SERVICE_ACCOUNT",
    "azure_resource_id": "DATABRICKS_AZURE_RESOURCE_ID", "azure_use_msi": "ARM_USE_MSI",
    "azure_client_id": "ARM_CLIENT_ID", "azure_tenant_id": "ARM_TENANT_ID", "azure_environment": "ARM_ENVIRONMENT",
    "azure_login_app_id": "DATABRICKS_AZURE_LOGIN_APP_ID",
}


def auth_interpolation_warnings(config: Value) -> Diagnostics:
    diags = Diagnostics()
    for field, env in AUTH_FIELDS.items():
        v = get_path(config, ("workspace", field))
        if v is not None and isinstance(v.v, str) and REF.search(v.v):
            diags.warning("Variable interpolation is not supported for fields that configure authentication",
                          v.loc, f"workspace.{field}", check="workspace",
                          detail=f"Interpolation is not supported for the field workspace.{field}. Please set\n"
                                 f"the {env} environment variable if you wish to configure this field at runtime.")
    return diags


class SetResourceDefaults(Step):
    name = "set_resource_defaults"
    reads = ("resources.*.*", "workspace.state_path")
    updates = tuple(f"{p}.{f}" for p, f, _ in RESOURCE_DEFAULTS + WORKSPACE_DEFAULTS) + (
        "resources.jobs.*.queue", "resources.jobs.*.deployment", "resources.pipelines.*.deployment",
        "resources.volumes.*.volume_path")

    def run(self, b: BundleState) -> None:
        b.config = set_resource_defaults(b.config)
