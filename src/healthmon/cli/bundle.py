"""``healthmon bundle validate | deploy | summary | destroy | run`` (the ``databricks bundle`` verbs).

Flags follow the real CLI: ``-t/--target``, ``--var name=value`` (repeatable), ``-o text|json``,
``--strict``; the bundle root is ``-p/--path`` or found by searching upward for databricks.yml.
Heavy modules are imported inside the commands so ``healthmon --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

TargetOpt = typer.Option(None, "-t", "--target", help="Bundle target to use (default: the target with default: true).")
VarOpt = typer.Option(None, "--var", help='Set variables: --var "name=value" (repeatable; comma-separated, '
                                          'as the CLI\'s string slice flag: --var "a=1,b=2").')
PathOpt = typer.Option(None, "-p", "--path", help="Bundle root (default: $DATABRICKS_BUNDLE_ROOT, else search upward "
                                                  "from the current directory).")
# The CLI's deprecated name of -t (a hidden root flag); still read, with pflag's deprecation notice.
EnvironmentOpt = typer.Option(None, "-e", "--environment", hidden=True, help="Deprecated: use --target.")

# The CLI's target variable, then its name before CLI 0.203.2 (bundle/env/target.go).
TARGET_VARIABLES = ("DATABRICKS_BUNDLE_TARGET", "DATABRICKS_BUNDLE_ENV")


def _short_flag_value(value: Optional[str]) -> Optional[str]:
    """pflag reads ``-t=prod`` as ``prod``; click keeps the ``=`` of a short option's attached
    value, so it is dropped here (for the short options the CLI has: ``-t``, ``-e``, ``-o``)."""
    return value[1:] if value and value.startswith("=") else value


def _output_format(value: str) -> str:
    """``-o``: the CLI's ``flags.Output`` accepts ``text`` and ``json`` in any case; another value
    is its flag error, worded as pflag words it (here exit 2, as every bad option value)."""
    from healthmon.errors import UsageError

    value = _short_flag_value(value) or ""
    if value.lower() in ("text", "json"):
        return value.lower()
    raise UsageError(f'invalid argument "{value}" for "-o, --output" flag: accepted arguments are text and json')


def OutputOpt(help: str):  # noqa: N802  (an option declaration, named like the others)
    return typer.Option("text", "-o", "--output", callback=_output_format, help=help)


def _target(target: Optional[str], environment: Optional[str]) -> Optional[str]:
    """The CLI's ``getTarget``: ``-t``, else the deprecated ``-e``, else ``DATABRICKS_BUNDLE_TARGET``
    (or ``DATABRICKS_BUNDLE_ENV``); ``None`` selects the default target."""
    target, environment = _short_flag_value(target), _short_flag_value(environment)
    if environment:
        _echo_err("Flag --environment has been deprecated, use --target flag instead")
    if target or environment:
        return target or environment
    name = next((n for n in TARGET_VARIABLES if n in os.environ), None)
    return (os.environ[name] or None) if name else None


def _echo_err(text: str) -> None:
    typer.echo(text, err=True)


def _guard(fn: Callable[[], int | None]) -> None:
    """Run a command body; user errors print without a traceback and exit 1."""
    from healthmon.bundle.diag import BundleError
    from healthmon.errors import HealthmonError

    try:
        rc = fn()
    except BundleError as exc:
        for d in exc.diagnostics:
            _echo_err(d.render() + "\n")
        _echo_err(_counts(exc.diagnostics))
        raise typer.Exit(1) from None
    except HealthmonError as exc:
        _echo_err(f"Error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    if rc:
        raise typer.Exit(rc)


def _load(path: Optional[Path], target: Optional[str], var: list[str] | None, strict: bool = False, *,
          environment: Optional[str] = None):
    from healthmon.bundle.loader import find_root, load_bundle

    root = find_root(path)
    return load_bundle(root, _target(target, environment), _var_flags(var), strict=strict)


def _var_flags(given: list[str] | None) -> list[str]:
    """``--var`` values as the CLI reads them: a pflag ``StringSlice``, each value one CSV line
    (``a=1,b=2`` is two assignments; quote a value holding a comma: ``'"a=x,y"'``; an empty
    value assigns nothing)."""
    import csv

    return [field for value in given or () if value for row in csv.reader([value]) for field in row]


def _print_diagnostics(bundle) -> None:
    for d in bundle.diagnostics:
        _echo_err(d.render() + "\n")


def _counts(diagnostics) -> str:
    """The CLI's summary line: "Found 1 error, 2 warnings and 1 recommendation" ("" if clean)."""
    from collections import Counter

    n = Counter(d.severity for d in diagnostics)
    parts = [f"{n[s]} {s}{'s' if n[s] != 1 else ''}" for s in ("error", "warning", "recommendation") if n[s]]
    if not parts:
        return ""
    return "Found " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


