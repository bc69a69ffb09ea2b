"""``mode: development`` / ``mode: production``, as the CLI's ``ProcessTargetMode``.

development fills in the presets it implies (where the user did not set them): ``name_prefix``
``"[dev <short_name>] "``, tag ``dev: <short_name>``, ``jobs_max_concurrent_runs: 4``,
``trigger_pause_status: PAUSED``; and turns the deployment lock off (the CLI does, a dev copy
is per-user). ``apply_presets`` then applies them. production changes nothing; it refuses a
development pipeline and asks for a target-level ``workspace.root_path`` (see
``_production_checks``).
"""

from __future__ import annotations

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import ERROR, RECOMMENDATION, Diagnostic, Diagnostics, fail
from healthmon.bundle.dyn import NO_LOC, Value, as_bool, find, get_path, is_zero, set_path
from healthmon.bundle.mutators.permissions import deploying_principal
from healthmon.bundle.mutators.run_as import identity
from healthmon.bundle.step import BundleState, Step
from healthmon.bundle.tags import normalize_value
from healthmon.settings import short_name

CHECK = "mode"
MODES = ("development", "production")


def apply_mode(config: Value, ctx: LoadContext, target: Value | None = None) -> tuple[Value, Diagnostics]:
    """``target``: the selected target's own settings (where production mode looks for
    ``workspace.root_path``)."""
    diags = Diagnostics()
    bundle = config.get("bundle")
    mode = bundle.get("mode") if bundle is not None else None
    if mode is None or mode.v in (None, ""):
        return config, diags
    if mode.v not in MODES:
        # The CLI's ProcessTargetMode: a plain Go error (diag.Errorf), so no location.
        raise fail(f"unsupported value '{mode.v}' specified for 'mode': must be either 'development' or "
                   f"'production'", check=CHECK)
    if mode.v == "development":
        sn = short_name(ctx.user_name)
        presets = config.get("presets")
        diags.extend(_development_checks(config, ctx.user_name, sn))
        if diags.has_errors():
            return config, diags
        p = dict(presets.v) if presets is not None and presets.is_map else {}
        loc = NO_LOC  # set on the CLI's typed presets: no location
        # As the CLI's transformDevelopmentMode, which tests the typed presets: an explicit empty
        # prefix, 0 runs or empty pause status counts as unset.
        _fill_unset(p, "name_prefix", Value(f"[dev {sn}] ", loc))
        tags = dict(p["tags"].v) if "tags" in p and p["tags"].is_map else {}
        tags.setdefault("dev", Value(normalize_value(sn, _host(config)), loc))
        p["tags"] = Value(tags, p["tags"].loc if "tags" in p else loc)
        _fill_unset(p, "jobs_max_concurrent_runs", Value(4, loc))
        _fill_unset(p, "trigger_pause_status", Value("PAUSED", loc))
        p.setdefault("pipelines_development", Value(True, loc))
        config = config.rebuilt({**config.v, "presets": Value(p, presets.loc if presets is not None else loc)})
        if get_path(config, ("bundle", "deployment", "lock", "enabled")) is None:
            config = set_path(config, ("bundle", "deployment", "lock", "enabled"), Value(False, loc))
    else:
        diags.extend(_production_checks(config, ctx.user_name, target))
    return config, diags


def _fill_unset(presets: dict[str, Value], key: str, value: Value) -> None:
    """Set ``key`` unless it holds a non-zero value (Go's zero values: "", 0, null)."""
    if is_zero(presets.get(key)):
        presets[key] = value


def _host(config: Value) -> str | None:
    host = get_path(config, ("workspace", "host"))
    return host.v if host is not None and isinstance(host.v, str) else None


def _runs_as_set(config: Value) -> bool:
    """Every job runs as a named identity (its own ``run_as`` or the bundle's, which
    ``set_run_as`` has copied onto it) — the CLI's ``isRunAsSet``."""
    if identity_of(config.get("run_as")):
        return True
    jobs = get_path(config, ("resources", "jobs"))
    return all(identity_of(job.get("run_as") if job.is_map else None)
               for job in (jobs.v.values() if jobs is not None and jobs.is_map else ()))


