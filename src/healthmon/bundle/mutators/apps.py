"""The CLI's ``apps.Validate`` (initialize, after the artifacts are prepared): two apps deploying
the same source directory would overwrite each other's configuration (an error), and an app that
sets ``config`` in the bundle while its source directory holds an ``app.yml`` / ``app.yaml`` has
two configurations (an error: one would silently win; an ``app.yml`` without ``config`` is fine)."""

from __future__ import annotations

import posixpath

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import get_path
from healthmon.bundle.step import BundleState, Step
from healthmon.workspace_files import is_file

CONFIG_FILES = ("app.yml", "app.yaml")


class ValidateApps(Step):
    name = "validate_apps"
    reads = ("resources.apps.*.source_code_path", "resources.apps.*.config", "workspace.file_path")
    updates = ()

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        apps = get_path(b.config, ("resources", "apps"))
        if apps is None or not apps.is_map:
            return diags
        file_path = get_path(b.config, ("workspace", "file_path"))
        prefix = file_path.v if file_path is not None and isinstance(file_path.v, str) else ""
        used: dict[object, str] = {}
        for key, app in apps.v.items():
            if not app.is_map:
                continue
            source = app.get("source_code_path")
            source_path = source.v if source is not None else None
            if source_path in used:
                diags.error("Duplicate app source code path", source.loc if source is not None else app.loc,
                            detail=f"app resource '{key}' has the same source code path as app resource "
                                   f"'{used[source_path]}', this will lead to the app configuration being "
                                   "overriden by each other", check=self.name)
            used.setdefault(source_path, key)
            if app.get("config") is None or not isinstance(source_path, str):
                continue
            # As the CLI: the workspace path made relative to file_path, looked up in the sync root.
            app_dir = source_path[len(prefix):] if source_path.startswith(prefix) else source_path
            for name in CONFIG_FILES:
                config_file = posixpath.join(app_dir, name)
                if is_file(b.sync_dir() / config_file.lstrip("/")):
                    app_name = app.get("name")
                    diags.error(f"{name} detected", check=self.name,
                                  detail=f"remove {config_file} and use 'config' property for app resource "
                                         f"'{app_name.v if app_name is not None else ''}' instead")
        return diags
