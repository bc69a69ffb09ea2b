"""``healthmon alerts test``: what the alert rules would send for the latest scoring (dry run), or
send it (``--send``), exactly as the inference job's ``alerts`` task does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)

# The bundle variables the alerts read (databricks.yml): where the rules file is and which schemas.
RULES_VARIABLE = "alert_rules"


@app.command("test")
def test(
    rules: Optional[Path] = typer.Option(
        None, "--rules", help="Alert rules YAML file (default: the bundle's `alert_rules` variable)."),
    path: Optional[Path] = typer.Option(None, "--path", "-p", help="Bundle root (default: the current directory)."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Bundle target (default: the default target)."),
    catalog: Optional[str] = typer.Option(None, "--catalog", "-c", help="Catalog (default: the bundle's `catalog`)."),
    gold_schema: Optional[str] = typer.Option(None, "--gold-schema", help="Gold schema (default: the bundle's)."),
    feature_schema: Optional[str] = typer.Option(
        None, "--feature-schema", help="Feature/prediction schema (default: the bundle's)."),
    send: bool = typer.Option(False, "--send", help="Send the messages and record the incidents (as the job does)."),
    output: str = typer.Option("text", "--output", "-o", help="text | json"),
) -> None:
    """Evaluate the alert rules on the latest predictions and show the messages they call for."""
    from healthmon.cli.checks import one_of
    from healthmon.errors import HealthmonError
    from healthmon.ml.alerts import load_rules, run_alerts

    one_of(output, "--output", ("text", "json"))
    given = {"catalog": catalog, "gold_schema": gold_schema, "feature_schema": feature_schema}
    names: dict[str, str] = {k: v for k, v in given.items() if v is not None}
    if rules is None or len(names) < len(given):
        bundle_rules, bundle_names = _from_bundle(path, target)
        rules = rules or bundle_rules
        names = {k: v or bundle_names[k] for k, v in given.items()}
    config = load_rules(rules, display=_display(rules))
    run = run_alerts(config, send=send, catalog=names["catalog"], gold_schema=names["gold_schema"],
                     feature_schema=names["feature_schema"])
    if output == "json":
        typer.echo(
            json.dumps(
                {
                    **run.summary(),
                    "messages": [{"subject": m.subject, "text": m.text, "payload": m.payload} for m, _ in run.messages],
                },
                indent=2,
                default=str,
            )
        )
    else:
        _print_text(config, run, names, send)
    if run.failures:
        raise HealthmonError(f"{len(run.failures)} alert deliveries failed (their incidents are retried next run):\n  "
                             + "\n  ".join(run.failures[:10]))


def _print_text(config, run, names: dict, send: bool) -> None:
    typer.echo(f"Alert rules {config.path} on {names['catalog']}.{names['feature_schema']}"
               f" ({'sending' if send else 'dry run: nothing is sent or recorded'}):")
    for r in run.results:
        state = f"skipped — {r.skipped}" if r.skipped else f"{len(r.findings)} above the threshold"
        typer.echo(f"  rule {r.rule.name} ({r.rule.describe()}): {state}")
    if not run.messages:
        typer.echo("No new, worsened or resolved incident: nothing to send.")
    for message, _ in run.messages:
        typer.echo("")
        typer.echo(f"--- {message.subject}")
        typer.echo(message.text)
    if send:
        for channel, subjects in run.sent.items():
            typer.echo(f"Sent {len(subjects)} message(s) by {channel}.")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _from_bundle(path: Optional[Path], target: Optional[str]) -> tuple[Path, dict[str, str]]:
    """The rules file and schemas from the bundle's variables; the rules path (a /Workspace path
    under ``workspace.file_path`` once deployed) is read from the bundle's source tree."""
    from healthmon.bundle.diag import BundleError
    from healthmon.bundle.loader import find_root, load_bundle
    from healthmon.errors import HealthmonError

    root = find_root(path)
    hint = "the bundle has errors (run `healthmon bundle validate`)"
    try:  # an error while loading (a missing notebook, an undefined variable) raises
        bundle = load_bundle(root, target)
    except BundleError as exc:
        raise HealthmonError(f"{hint}: {exc.first.render()}") from None
    if bundle.diagnostics.has_errors():
        raise HealthmonError(f"{hint}: {bundle.diagnostics.errors[0].render()}")
    variables = {k: (v or {}).get("value") for k, v in (bundle.config.get("variables") or {}).items()}
    missing = [k for k in ("catalog", "gold_schema", "feature_schema", RULES_VARIABLE) if not variables.get(k)]
    if missing:
        raise HealthmonError(f"bundle {bundle.name} (target {bundle.target}) has no variable {', '.join(missing)}",
                             hint="pass --rules, --catalog, --gold-schema and --feature-schema instead")
    rules = str(variables[RULES_VARIABLE])
    files = str(bundle.workspace.get("file_path") or "")
    if files and rules.startswith(files.rstrip("/") + "/"):
        rules_path = root / rules[len(files.rstrip("/")) + 1:]
    else:
        rules_path = Path(rules) if Path(rules).is_absolute() else root / rules
    return rules_path, {k: str(variables[k]) for k in ("catalog", "gold_schema", "feature_schema")}
