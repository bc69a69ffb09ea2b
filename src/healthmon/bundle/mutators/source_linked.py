"""``presets.source_linked_deployment`` (the CLI's ``ApplySourceLinkedDeploymentPreset``).

A source-linked deployment runs the jobs on the files where they are in the workspace instead of
an uploaded copy; the CLI offers it only when it runs inside a Databricks workspace. healthmon
never does, so an explicit ``true`` gets the CLI's warning there and is turned off.
"""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, get_path, set_path
from healthmon.bundle.step import BundleState, Step

CHECK = "presets"
FIELD = ("presets", "source_linked_deployment")


class ApplySourceLinkedDeployment(Step):
    name = "apply_source_linked_deployment"
    reads = ("presets.source_linked_deployment",)
    updates = ("presets.source_linked_deployment",)

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        node = get_path(b.config, FIELD)
        if node is None or node.v is not True:
            return diags
        diags.warning("source-linked deployment is available only in the Databricks Workspace", node.loc,
                      f"targets.{b.target}.presets.source_linked_deployment", check=CHECK)
        b.config = set_path(b.config, FIELD, Value(False, node.loc))
        return diags
