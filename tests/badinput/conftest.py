"""Helpers for the bad-input tests: run ``healthmon`` in this process as a user would."""

from __future__ import annotations

import pytest

from healthmon.cli.main import main


@pytest.fixture
def cli(capsys):
    """``cli("jobs", "list")`` → (exit code, stdout + stderr), through the real entry point."""

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in argv])
        out = capsys.readouterr()
        text = out.out + out.err
        assert "Traceback" not in text and "unexpected internal error" not in text, text
        return exit_info.value.code, text

    return run
