"""README, *Errors and exit codes*: a command interrupted by SIGTERM / Ctrl-C exits 128 + the
signal with "Interrupted (SIG…)." — also when the library it was in turns the interrupt into its
own error, as DuckDB's client does ("RuntimeError: Query interrupted")."""

from __future__ import annotations

import os
import signal

import pytest

from healthmon.cli.main import main


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupt_reraised_as_another_error_is_still_an_interrupt(signum, capsys, healthmon_home, monkeypatch):
    from healthmon.lakehouse import Lakehouse

    def interrupted_inside_the_engine(*args, **kwargs):
        try:
            os.kill(os.getpid(), signum)  # the real signal, through the CLI's real handler
        except KeyboardInterrupt:
            raise RuntimeError("Query interrupted") from None  # what DuckDB's client raises
        pytest.fail("the CLI's signal handler did not raise KeyboardInterrupt")

    monkeypatch.setattr(Lakehouse, "sql", interrupted_inside_the_engine)
    with pytest.raises(SystemExit) as exit_info:
        main(["sql", "SELECT 1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 128 + signum, err
    assert err.strip() == f"Interrupted ({signal.Signals(signum).name}).", err
    assert not list((healthmon_home / "logs").glob("healthmon-crash-*.txt"))
