"""Load a bundle: parse ``databricks.yml``, then apply the steps of ``bundle.pipeline`` (load,
initialize, validate), each a ``bundle.step.Step`` (the databricks/cli mutator design).

A load or initialize step that reports an error stops loading with ``BundleError`` (every
diagnostic with ``file:line:col``); validation findings are returned in ``Bundle.diagnostics``
so callers decide (``validate`` prints them, ``deploy`` refuses on errors). ``deploy_checks``
applies the deploy phase (healthmon's own checks) to a loaded bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import BundleError, Diagnostics, fail
from healthmon.bundle.dyn import Value, format_path, kind_name, to_plain, walk
from healthmon.bundle.mutators.translate_paths import SourceRef
from healthmon.errors import HealthmonError, Location
from healthmon.workspace_files import exists, is_dir, is_file

CONFIG_NAMES = ("databricks.yml", "databricks.yaml", "bundle.yml", "bundle.yaml")


@dataclass
class Bundle:
    root: Path
    target: str
    value: Value
    diagnostics: Diagnostics
    sources: dict[str, SourceRef] = field(default_factory=dict)
    sync_root: Path | None = None  # the directory deployed to workspace.file_path; None = the bundle root
    ctx: LoadContext | None = None  # how it was loaded; None when the root file did not parse
    _plain: dict | None = None

    @property
    def sync_dir(self) -> Path:
        return self.sync_root or self.root

    @property
    def config(self) -> dict[str, Any]:
        """The fully resolved configuration as plain Python (the ``validate -o json`` document)."""
        if self._plain is None:
            self._plain = to_plain(self.value)
        return self._plain

    @property
    def name(self) -> str:
        return self.config["bundle"]["name"]

    @property
    def mode(self) -> str | None:
        return self.config["bundle"].get("mode")

    @property
    def workspace(self) -> dict[str, Any]:
        return self.config["workspace"]

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        res = self.config.get("resources")
        jobs = res.get("jobs") if isinstance(res, dict) else None
        # Malformed entries are reported by validation; here they are simply not jobs.
        return {k: v for k, v in jobs.items() if isinstance(v, dict)} if isinstance(jobs, dict) else {}

    def location(self, path: str) -> Location | None:
        """Where ``path`` was written; for a value with no place of its own (a key the keyed
        merge re-set, as the CLI does), where its nearest enclosing value was written."""
        from healthmon.bundle.dyn import NO_LOC, get_path, parse_path

        parts = parse_path(path)
        for end in range(len(parts), 0, -1):
            node = get_path(self.value, parts[:end])
            if node is not None and node.loc != NO_LOC:
                return node.loc
        return None

    def locations(self) -> dict[str, tuple[Location, ...]]:
        """Every config path → every place it was written (``file:line:col``), first first."""
        return {format_path(p): v.locs for p, v in walk(self.value)}

    def to_json(self) -> str:
        return json.dumps(self.config, indent=2, sort_keys=True)

    def raise_for_errors(self) -> None:
        if self.diagnostics.has_errors():
            raise BundleError(self.diagnostics.errors)


# The CLI's bundle root variable, then its name before CLI 0.204 (bundle/env/root.go); an error
# names the first whichever was read, as the CLI's message does.
ROOT_VARIABLES = ("DATABRICKS_BUNDLE_ROOT", "BUNDLE_ROOT")


def find_root(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The bundle root: ``start`` or the nearest parent holding ``databricks.yml``. Without
    ``start``, a set ``DATABRICKS_BUNDLE_ROOT`` (or ``BUNDLE_ROOT``) names the root instead of the
    current directory, with no search upward (the CLI's ``mustGetRoot``)."""
    if start is None:
        env = os.environ if environ is None else environ
        name = next((n for n in ROOT_VARIABLES if n in env), None)
        if name is not None:
            return _root_from_environment(env[name])
    here = (start or Path.cwd()).resolve()
    if is_file(here):
        here = here.parent
    for d in (here, *here.parents):
        if any(is_file(d / n) for n in CONFIG_NAMES):
            return d
    raise HealthmonError("unable to locate bundle root: databricks.yml not found")


