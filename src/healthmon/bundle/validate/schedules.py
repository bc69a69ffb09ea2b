"""A job has at most one of ``schedule`` and ``continuous`` (Jobs API rule);
``schedule.quartz_cron_expression`` parses as Quartz cron and ``timezone_id`` is a Java time
zone id (IANA, three-letter or ``GMT+hh:mm``), through the scheduler's parser
(``healthmon.schedule.quartz``)."""

from __future__ import annotations

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.validate.base import BundleState
from healthmon.errors import HealthmonError
from healthmon.schedule.quartz import parse_quartz, validate_timezone

CHECK = "schedules"


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    jobs = state.jobs()
    for key, job in jobs.items():
        sched, cont = job.get("schedule"), job.get("continuous")
        if sched is not None and sched.v is not None and cont is not None and cont.v is not None:
            out.append(Diagnostic(ERROR, f'job "{key}": only one of schedule and continuous can be used',
                                  cont.loc, f"resources.jobs.{key}.continuous", check=CHECK))
    if not any(j.get("schedule") is not None for j in jobs.values()):
        return out
    for key, job in jobs.items():
        sched = job.get("schedule")
        if sched is None or not sched.is_map:
            continue
        base = f"resources.jobs.{key}.schedule"
        expr = sched.get("quartz_cron_expression")
        if expr is not None and isinstance(expr.v, str) and "${" not in expr.v:
            try:
                parse_quartz(expr.v)
            except HealthmonError as exc:
                out.append(Diagnostic(ERROR, f'job "{key}": invalid quartz_cron_expression {expr.v!r}: {exc.message}',
                                      expr.loc, f"{base}.quartz_cron_expression", check=CHECK))
        tz = sched.get("timezone_id")
        if tz is not None and isinstance(tz.v, str) and "${" not in tz.v:
            try:
                validate_timezone(tz.v)
            except HealthmonError as exc:
                out.append(Diagnostic(ERROR, f'job "{key}": invalid timezone_id {tz.v!r}: {exc.message}',
                                      tz.loc, f"{base}.timezone_id", check=CHECK))
    return out
