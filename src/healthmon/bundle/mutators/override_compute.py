"""``bundle.cluster_id`` (a target's ``cluster_id``, or the deprecated ``compute_id``): every job
task that names compute runs on that existing cluster instead (the CLI's ``OverrideCompute``).
Tasks without compute (serverless) are left alone; in production mode it is not recommended."""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, map_pattern, set_path
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
        return Value({**task.v, "for_each_task": Value({**fe.v, "task": _override(inner, cluster)}, fe.loc)},
                     task.loc)
    if not any(_is_set(task.get(k)) for k in COMPUTE):
        return task
    kept = {k: x for k, x in task.v.items() if k not in COMPUTE}
    return Value({**kept, "existing_cluster_id": Value(cluster.v, cluster.loc)}, task.loc)


class OverrideCompute(Step):
    name = "override_compute"
    reads = ("bundle.cluster_id", "bundle.compute_id", "bundle.mode")
    updates = ("bundle.cluster_id", "resources.jobs.*.tasks[*]")

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        bundle = b.config.get("bundle")
        compute = bundle.get("compute_id") if bundle is not None and bundle.is_map else None
        if compute is not None and compute.v:
            diags.warning("compute_id is deprecated, please use cluster_id instead", compute.loc, "bundle.compute_id",
                          check=CHECK)
            b.config = set_path(b.config, ("bundle", "cluster_id"), compute)
            bundle = b.config.get("bundle")
        cluster = bundle.get("cluster_id") if bundle is not None and bundle.is_map else None
        if bundle is None or cluster is None or not cluster.v:
            return diags
        mode = bundle.get("mode")
        if mode is not None and mode.v == "production":
            diags.warning("Setting a cluster override for a target that uses 'mode: production' is not recommended",
                          check=CHECK, detail="It is recommended to always use the same compute for production "
                                              "target for consistency.")
        b.config = map_pattern(b.config, "resources.jobs.*.tasks[*]", lambda _p, t: _override(t, cluster))
        return diags