def identity_of(run_as: Value | None) -> dict:
    return identity(run_as) if run_as is not None and run_as.is_map else {}


def _production_checks(config: Value, user: str, target: Value | None) -> Diagnostics:
    """The CLI's ``validateProductionMode``: no development pipelines, and one deployed copy,
    which only a target-level ``workspace.root_path`` guarantees. Without it, a bundle whose
    jobs all run as a named identity (or deployed by a service principal) gets a
    recommendation, any other an error."""
    diags = Diagnostics()
    for _path, dev in find(config, "resources.pipelines.*.development"):
        if as_bool(dev.v) is True:
            diags.error("target with 'mode: production' cannot include a pipeline with 'development: true'",
                        check=CHECK)
            return diags
    ws = target.get("workspace") if target is not None and target.is_map else None
    root = ws.get("root_path") if ws is not None and ws.is_map else None
    if root is not None and root.v:
        return diags
    advice = ("set 'workspace.root_path' to make sure only one copy is deployed. A common practice is to use a "
              f"username or principal name in this path, i.e. root_path: /Workspace/Users/{user}/.bundle/"
              "${bundle.name}/${bundle.target}")
    if _runs_as_set(config) or deploying_principal(user)[0] == "service_principal_name":
        severity, verb = RECOMMENDATION, "should"
    else:
        severity, verb = ERROR, "must"
    diags.add(Diagnostic(severity, f"target with 'mode: production' {verb} {advice}",
                         target.loc if target is not None else None, "workspace.root_path", check=CHECK))
    return diags


def _development_checks(config: Value, user: str, sn: str) -> Diagnostics:
    """The CLI's ``validateDevelopmentMode``: a development copy must not run unpaused by
    default and must have per-user names and paths. Each finding is reported (the CLI appends
    them, in this order); the first workspace path without the user name is the only path one."""
    diags = Diagnostics()
    presets = config.get("presets")
    pause = presets.get("trigger_pause_status") if presets is not None and presets.is_map else None
    if pause is not None and pause.v == "UNPAUSED":
        diags.error("target with 'mode: development' cannot set trigger pause status to UNPAUSED by default",
                    pause.loc, check=CHECK)
    ws = config.get("workspace")
    for field in ("root_path", "state_path", "file_path", "artifact_path"):
        node = ws.get(field) if ws is not None else None
        if node is not None and isinstance(node.v, str) and node.v and user not in node.v and sn not in node.v:
            if field == "artifact_path" and node.v.startswith("/Volumes"):
                diags.error(f"{field} should contain the current username or ${{workspace.current_user.short_name}} "
                            "to ensure uniqueness when using 'mode: development'", check=CHECK)
            else:
                diags.error(f"{field} must start with '~/' or contain the current username to ensure uniqueness "
                            "when using 'mode: development'", check=CHECK)
            break
    prefix = presets.get("name_prefix") if presets is not None and presets.is_map else None
    if prefix is not None and isinstance(prefix.v, str) and prefix.v and sn not in prefix.v and user not in prefix.v:
        diags.error("prefix should contain the current username or ${workspace.current_user.short_name} to ensure "
                    "uniqueness when using 'mode: development'", prefix.loc, check=CHECK)
    return diags


class ApplyMode(Step):
    name = "apply_mode"
    reads = ("bundle.mode", "presets", "workspace.*", "targets.<t>.workspace.root_path", "run_as",
             "resources.jobs.*.run_as", "resources.pipelines.*.development")
    updates = ("presets", "bundle.deployment.lock.enabled")

    def run(self, b: BundleState) -> Diagnostics:
        b.config, found = apply_mode(b.config, b.ctx, b.target_settings)
        return found
