"""Every resource has a value (the CLI's ``AllResourcesHaveValues``, the first step of its
initialize phase): ``resources.jobs.foo:`` left empty is the error ``job foo is not defined``
at the resource, instead of a job that silently has no settings."""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import find, format_path
from healthmon.bundle.step import BundleState, Step

CHECK = "resources_have_values"


class CheckResourcesHaveValues(Step):
    name = "check_resources_have_values"
    reads = ("resources.*.*",)
    updates = ()

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        for path, value in find(b.config, "resources.*.*"):
            if value.v is None:
                kind = path[1].removesuffix("s")  # the CLI's singular: "jobs" -> "job"
                diags.error(f"{kind} {path[2]} is not defined", value.loc, format_path(path), check=CHECK)
        return diags