def _root_from_environment(value: str) -> Path:
    # Go's os.Stat("") fails too: an empty variable is not "unset".
    path = Path(value)
    if not value or not exists(path):
        reason = f"stat {value}: no such file or directory"
    elif not is_dir(path):
        reason = "not a directory"
    else:
        return path.resolve()
    raise HealthmonError(f'invalid bundle root {ROOT_VARIABLES[0]}="{value}": {reason}')


def config_file(root: Path) -> Path:
    found = [root / n for n in CONFIG_NAMES if (root / n).is_file()]
    if len(found) > 1:  # the CLI's ConfigFileNames.FindInPath: which one is meant is not guessed
        raise HealthmonError(f"multiple bundle root configuration files found in {root}")
    if found:
        return found[0]
    raise HealthmonError(f"unable to locate bundle root: no databricks.yml in {root}")


def load_bundle(root: Path, target: str | None = None, variables: Mapping[str, str] | Sequence[str] | None = None, *,
                strict: bool = False, user_name: str | None = None, environ: dict[str, str] | None = None,
                validate: bool = True) -> Bundle:
    """Parse, resolve and (``validate=True``) check the bundle at ``root``.

    ``variables``: a mapping of variable values, or the ``--var name=value`` flags as given
    (checked by the ``initialize_variables`` step, as the CLI checks its flags).
    Raises ``BundleError`` when the root file cannot be read or a load/initialize step reports
    an error (the exception's ``bundle`` is the configuration as far as it got, which
    ``validate -o json`` still prints, like the CLI). Validation findings are returned in
    ``Bundle.diagnostics``. ``strict`` adds the CLI's strict-mode error when there are warnings.
    """
    from healthmon.bundle import pipeline
    from healthmon.bundle.step import BundleState, apply_all
    from healthmon.bundle.yamlparse import YamlError, parse_file

    root = Path(root).resolve()
    if user_name is None:
        from healthmon.settings import Settings

        user_name = Settings.from_env().user_name
    flags: tuple[str, ...] = ()
    if variables is not None and not isinstance(variables, Mapping):
        flags = tuple(variables)
        values: dict[str, str] = {}
        for flag in flags:
            name, sep, value = flag.partition("=")
            if sep:
                values.setdefault(name, value)
        variables = values
    ctx = LoadContext(root=root, user_name=user_name, target=target, variables=dict(variables or {}),
                      variable_flags=flags,
                      environ=dict(os.environ if environ is None else environ))
    main = config_file(root)
    try:
        config = parse_file(main, ctx.display(main), ctx.key_locations, ctx.anchored)
    except YamlError as exc:
        if exc.syntax is None:
            raise
        # The CLI's entry point fails before any configuration exists: `-o json` prints null.
        err = fail(f"failed to load {main}: {exc.syntax}")
        err.bundle = Bundle(root=root, target="", value=Value(None), diagnostics=Diagnostics(list(err.diagnostics)))
        raise err from None
    if not config.is_map:
        raise fail(f"expected map, found {kind_name(config)}", config.loc)
    state = BundleState(config, ctx)
    diags = apply_all(state, [*pipeline.load(main, target), *pipeline.initialize()])
    if diags.has_errors():
        err = BundleError(diags.items)
        err.bundle = Bundle(root=root, target=state.target, value=state.config, diagnostics=diags,
                            sources=state.sources, sync_root=state.sync_root, ctx=ctx)
        raise err
    if validate:
        diags.extend(apply_all(state, pipeline.validate(), stop_on_error=False))
    warnings = len(diags.warnings)
    if strict and warnings and not diags.has_errors():
        diags.error(f"{warnings} warnings were found. Warnings are not allowed in strict mode", check="strict")
    return Bundle(root=root, target=state.target, value=state.config, diagnostics=diags, sources=state.sources,
                  sync_root=state.sync_root, ctx=ctx)


def deploy_checks(bundle: Bundle) -> Diagnostics:
    """The findings of ``pipeline.deploy_checks()`` (healthmon's own checks, which the CLI's
    ``bundle validate`` does not have) on a loaded bundle: an error refuses the deploy."""
    from healthmon.bundle import pipeline
    from healthmon.bundle.step import BundleState, apply_all

    if bundle.ctx is None:
        raise HealthmonError("the bundle did not load; nothing to check for deploy")
    state = BundleState(bundle.value, bundle.ctx, sources=bundle.sources, target=bundle.target,
                        sync_root=bundle.sync_root)
    return apply_all(state, pipeline.deploy_checks(), stop_on_error=False)
