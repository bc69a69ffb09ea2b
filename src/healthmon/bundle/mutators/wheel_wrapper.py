"""The CLI's ``trampoline.WrapperWarning``: a job task with a local library (``whl: ./dist/x.whl``)
on a cluster whose ``spark_version`` is below 13.1 cannot install it, unless the experimental
``python_wheel_wrapper`` is on — an error (without a location, as the CLI). Runs after
``translate_paths``, which found the local libraries. A task on an ``existing_cluster_id`` that
references a cluster of the bundle (``${resources.clusters.<key>.id}``) is checked against that
cluster's ``spark_version``, as the CLI does; another cluster id is not checked (the CLI asks the
workspace for that cluster's version; there is none locally)."""

from __future__ import annotations

import re

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, as_bool, get_path, parse_path
from healthmon.bundle.step import BundleState, Step

CHECK = "python_wheel_wrapper"
MESSAGE = ("Python wheel tasks require compute with DBR 13.3+ to include local libraries. Please change your cluster "
           "configuration or use the experimental 'python_wheel_wrapper' setting. See "
           "https://docs.databricks.com/dev-tools/bundles/python-wheel.html for more information.")
_TASK = re.compile(r"^(resources\.jobs\.[^.]+)\.tasks\[(\d+)\]\.libraries\[")
# A pure reference into a bundle cluster (the CLI reads the cluster key from the path's third part).
_BUNDLE_CLUSTER = re.compile(r"^\$\{resources\.clusters\.([^.}\[]+)(\.[^}]*)?\}$")


def lower_than_13_1(spark_version) -> bool:
    """The CLI's ``lowerThanExpectedVersion``: ``12.2.x-scala2.12`` is, ``13.x-...`` (the latest
    13) and versions it cannot read are not."""
    parts = str(spark_version).split(".") if isinstance(spark_version, str) else []
    if len(parts) < 2 or not parts[1]:
        return False
    minor = "99" if parts[1][0] == "x" else parts[1]
    if not (parts[0].isdigit() and minor.isdigit()):
        return False
    return (int(parts[0]), int(minor)) < (13, 1)


def _version(node: Value | None) -> object:
    version = node.get("spark_version") if node is not None and node.is_map else None
    return version.v if version is not None else None


def _cluster_key(cluster: Value) -> object:
    key = cluster.get("job_cluster_key") if cluster.is_map else None
    return key.v if key is not None else None


class WheelWrapperCheck(Step):
    name = "python_wheel_wrapper_check"
    reads = ("experimental.python_wheel_wrapper", "resources.jobs.*.tasks[*]", "resources.jobs.*.job_clusters[*]")
    updates = ()

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        wrapper = get_path(b.config, ("experimental", "python_wheel_wrapper"))
        if wrapper is not None and as_bool(wrapper.v) is True:
            return diags
        for path, ref in b.sources.items():
            m = _TASK.match(path)
            if not ref.library or m is None:
                continue
            job = get_path(b.config, parse_path(m.group(1)))
            task = get_path(b.config, parse_path(f"{m.group(1)}.tasks[{m.group(2)}]"))
            if job is None or task is None or not task.is_map:
                continue
            versions = [_version(task.get("new_cluster"))]
            key = task.get("job_cluster_key")
            clusters = job.get("job_clusters")
            if key is not None and clusters is not None and clusters.is_list:
                versions += [_version(c.get("new_cluster")) for c in clusters.v if _cluster_key(c) == key.v]
            existing = task.get("existing_cluster_id")
            existing_id = existing.v if existing is not None else None
            cluster_ref = _BUNDLE_CLUSTER.match(existing_id) if isinstance(existing_id, str) else None
            if cluster_ref is not None:
                versions.append(_version(get_path(b.config, ("resources", "clusters", cluster_ref.group(1)))))
            if any(lower_than_13_1(v) for v in versions):
                diags.error(MESSAGE, check=CHECK)
                return diags
        return diags
