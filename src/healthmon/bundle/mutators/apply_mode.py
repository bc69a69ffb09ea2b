"""``mode: development`` / ``mode: production``, as the CLI's ``ProcessTargetMode``.

development fills in the presets it implies (where the user did not set them): ``name_prefix``
``"[dev <short_name>] "``, tag ``dev: <short_name>``, ``jobs_max_concurrent_runs: 4``,
``trigger_pause_status: PAUSED``; and turns the deployment lock off (the CLI does, a dev copy
is per-user). ``apply_presets`` then applies them. production changes nothing but recommends an
explicit ``workspace.root_path`` when the default per-user path is used.
"""

from __future__ import annotations

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import Diagnostics, RECOMMENDATION, Diagnostic, fail
from healthmon.bundle.dyn import Value, set_path
from healthmon.settings import short_name

CHECK = "mode"
MODES = ("development", "production")


def apply_mode(config: Value, ctx: LoadContext) -> tuple[Value, Diagnostics]:
    diags = Diagnostics()
    bundle = config.get("bundle")
    mode = bundle.get("mode") if bundle is not None else None
    if mode is None or mode.v is None:
        return config, diags
    if mode.v not in MODES:
        raise fail(f'bundle.mode: unsupported value {mode.v!r} (expected "development" or "production")',
                   mode.loc, "bundle.mode", check=CHECK)
    if mode.v == "development":
        sn = short_name(ctx.user_name)
        presets = config.get("presets")
        p = dict(presets.v) if presets is not None and presets.is_map else {}
        loc = mode.loc
        p.setdefault("name_prefix", Value(f"[dev {sn}] ", loc))
        tags = dict(p["tags"].v) if "tags" in p and p["tags"].is_map else {}
        tags.setdefault("dev", Value(sn, loc))
        p["tags"] = Value(tags, p["tags"].loc if "tags" in p else loc)
        p.setdefault("jobs_max_concurrent_runs", Value(4, loc))
        p.setdefault("trigger_pause_status", Value("PAUSED", loc))
        config = Value({**config.v, "presets": Value(p, presets.loc if presets is not None else loc)}, config.loc)
        lock = config.get("bundle").get("deployment")
        if lock is None or lock.get("lock") is None or lock.get("lock").get("enabled") is None:
            config = set_path(config, ("bundle", "deployment", "lock", "enabled"), Value(False, loc))
    else:
        ws = config.get("workspace")
        root = ws.get("root_path").v if ws is not None and ws.get("root_path") is not None else ""
        if root.startswith(f"/Workspace/Users/{ctx.user_name}/.bundle/"):
            diags.add(Diagnostic(
                RECOMMENDATION,
                "target with 'mode: production' should set 'workspace.root_path' so that only one copy is deployed "
                "(for example /Workspace/Shared/.bundle/${bundle.name}/${bundle.target})",
                mode.loc, "bundle.mode", check=CHECK))
    return config, diags