def _header(config: dict) -> list[str]:
    """The CLI's summary header: only the parts that are known (no target before the selected
    target's overrides are merged, as the CLI sets ``bundle.target`` only then)."""
    if not isinstance(config, dict):
        return []  # the root file did not load
    bundle = config.get("bundle")
    bundle = bundle if isinstance(bundle, dict) else {}
    target = bundle.get("target")
    ws = config.get("workspace")
    ws = ws if isinstance(ws, dict) else {}
    user = (ws.get("current_user") or {}).get("userName") if isinstance(ws.get("current_user"), dict) else None
    if not bundle.get("name"):
        return []
    lines = [f"Name: {bundle['name']}"]
    if target:
        lines.append(f"Target: {target}")
    if user or ws.get("host") or ws.get("root_path"):
        lines.append("Workspace:")
        lines += [f"  Host: {ws['host']}"] if ws.get("host") else []
        lines += [f"  User: {user}"] if user else []
        lines += [f"  Path: {ws['root_path']}"] if ws.get("root_path") else []
    return [*lines, ""]


def _with_locations(bundle) -> dict:
    """``--include-locations``: the CLI's ``__locations`` map (file index, line, column per path)."""
    files: list[str] = []
    index: dict[str, int] = {}
    locations: dict[str, list[list[int]]] = {}
    for path, locs in bundle.locations().items():
        known = [loc for loc in locs if loc.line and not loc.file.startswith("<")]
        if not path or not known:
            continue
        for loc in known:
            if loc.file not in index:
                index[loc.file] = len(files)
                files.append(loc.file)
        locations[path] = [[index[loc.file], loc.line, loc.column] for loc in known]
    return {**bundle.config, "__locations": {"version": 1, "files": files, "locations": locations}}


