"""The CLI's ``VerifyCliVersion`` (load phase): ``bundle.databricks_cli_version`` is a version
constraint the running CLI must satisfy. healthmon answers for the CLI version whose behaviour it
reproduces (``COMPATIBLE_CLI_VERSION``, the issue's baseline), so a bundle pinned to an older or
newer CLI is refused the same way. The constraint syntax is the CLI's (the requirements.txt-like
subset it accepts, checked by its own pattern); ``semantic_version.SimpleSpec`` evaluates it."""

from __future__ import annotations

import re

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import get_path
from healthmon.bundle.step import BundleState, Step

CHECK = "databricks_cli_version"
COMPATIBLE_CLI_VERSION = "0.250.0"

# The CLI's generateConstraintSyntaxRegexp: an optional operator, a version (wildcards `0.1.*`,
# `0.*`, a pre-release `0.1.0-beta`), several joined by commas.
_VERSION = r"(\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?|\d+\.\d+\.\*|\d+\.\*)"
_CLAUSE = rf"(>=|<=|>|<|!=|\^|~)?\s*{_VERSION}"
_CONSTRAINT = re.compile(rf"^\s*{_CLAUSE}(\s*,\s*{_CLAUSE})*\s*$")


class VerifyCliVersion(Step):
    name = "verify_cli_version"
    reads = ("bundle.databricks_cli_version",)
    updates = ()

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        node = get_path(b.config, ("bundle", "databricks_cli_version"))
        if node is None or node.v in (None, ""):
            return diags
        constraint = str(node.v)
        if not _CONSTRAINT.match(constraint):
            diags.error(f'invalid version constraint "{constraint}" specified. Please specify the version '
                        "constraint in the format (>=) 0.0.0(, <= 1.0.0)", check=CHECK)
            return diags
        import semantic_version  # only bundles that pin a CLI version pay for the import

        if not semantic_version.SimpleSpec(re.sub(r"\s+", "", constraint)).match(
                semantic_version.Version(COMPATIBLE_CLI_VERSION)):
            diags.error(f"Databricks CLI version constraint not satisfied. Required: {constraint}, "
                        f"current: {COMPATIBLE_CLI_VERSION}", check=CHECK)
        return diags
