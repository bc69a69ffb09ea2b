"""Checks on the bundle itself before anything is resolved: a bundle root whose path holds glob
characters (``[``, ``*``, ``?``) cannot be used (include and sync patterns are globs relative to
it), and a ``bundle.name`` with a ``${...}`` reference gets a warning (the name names the
deployment; it is resolved late, after the paths derived from it)."""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.step import BundleState, Step

CHECK = "bundle_root"
GLOB_CHARS = "[*?"


class CheckBundleRoot(Step):
    name = "check_bundle_root"
    reads = ("bundle.name",)
    updates = ()

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        root = str(b.ctx.root)
        if any(c in root for c in GLOB_CHARS):
            diags.error(f"bundle root path {root} contains glob pattern characters ([, *, ?); "
                        "move the bundle to a directory without them", check=CHECK)
        bundle = b.config.get("bundle")
        name = bundle.get("name") if bundle is not None and bundle.is_map else None
        if name is not None and isinstance(name.v, str) and "${" in name.v:
            diags.warning(f'bundle.name "{name.v}" contains a variable reference; use a literal name',
                          name.loc, "bundle.name", check=CHECK)
        return diags