@app.command()
def validate(
    target: Optional[str] = TargetOpt,
    environment: Optional[str] = EnvironmentOpt,
    var: Optional[list[str]] = VarOpt,
    output: str = OutputOpt("text or json (the fully resolved configuration)."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
    include_locations: bool = typer.Option(False, "--include-locations",
                                           help="Add the source location of every value to -o json output."),
    path: Optional[Path] = PathOpt,
) -> None:
    """Validate the bundle as the Databricks CLI does (schema, paths, compute, sync patterns).
    healthmon's own checks (widgets, task dependencies, environments, schedules) run at deploy."""

    def body() -> int:
        from healthmon.bundle.diag import BundleError
        try:
            bundle = _load(path, target, var, strict, environment=environment)
        except BundleError as exc:
            if exc.bundle is None:
                raise
            bundle = exc.bundle  # as far as loading got: the CLI prints it too
        failed = bundle.diagnostics.has_errors()
        if output == "json":
            _print_diagnostics(bundle)
            doc = _with_locations(bundle) if include_locations and bundle.config is not None else bundle.config
            typer.echo(json.dumps(doc, indent=2, sort_keys=True))
            return 1 if failed else 0
        for d in bundle.diagnostics:
            typer.echo(d.render() + "\n")
        for line in _header(bundle.config):
            typer.echo(line)
        typer.echo(_counts(bundle.diagnostics) or "Validation OK!")  # as the CLI: OK only when nothing was found
        return 1 if failed else 0

    _guard(body)


@app.command()
def deploy(
    target: Optional[str] = TargetOpt,
    environment: Optional[str] = EnvironmentOpt,
    var: Optional[list[str]] = VarOpt,
    force_lock: bool = typer.Option(False, "--force-lock", help="Take over the deployment lock of a dead deploy."),
    strict: bool = typer.Option(False, "--strict", help="Treat validation warnings as errors."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Accepted for CLI compatibility."),
    path: Optional[Path] = PathOpt,
) -> None:
    """Deploy the bundle's jobs and files to the local workspace. Refused, with nothing written, when
    validation or healthmon's deploy checks (widgets, task dependencies, environments, schedules) find an error."""

    def body() -> int:
        from healthmon.bundle.deploy import deploy as do_deploy, skipped_resources

        bundle = _load(path, target, var, strict, environment=environment)
        if bundle.diagnostics.has_errors():
            _print_diagnostics(bundle)
            _echo_err(_counts(bundle.diagnostics))
            return 1
        for d in bundle.diagnostics:
            _echo_err(d.render() + "\n")
        for kind, keys in skipped_resources(bundle).items():
            _echo_err(f"Warning: resources.{kind} ({', '.join(keys)}) are not deployed: the local workspace "
                      "deploys jobs only\n")
        do_deploy(bundle, force_lock=force_lock, progress=typer.echo, deployed=_report_deployed,
                  warn=lambda d: _echo_err(d.render() + "\n"))
        return 0

    _guard(body)


def _report_deployed(result) -> None:
    """The deploy's summary, printed before the ``postdeploy`` script runs."""
    from healthmon.bundle.deploy import job_url

    typer.echo(f"Synced {result.files} files.")
    typer.echo("Deploying resources...")
    for key in sorted(result.job_ids):
        verb = "created" if key in result.created else "updated"
        typer.echo(f"  job {key}: {verb}, id {result.job_ids[key]} ({job_url(result.job_ids[key])})")
    for key, job_id in sorted(result.deleted.items()):
        typer.echo(f"  job {key}: deleted (was id {job_id})")
    typer.echo("Deployment complete!")


# The CLI's `bundle summary` groups (`Resources.AllResources()` order, each kind's plural title
# and the field its `GetName` reads); only jobs are deployed locally, the others print
# "(not deployed)".
SUMMARY_GROUPS = (
    ("jobs", "Jobs", "name"), ("pipelines", "Pipelines", "name"), ("models", "Models", "name"),
    ("experiments", "Experiments", "name"), ("model_serving_endpoints", "Model Serving Endpoints", "name"),
    ("registered_models", "Registered Models", "name"), ("quality_monitors", "Quality Monitors", "table_name"),
    ("schemas", "Schemas", "name"), ("clusters", "Clusters", "cluster_name"),
    ("dashboards", "Dashboards", "display_name"), ("volumes", "Volumes", "name"), ("apps", "Apps", "name"),
)


@app.command()
def summary(
    target: Optional[str] = TargetOpt,
    environment: Optional[str] = EnvironmentOpt,
    var: Optional[list[str]] = VarOpt,
    output: str = OutputOpt("text or json."),
    path: Optional[Path] = PathOpt,
) -> None:
    """The CLI's summary: name, target, workspace and each resource with its URL (deployed jobs:
    the local URL and id; the other kinds are not deployed locally)."""

    def body() -> int:
        from healthmon.bundle.deploy import summary as do_summary

        bundle = _load(path, target, var, environment=environment)
        doc = do_summary(bundle)
        if output == "json":
            typer.echo(json.dumps(doc, indent=2, sort_keys=True))
            return 0
        for line in _header(bundle.config)[:-1]:
            typer.echo(line)
        typer.echo("Resources:")
        resources = bundle.config.get("resources") or {}
        for kind, title, name_field in SUMMARY_GROUPS:
            group = resources.get(kind) or {}
            if not group:
                continue
            typer.echo(f"  {title}:")
            for key in sorted(group):
                res = group[key] if isinstance(group[key], dict) else {}
                job = doc["resources"]["jobs"].get(key, {}) if kind == "jobs" else {}
                typer.echo(f"    {key}:")
                typer.echo(f"      Name: {res.get(name_field) or ''}")
                typer.echo(f"      URL:  {job.get('url', '(not deployed)')}")
                if "id" in job:
                    typer.echo(f"      ID:   {job['id']}")
        last = doc["last_deployment"]
        if last:
            typer.echo(
                f"Last {last['action']}: {last['status']} by {last['user_name']} (hash {last['bundle_hash'][:12]})"
            )
        return 0

    _guard(body)


@app.command()
def destroy(
    target: Optional[str] = TargetOpt,
    environment: Optional[str] = EnvironmentOpt,
    var: Optional[list[str]] = VarOpt,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Skip the confirmation prompt."),
    force_lock: bool = typer.Option(False, "--force-lock", help="Take over the deployment lock of a dead deploy."),
    path: Optional[Path] = PathOpt,
) -> None:
    """Delete the bundle's deployed jobs and files from the local workspace."""

    def body() -> int:
        from healthmon.bundle.deploy import deployed_jobs, destroy as do_destroy
        from healthmon.errors import HealthmonError

        bundle = _load(path, target, var, environment=environment)
        existing = deployed_jobs(bundle)
        if not auto_approve:
            stdin = sys.stdin
            if stdin is None or stdin.closed or not stdin.isatty():
                raise HealthmonError("the destroy command requires confirmation; no terminal to ask on, "
                                     "pass --auto-approve to destroy without it")
            typer.echo("The following resources will be deleted:")
            for key, job_id in sorted(existing.items()):
                typer.echo(f"  delete job {key} (id {job_id})")
            typer.echo(f"All files and directories at {bundle.workspace['root_path']} will be deleted.")
            if not typer.confirm("Would you like to proceed?", default=False):
                typer.echo("Destroy cancelled.")
                return 1
        deleted = do_destroy(bundle, force_lock=force_lock)
        for key, job_id in sorted(deleted.items()):
            typer.echo(f"Deleted job {key} (id {job_id})")
        typer.echo("Destroy complete!")
        return 0

    _guard(body)


def _list_flag(name: str, help: str):
    """A pflag-style flag of ``bundle run``: comma-separated values, repeatable."""
    return typer.Option(None, name, help=help + " (comma-separated, repeatable).")


# bundle run's flags, named as the Databricks CLI's (bundle/run/job_options.go).
ParamsOpt = _list_flag("--params", "Job parameters: name=value")
NotebookParamsOpt = _list_flag("--notebook-params", "Notebook tasks' widgets: name=value")
PythonNamedParamsOpt = _list_flag("--python-named-params", "Python wheel tasks' named parameters: name=value")
PythonParamsOpt = _list_flag("--python-params", "Python file and wheel tasks' parameters")
JarParamsOpt = _list_flag("--jar-params", "Not supported locally: no JAR tasks")
SparkSubmitParamsOpt = _list_flag("--spark-submit-params", "Not supported locally: no spark-submit tasks")
SqlParamsOpt = _list_flag("--sql-params", "Not supported locally: no SQL tasks")
DbtCommandsOpt = _list_flag("--dbt-commands", "Not supported locally: no dbt tasks")
PipelineParamsOpt = _list_flag("--pipeline-params", "Not supported locally: no pipeline tasks")


@app.command()
def run(
    key: str = typer.Argument(..., help="Resource key of the job to run."),
    args: Optional[list[str]] = typer.Argument(
        None, help="After --: job parameters as --name=value; for a job without job parameters, its tasks' "
                   "notebook parameters (--name=value) or Python parameters (positional)."),
    target: Optional[str] = TargetOpt,
    environment: Optional[str] = EnvironmentOpt,
    var: Optional[list[str]] = VarOpt,
    params: Optional[list[str]] = ParamsOpt,
    notebook_params: Optional[list[str]] = NotebookParamsOpt,
    python_named_params: Optional[list[str]] = PythonNamedParamsOpt,
    python_params: Optional[list[str]] = PythonParamsOpt,
    jar_params: Optional[list[str]] = JarParamsOpt,
    spark_submit_params: Optional[list[str]] = SparkSubmitParamsOpt,
    sql_params: Optional[list[str]] = SqlParamsOpt,
    dbt_commands: Optional[list[str]] = DbtCommandsOpt,
    pipeline_params: Optional[list[str]] = PipelineParamsOpt,
    only: Optional[str] = typer.Option(None, "--only", help="Run only these task keys (comma-separated)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return once the run has started."),
    path: Optional[Path] = PathOpt,
) -> None:
    """Run a deployed job of the bundle and follow it to completion."""

    def body() -> int:
        from healthmon.bundle.deploy import deployed_jobs
        from healthmon.bundle.suggest import did_you_mean
        from healthmon.cli import run_params
        from healthmon.errors import NotFoundError

        run_params.refuse_unsupported({"jar_params": jar_params, "spark_submit_params": spark_submit_params,
                                       "sql_params": sql_params, "dbt_commands": dbt_commands,
                                       "pipeline_params": pipeline_params}, "bundle run")
        given: dict[str, Any] = {
            "job_parameters": run_params.parse_key_values("--params", params),
            "notebook_params": run_params.parse_key_values("--notebook-params", notebook_params),
            "python_named_params": run_params.parse_key_values("--python-named-params", python_named_params),
            "python_params": run_params.parse_list("--python-params", python_params),
        }
        bundle = _load(path, target, var, environment=environment)
        if key not in bundle.jobs:
            known = ", ".join(sorted(bundle.jobs)) or "none"
            raise NotFoundError(f'no job with key "{key}" in bundle "{bundle.name}"{did_you_mean(key, bundle.jobs)} '
                                f"(jobs: {known})")
        ids = deployed_jobs(bundle)
        if key not in ids:
            raise NotFoundError(f'job "{key}" is not deployed to target "{bundle.target}"',
                                hint=f"run: healthmon bundle deploy -t {bundle.target}")
        from healthmon.jobs import service
        from healthmon.jobs.cli_support import run_and_watch

        if args:  # after --: maps merged over the flags' values of the same kind, a list replaces
            settings = service.get_job(ids[key])["settings"]
            for kind, value in run_params.dashed_args_parameters(key, settings, args).items():
                given[kind] = value if isinstance(value, list) else {**(given[kind] or {}), **value}
        only_list = [t.strip() for t in only.split(",") if t.strip()] if only else None
        return run_and_watch(ids[key], **given, only=only_list, wait=not no_wait)

    _guard(body)
