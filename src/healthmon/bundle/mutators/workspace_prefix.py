"""``/Workspace${workspace.file_path}`` → ``${workspace.file_path}`` (the CLI's
``RewriteWorkspacePrefix``): workspace paths already start with /Workspace, so the prefix would
be doubled. Each rewrite is a warning telling the user what to write instead."""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, format_path, map_values
from healthmon.bundle.step import BundleState, Step

CHECK = "workspace_prefix"
FIELDS = ("root_path", "file_path", "artifact_path", "state_path", "resource_path")
PREFIXES = tuple((f"/Workspace{sep}${{workspace.{f}}}", f"${{workspace.{f}}}") for f in FIELDS for sep in ("/", ""))


class RewriteWorkspacePrefix(Step):
    name = "rewrite_workspace_prefix"
    reads = ("*",)
    updates = ("*",)

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()

        def fix(path, node: Value) -> Value:
            text = node.v
            if not isinstance(text, str) or "/Workspace" not in text or "${workspace." not in text:
                return node
            new = text
            for old, repl in PREFIXES:
                if old in new:
                    diags.warning(f'substring "{old}" found in "{text}". '
                                  f'Please update this to "{new.replace(old, repl)}".',
                                  node.loc, format_path(path), check=CHECK)
                    new = new.replace(old, repl)
            return node if new == text else Value(new, node.loc)

        b.config = map_values(b.config, fix)
        return diags
