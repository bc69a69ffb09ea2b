"""``run_as`` (the CLI's ``SetRunAs``): the identity every job of the bundle runs as.

``run_as`` names exactly one identity, ``user_name`` or ``service_principal_name``; an empty
``run_as: {}`` is dropped, while ``run_as:`` left null names no identity (the CLI's
``validateRunAs`` fails fast on a null section, also one a target sets: it replaces the root's).
An identity other than the deploying user is refused, as the CLI's ``validateRunAs``, on a bundle
with resources whose API has no run-as setting (pipelines, model serving endpoints, quality
monitors, dashboards, apps) — in every mode, development included. The identity is copied onto each
job that sets no ``run_as`` of its own (the Jobs API field); deploy stores it, and the local
runner runs the job as it.

With ``experimental.use_legacy_run_as`` (the CLI's legacy mode) nothing is refused: the CLI's
warning, the identity copied onto jobs as written, and every pipeline owned by it (an
``IS_OWNER`` entry replacing the identity's own) unless it is the deploying user.
"""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, as_bool, get_path, in_place_of, map_pattern
from healthmon.bundle.step import BundleState, Step

CHECK = "run_as"
IDENTITIES = ("user_name", "service_principal_name")
# The resource kinds the CLI's validateRunAs refuses under another identity, in its order.
NO_RUN_AS = ("pipelines", "model_serving_endpoints", "quality_monitors", "dashboards", "apps")
RUN_AS_DOCS = "https://docs.databricks.com/dev-tools/bundles/run-as.html"
LEGACY_WARNING = (
    "You are using the legacy mode of run_as. The support for this mode is experimental and might be removed in a "
    "future release of the CLI. In order to run the DLT pipelines in your DAB as the run_as user this mode changes "
    "the owners of the pipelines to the run_as identity, which requires the user deploying the bundle to be a "
    "workspace admin, and also a Metastore admin if the pipeline target is in UC.")


def identity(run_as: Value) -> dict[str, Value]:
    return {k: run_as.v[k] for k in IDENTITIES if k in run_as.v and run_as.v[k].v not in (None, "")}


class SetRunAs(Step):
    name = "set_run_as"
    reads = ("run_as", "workspace.current_user.userName", "resources.*")
    updates = ("run_as", "resources.jobs.*.run_as")

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        run_as = b.config.get("run_as")
        if run_as is None:
            return diags
        if run_as.is_map and not run_as.v:
            b.config = Value({k: v for k, v in b.config.v.items() if k != "run_as"}, b.config.loc)
            return diags
        if run_as.v is not None and not run_as.is_map:
            return diags  # reported by the section check
        ident = identity(run_as) if run_as.is_map else {}
        user = get_path(b.config, ("workspace", "current_user", "userName"))
        current = user.v if user is not None else None
        legacy = get_path(b.config, ("experimental", "use_legacy_run_as"))
        if legacy is not None and as_bool(legacy.v) is True:
            if current not in [who.v for who in ident.values()]:
                b.config = map_pattern(b.config, "resources.pipelines.*", lambda _p, node: _owned_by(node, ident))
            b.config = _copy_to_jobs(b.config, ident)
            diags.warning(LEGACY_WARNING, legacy.loc, "experimental.use_legacy_run_as", check=CHECK)
            return diags
        if not ident:
            diags.error("run_as section must specify exactly one identity. Neither service_principal_name nor "
                        "user_name is specified", run_as.loc, check=CHECK)
            return diags
        if len(ident) > 1:
            # The CLI's validateRunAs goes on with the service principal as the identity.
            diags.error("run_as section cannot specify both user_name and service_principal_name", run_as.loc,
                        check=CHECK)
        who = ident.get("service_principal_name") or ident["user_name"]
        if who.v != current:
            _refuse_unsupported(b.config, current, who.v, diags)
        if diags.has_errors():
            return diags
        b.config = _copy_to_jobs(b.config, ident)
        return diags


def _copy_to_jobs(config: Value, ident: dict[str, Value]) -> Value:
    """The CLI's ``setRunAsForJobs``: each job without a ``run_as`` of its own gets the identity,
    set on the typed job (so without a location)."""

    def job(_p, node: Value) -> Value:
        own = node.get("run_as") if node.is_map else None
        if not node.is_map or (own is not None and own.is_map and identity(own)):
            return node
        copied = {field: Value(who.v) for field, who in ident.items()}
        return node.rebuilt({**node.v, "run_as": in_place_of(own, copied)})

    return map_pattern(config, "resources.jobs.*", job)


def _owned_by(pipeline: Value, ident: dict[str, Value]) -> Value:
    """The CLI's ``setPipelineOwnersToRunAsIdentity``: the identity's own entries give way to one
    ``IS_OWNER`` entry, appended."""
    if not pipeline.is_map:
        return pipeline
    perms = pipeline.get("permissions")
    kept = [p for p in (perms.v if perms is not None and perms.is_list else [])
            if not (p.is_map and any(p.get(f) is not None and p.get(f).v == who.v for f, who in ident.items()))]
    owner = Value({"level": Value("IS_OWNER"), **{f: Value(who.v) for f, who in ident.items()}})
    return pipeline.rebuilt({**pipeline.v, "permissions": in_place_of(perms, [*kept, owner])})


def _refuse_unsupported(config: Value, current, who, diags: Diagnostics) -> None:
    resources = config.get("resources")
    for kind in NO_RUN_AS:
        group = resources.get(kind) if resources is not None and resources.is_map else None
        if group is not None and group.is_map and group.v:
            # The CLI's wording, typo included, at the kind's location and with no config path.
            diags.error(f"{kind} do not support a setting a run_as user that is different from the owner.\n"
                        f"Current identity: {current}. Run as identity: {who}.\n"
                        f"See {RUN_AS_DOCS} to learn more about the run_as property.", group.loc, check=CHECK)
