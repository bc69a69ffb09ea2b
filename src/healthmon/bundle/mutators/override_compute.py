"""``bundle.cluster_id`` (a target's ``cluster_id``, or the deprecated ``compute_id``): every job
task that names compute runs on that existing cluster instead (the CLI's ``OverrideCompute``).
Tasks without compute (serverless) are left alone; in production mode it is not recommended.
In development mode ``DATABRICKS_CLUSTER_ID`` (set by IDEs) overrides it."""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, format_path, map_pattern, set_path
from healthmon.bundle.step import BundleState, Step

CHECK = "override_compute"
COMPUTE = ("new_cluster", "existing_cluster_id", "environment_key", "job_cluster_key")


def _is_set(field: Value | None) -> bool:
    return field is not None and field.v not in (None, "")


def _override(task: Value, cluster: Value) -> Value:
    if not task.is_map:
        return task
    fe = task.get("for_each_task")
    inner = fe.get("task") if fe is not None and fe.is_map else None
    if fe is not None and inner is not None:
        return task.rebuilt({**task.v, "for_each_task": fe.rebuilt({**fe.v, "task": _override(inner, cluster)})})
    if not any(_is_set(task.get(k)) for k in COMPUTE):
        return task
    kept = {k: x for k, x in task.v.items() if k not in COMPUTE}
    return Value({**kept, "existing_cluster_id": Value(cluster.v, cluster.loc)}, task.loc)


def _compute_id_to_cluster_id(section: Value, path: tuple[str, ...], diags: Diagnostics) -> Value:
    """``compute_id`` under ``section`` becomes ``cluster_id`` (the CLI's ``rewriteComputeIdToClusterId``)."""
    compute = section.get("compute_id") if section.is_map else None
    if compute is None:
        return section
    if compute.v is not None:
        diags.warning("compute_id is deprecated, please use cluster_id instead", compute.loc,
                      format_path((*path, "compute_id")), check=CHECK)
    kept = {k: x for k, x in section.v.items() if k != "compute_id"}
    if compute.v is not None:
        kept["cluster_id"] = compute
    return Value(kept, section.loc)


class ComputeIdToClusterId(Step):
    """The CLI's ``ComputeIdToClusterId`` (load phase, every target, before one is selected). The
    warning about a target's ``compute_id`` names the path ``compute_id``: the CLI rewrites each
    target with an empty path prefix."""

    name = "compute_id_to_cluster_id"
    reads = ("bundle.compute_id", "targets.*.compute_id", "environments.*.compute_id")
    updates = ("bundle.compute_id", "bundle.cluster_id", "targets.*", "environments.*")

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        bundle = b.config.get("bundle")
        if bundle is not None and bundle.is_map:
            b.config = set_path(b.config, ("bundle",), _compute_id_to_cluster_id(bundle, ("bundle",), diags))
        for section in ("environments", "targets"):
            b.config = map_pattern(b.config, f"{section}.*", lambda _p, t: _compute_id_to_cluster_id(t, (), diags))
        return diags


class OverrideCompute(Step):
    name = "override_compute"
    reads = ("bundle.cluster_id", "bundle.mode")
    updates = ("bundle.cluster_id", "resources.jobs.*.tasks[*]")

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        bundle = b.config.get("bundle")
        if bundle is None or not bundle.is_map:
            return diags
        cluster = bundle.get("cluster_id")
        mode = bundle.get("mode")
        mode_name = mode.v if mode is not None else None
        if mode_name == "production" and cluster is not None and cluster.v:
            diags.warning("Setting a cluster override for a target that uses 'mode: production' is not recommended",
                          check=CHECK, detail="It is recommended to always use the same compute for production "
                                              "target for consistency.")
        from_env = b.ctx.environ.get("DATABRICKS_CLUSTER_ID", "")
        if from_env:
            # IDEs set it; the CLI honours it only in development mode.
            if mode_name == "development":
                cluster = Value(from_env)
                b.config = set_path(b.config, ("bundle", "cluster_id"), cluster)
            else:
                diags.warning("The DATABRICKS_CLUSTER_ID variable is set but is ignored since the current target "
                              "does not use 'mode: development'", check=CHECK)
        if cluster is None or not cluster.v:
            return diags
        b.config = map_pattern(b.config, "resources.jobs.*.tasks[*]", lambda _p, t: _override(t, cluster))
        return diags
