"""Reading a large CSV or JSON-lines export gives way to Ctrl-C / SIGTERM at once, not when
pyarrow's parse of the file (seconds to minutes of native code) ends; and the interrupted read
leaves no thread that the process must wait for on its way out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from healthmon.demodata.text_fast import read_text_fast

FIELDS = [f"f{i}" for i in range(30)]
SCHEMA = pa.schema([("id", pa.string()), ("meta", pa.struct([(f, pa.string()) for f in FIELDS]))])
ROWS = 150_000  # ~140 MB of JSON text in one column: seconds of pyarrow.json on any machine


class _Stop(Exception):
    pass


def _export(path: Path) -> Path:
    one = json.dumps({f: f"value-{f}-abcdef" for f in FIELDS})
    pcsv.write_csv(pa.table({"id": pa.array([str(i) for i in range(ROWS)]), "meta": pa.array([one] * ROWS)}), path)
    return path


@pytest.mark.slow
def test_a_signal_interrupts_a_csv_read_at_once(tmp_path):
    csv_path = _export(tmp_path / "part-00000.csv")

    def raise_stop(_signum, _frame):
        raise _Stop

    previous = signal.signal(signal.SIGUSR1, raise_stop)
    sent: list[float] = []
    timer = threading.Timer(0.5, lambda: (sent.append(time.monotonic()), os.kill(os.getpid(), signal.SIGUSR1)))
    try:
        timer.start()
        with pytest.raises(_Stop):
            read_text_fast(csv_path, SCHEMA, [("id",), ("meta",)], "csv")
        assert time.monotonic() - sent[0] < 3.0, "the read ran on after the signal"
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.slow
def test_an_interrupted_read_does_not_hold_up_the_exit(tmp_path):
    """The process exits soon after the signal, without waiting for the parse threads (a
    ThreadPoolExecutor's threads are joined at exit)."""
    csv_path = _export(tmp_path / "part-00000.csv")
    script = textwrap.dedent(f"""
        import os, signal, sys, threading, time
        import pyarrow as pa
        from pathlib import Path
        from healthmon.demodata.text_fast import read_text_fast
        schema = pa.schema([("id", pa.string()), ("meta", pa.struct([(f"f{{i}}", pa.string()) for i in range(30)]))])
        def interrupt():
            print(time.monotonic(), flush=True)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Timer(0.5, interrupt).start()
        try:
            read_text_fast(Path({str(csv_path)!r}), schema, [("id",), ("meta",)], "csv")
        except KeyboardInterrupt:
            sys.exit(130)
        sys.exit(0)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    ended = time.monotonic()
    assert proc.returncode == 130, proc.stderr
    took = ended - float(proc.stdout)
    assert took < 5.0, f"the read, or the exit, waited {took:.1f} s for the parse to end"


def _usage_json_lines(path: Path, rows: int) -> Path:
    """``rows`` lines of system.billing.usage as JSON lines (maps, structs, decimals, dates)."""
    line = ('{"account_id": "acc", "workspace_id": "%d", "record_id": "rec-%09d", "sku_name": "PREMIUM_JOBS_COMPUTE", '
            '"cloud": "AWS", "usage_start_time": "2026-01-01T00:00:00Z", "usage_end_time": "2026-01-01T01:00:00Z", '
            '"usage_date": "2026-01-01", "custom_tags": {"team": "t%d", "env": "prod"}, "usage_unit": "DBU", '
            '"usage_quantity": "1.250000", "usage_metadata": {"cluster_id": "c-%d", "job_id": "%d", '
            '"job_run_id": "%d"}, "identity_metadata": {"run_as": "a@example.com"}, "record_type": "ORIGINAL", '
            '"ingestion_date": "2026-01-01", "billing_origin_product": "JOBS", '
            '"product_features": {"is_serverless": false, "is_photon": true}}\n')
    with path.open("w") as fh:
        for start in range(0, rows, 100_000):
            chunk = range(start, min(rows, start + 100_000))
            fh.write("".join(line % (i % 7, i, i % 11, i % 50, i % 300, i) for i in chunk))
    return path


def _read_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_signals_are_handled_at_once_throughout_a_json_lines_read(tmp_path):
    """A signal every 0.2 s during a large JSON-lines read: each is handled (its Python handler
    runs) within a second, wherever the read is; a native call of seconds would hold one up."""
    import bisect

    from healthmon.demodata.system_schema import system_tables

    path = _usage_json_lines(tmp_path / "usage.json", 300_000)  # ~190 MB
    schema = system_tables()["system.billing.usage"]
    sent: list[float] = []
    handled: list[float] = []
    previous = signal.signal(signal.SIGUSR1, lambda _s, _f: handled.append(time.monotonic()))
    reading = threading.Event()

    def send() -> None:
        while not reading.wait(0.2):
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGUSR1)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        table = read_text_fast(path, schema, [(f.name,) for f in schema], "json", frozenset({"record_id"}))
    finally:
        reading.set()
        sender.join()
        time.sleep(0.1)  # the last one's handler
        signal.signal(signal.SIGUSR1, previous)
    assert table.num_rows == 300_000
    # Signals sent while one is pending merge into it: each waits for the next handler run.
    lags = [handled[i] - t for t in sent if (i := bisect.bisect_left(handled, t)) < len(handled)]
    assert len(lags) >= 5 and max(lags) < 3.0, f"a signal waited {max(lags):.1f} s for its handler"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_large_json_lines_import_at_once(healthmon_home, tmp_path, signum):
    """README, *Errors and exit codes*: interrupted while it parses a large JSON-lines export,
    the import exits 128 + signal soon after the signal, and no table is half-written."""
    export = tmp_path / "export"
    (export / "system.billing.usage").mkdir(parents=True)
    data = _usage_json_lines(export / "system.billing.usage" / "part-00000.json", 300_000)  # ~190 MB
    proc = subprocess.Popen([sys.executable, "-m", "healthmon.cli.main", "import", "system-tables", "--from",
                             str(export), "--catalog", "c", "--allow-missing", "all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _read_bytes(proc.pid) < data.stat().st_size:  # the file is read: the parse is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signum)
        sent = time.monotonic()
        err = proc.communicate(timeout=120)[1]
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    assert err.strip().splitlines()[-1] == f"Interrupted ({signal.Signals(signum).name}).", err
    assert "Traceback" not in err
    assert took < 5.0, f"the import ran on {took:.1f} s after the signal"
    gold = healthmon_home / "lakehouse" / "c" / "gold"
    assert not gold.exists() or not list(gold.iterdir()), list(gold.iterdir())  # no table, no staged leftovers
