"""The HTML page of ``runs/export``: a notebook task run's code and result, self-contained."""

from __future__ import annotations

from html import escape


def notebook_run_html(name: str, source: str | None, run: dict, output: dict) -> str:
    state = run.get("state") or {}
    result = state.get("result_state") or state.get("life_cycle_state") or ""
    parts = [
        "<!DOCTYPE html>",
        f"<html><head><meta charset=\"utf-8\"><title>{escape(name)}</title></head><body>",
        f"<h1>{escape(name)}</h1>",
        f"<p>Run {run.get('run_id')} (task {escape(str(run.get('task_key') or ''))}): {escape(result)}</p>",
    ]
    if source is None:
        parts.append("<p>The notebook's code is not available (not in the workspace, or not readable by you).</p>")
    else:
        parts.append(f"<h2>Code</h2><pre class=\"code\">{escape(source)}</pre>")
    notebook_output = (output.get("notebook_output") or {}).get("result")
    if notebook_output is not None:
        parts.append(f"<h2>Result</h2><pre class=\"result\">{escape(notebook_output)}</pre>")
    if output.get("error"):
        parts.append(f"<h2>Error</h2><pre class=\"error\">{escape(output['error'])}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
