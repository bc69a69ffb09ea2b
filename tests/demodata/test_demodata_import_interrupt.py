"""Reading a large CSV export gives way to Ctrl-C / SIGTERM at once, not when pyarrow's parse of
the file (seconds to minutes of native code) ends; and the interrupted read leaves no thread
that the process must wait for on its way out."""

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
        assert time.monotonic() - sent[0] < 1.0, "the read ran on after the signal"
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
    assert took < 1.5, f"the read, or the exit, waited {took:.1f} s for the parse to end"
