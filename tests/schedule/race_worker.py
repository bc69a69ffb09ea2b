"""A scheduler process for the race test: ticks until a deadline and appends every fire it
started to its own output file (one JSON line per fire), and every fire it TRIED to claim to
``<output>.requested`` (so the test can tell that both workers contested the same fires even when
one of them wins every claim). Run as a script."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
import time
from pathlib import Path

from healthmon.schedule.daemon import Scheduler
from healthmon.store import schedule as store_schedule


def main(out_path: str, go_path: str, duration: float) -> None:
    counter = itertools.count(1)
    out = open(out_path, "a", buffering=1)
    requested = open(out_path + ".requested", "a", buffering=1)
    claim_many = store_schedule.claim_many

    def observed_claim_many(db, requests, *args, **kwargs):
        for r in requests:
            requested.write(json.dumps({"job_id": r.job_id, "fire_key": r.fire_key}) + "\n")
        return claim_many(db, requests, *args, **kwargs)

    store_schedule.claim_many = observed_claim_many

    def start_run(job_id: int, trigger: str, user: str | None) -> int:
        return next(counter)

    sched = Scheduler(start_run=start_run, reload_seconds=3600, poll_seconds=3600)
    sched.reload(dt.datetime.now(dt.timezone.utc))
    Path(out_path + ".ready").touch()
    go = Path(go_path)
    while not go.exists():  # the test says go once every worker is ready (slow starts under load)
        time.sleep(0.01)
    start_at = float(go.read_text())
    until = start_at + duration
    while time.time() < start_at:  # both workers start ticking at the same instant
        time.sleep(0.001)
    while time.time() < until:
        for s in sched.tick():
            out.write(json.dumps({"job_id": s.job_id, "fire_key": s.fire_key, "run_id": s.run_id}) + "\n")
        now = dt.datetime.now(dt.timezone.utc)
        delay = min((sched.next_wake(now) - now).total_seconds(), until - time.time())
        if delay > 0:
            time.sleep(delay)
    out.close()
    requested.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
