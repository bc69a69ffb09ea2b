"""Every registered command answers bad usage with click's usage error (exit 2, one message, no
traceback), and the entry point never shows a traceback or a library warning."""

from __future__ import annotations

import subprocess
import sys
import pytest
import typer

from healthmon.cli.main import app, main


def _leaf_commands(group, path=()):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _leaf_commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


ROOT = typer.main.get_command(app)
LEAVES = list(_leaf_commands(ROOT))
REQUIRED = [(path, cmd) for path, cmd in LEAVES if any(p.required for p in cmd.params)]


def _run(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out = capsys.readouterr()
    return exit_info.value.code, out.out + out.err


def test_the_walk_sees_every_group():
    groups = {path[0] for path, _ in LEAVES}
    assert {"bundle", "jobs", "runs", "sql", "tables", "import", "demo-data", "anomalies"} <= groups
    assert len(LEAVES) >= 30 and REQUIRED


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=" ".join)
def test_unknown_option_is_a_usage_error(path, capsys):
    code, text = _run([*path, "--no-such-option-xyz"], capsys)
    assert code == 2, text
    assert "No such option: --no-such-option-xyz" in text
    assert f"Usage: healthmon {' '.join(path)}" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("path", [p for p, _ in REQUIRED], ids=" ".join)
def test_missing_required_parameter_is_a_usage_error(path, capsys):
    code, text = _run(path, capsys)
    assert code == 2, text
    assert "Missing" in text and "Traceback" not in text


def test_unknown_command_and_bad_value(capsys):
    code, text = _run(["no-such-command"], capsys)
    assert code == 2 and "No such command 'no-such-command'" in text
    code, text = _run(["tables", "history", "a.b.c", "--limit", "many"], capsys)
    assert code == 2 and "Invalid value for '--limit'" in text and "Traceback" not in text


@pytest.mark.parametrize(
    "argv",
    [
        ["sql", "SELECT 1"],
        ["tables", "list"],
        ["tables", "describe", "no_cat.no_schema.no_table"],
        ["tables", "history", "no_cat.no_schema.no_table"],
    ],
    ids=" ".join,
)
def test_format_outside_its_set_is_a_usage_error_before_any_lookup(argv, capsys, healthmon_home):
    # README: a value outside its set is exit 2, even when the table named does not exist.
    code, text = _run([*argv, "--format", "xml"], capsys)
    assert code == 2, text
    assert "Invalid --format 'xml': expected one of table, " in text
    assert "does not exist" not in text and "Traceback" not in text


def test_unexpected_exception_is_reported_as_a_bug_without_traceback(capsys, healthmon_home, monkeypatch):
    from healthmon.lakehouse import Lakehouse

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(Lakehouse, "sql", broken)
    code, text = _run(["sql", "SELECT 1"], capsys)
    assert code == 1
    assert "unexpected internal error: ZeroDivisionError: boom" in text and "Traceback" not in text
    saved = list((healthmon_home / "logs").glob("healthmon-crash-*.txt"))
    assert len(saved) == 1 and "Traceback" in saved[0].read_text() and "ZeroDivisionError" in saved[0].read_text()


_NOISY_SQL = """
import warnings
import pyarrow as pa
from healthmon.lakehouse import Lakehouse
from healthmon.cli.main import main

def noisy(self, query, dialect="spark"):
    warnings.warn("a library's UserWarning", UserWarning)
    warnings.warn("a library's RuntimeWarning", RuntimeWarning)
    return pa.table({"x": [1]})

Lakehouse.sql = noisy
main(["sql", "SELECT 1", "--format", "csv"])
"""


def test_library_warnings_stay_off_the_terminal(healthmon_home):
    import os

    env = {**os.environ, "HEALTHMON_HOME": str(healthmon_home)}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([sys.executable, "-c", _NOISY_SQL], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['"x"', "1"] and proc.stderr == ""
    # A developer who asks for warnings still gets them.
    proc = subprocess.run([sys.executable, "-W", "default", "-c", _NOISY_SQL], capture_output=True, text=True,
                          timeout=120, env=env)
    assert "UserWarning: a library's UserWarning" in proc.stderr


def _cli(*args, home):
    return subprocess.run([sys.executable, "-m", "healthmon.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "HEALTHMON_HOME": str(home)})


def test_entry_point_usage_and_sql_errors(healthmon_home):
    proc = _cli("jobs", "list", "--bogus", home=healthmon_home)
    assert proc.returncode == 2 and "No such option: --bogus" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("sql", "SELECT 'unterminated", home=healthmon_home)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == ("Error: Could not parse SQL: unterminated string literal at line 1, column 8 "
                                   "(expected a closing ')")
