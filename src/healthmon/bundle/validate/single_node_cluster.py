"""The CLI's ``SingleNodeCluster``: a cluster with ``num_workers: 0`` that is not configured as a
single-node cluster (no cluster policy, and not all of ``spark.databricks.cluster.profile:
singleNode``, ``spark.master: local[...]``, ``custom_tags.ResourceClass: SingleNode``) is a
warning at its ``num_workers``, with the CLI's explanation. Checked for interactive clusters, job
clusters, task clusters (also in ``for_each_task``) and pipeline clusters."""

from __future__ import annotations

from healthmon.bundle.diag import WARNING, Diagnostic
from healthmon.bundle.dyn import Value, find, format_path
from healthmon.bundle.step import BundleState

CHECK = "single_node_cluster"
SUMMARY = "Single node cluster is not correctly configured"
DETAIL = """num_workers should be 0 only for single-node clusters. To create a
valid single node cluster please ensure that the following properties
are correctly set in the cluster specification:

  spark_conf:
    spark.databricks.cluster.profile: singleNode
    spark.master: local[*]

  custom_tags:
    ResourceClass: SingleNode
  """
PATTERNS = (
    "resources.clusters.*",
    "resources.jobs.*.job_clusters[*].new_cluster",
    "resources.jobs.*.tasks[*].new_cluster",
    "resources.jobs.*.tasks[*].for_each_task.task.new_cluster",
    "resources.pipelines.*.clusters[*]",
)


def _text(node: Value, key: str, field: str) -> str | None:
    section = node.get(key)
    value = section.get(field) if section is not None and section.is_map else None
    return value.v if value is not None and isinstance(value.v, str) else None


def _misconfigured(cluster: Value) -> bool:
    workers = cluster.get("num_workers") if cluster.is_map else None
    if workers is None or not isinstance(workers.v, int) or isinstance(workers.v, bool) or workers.v > 0:
        return False  # only an explicit 0 asks for a single node
    policy = cluster.get("policy_id")
    if policy is not None and policy.v:
        return False  # the policy may set the single-node configuration
    master = _text(cluster, "spark_conf", "spark.master")
    return not (_text(cluster, "spark_conf", "spark.databricks.cluster.profile") == "singleNode"
                and master is not None and master.startswith("local")
                and _text(cluster, "custom_tags", "ResourceClass") == "SingleNode")


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for pattern in PATTERNS:
        for path, cluster in find(state.config, pattern):
            workers = cluster.get("num_workers") if cluster.is_map else None
            if workers is not None and _misconfigured(cluster):
                out.append(Diagnostic(WARNING, SUMMARY, workers.loc, format_path(path), DETAIL, check=CHECK))
    return out
