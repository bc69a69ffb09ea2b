"""``presets:`` (explicit, or implied by development mode) applied to every job.

- ``name_prefix``: prepended to each job name (the resource key when the job has no name);
- ``tags``: added to each job's tags; a tag the job sets itself wins;
- ``trigger_pause_status``: set on ``schedule``, ``trigger`` and ``continuous`` whose
  ``pause_status`` is unset;
- ``jobs_max_concurrent_runs``: set where ``max_concurrent_runs`` is unset.
"""

from __future__ import annotations

from healthmon.bundle.diag import fail
from healthmon.bundle.dyn import Value, set_path

CHECK = "presets"
PAUSE = ("PAUSED", "UNPAUSED")


def _get(presets: Value | None, field: str) -> Value | None:
    if presets is None or not presets.is_map:
        return None
    v = presets.get(field)
    return v if v is not None and v.v is not None else None


def apply_presets(config: Value) -> Value:
    presets = config.get("presets")
    if presets is None or presets.v is None:
        return config
    if not presets.is_map:
        raise fail("presets: expected a map", presets.loc, "presets", check=CHECK)
    prefix = _get(presets, "name_prefix")
    tags = _get(presets, "tags")
    pause = _get(presets, "trigger_pause_status")
    mcr = _get(presets, "jobs_max_concurrent_runs")
    if prefix is not None and not isinstance(prefix.v, str):
        raise fail("presets.name_prefix: expected a string", prefix.loc, "presets.name_prefix", check=CHECK)
    if tags is not None and not tags.is_map:
        raise fail("presets.tags: expected a map of tag name to value", tags.loc, "presets.tags", check=CHECK)
    if pause is not None and pause.v not in PAUSE:
        raise fail(f"presets.trigger_pause_status: expected PAUSED or UNPAUSED, found {pause.v!r}", pause.loc,
                   "presets.trigger_pause_status", check=CHECK)
    if mcr is not None and (not isinstance(mcr.v, int) or isinstance(mcr.v, bool)):
        raise fail(f"presets.jobs_max_concurrent_runs: expected an integer, found {mcr.v!r}", mcr.loc,
                   "presets.jobs_max_concurrent_runs", check=CHECK)
    res = config.get("resources")
    jobs = res.get("jobs") if res is not None else None
    if jobs is None or not jobs.is_map:
        return config
    new_jobs = {}
    for key, job in jobs.v.items():
        if not job.is_map:
            new_jobs[key] = job
            continue
        out = dict(job.v)
        loc = job.loc
        if prefix is not None:
            name = out.get("name")
            base = name.v if name is not None and isinstance(name.v, str) else key
            out["name"] = Value(prefix.v + base, name.loc if name is not None else loc)
        if tags is not None:
            own = out.get("tags")
            merged = dict(tags.v)
            if own is not None and own.is_map:
                merged.update(own.v)
            out["tags"] = Value(merged, own.loc if own is not None else loc)
        if pause is not None:
            for field in ("schedule", "trigger", "continuous"):
                section = out.get(field)
                if section is not None and section.is_map and (section.get("pause_status") is None or section.get("pause_status").v is None):
                    out[field] = Value({**section.v, "pause_status": Value(pause.v, section.loc)}, section.loc)
        if mcr is not None and (out.get("max_concurrent_runs") is None or out["max_concurrent_runs"].v is None):
            out["max_concurrent_runs"] = Value(mcr.v, loc)
        new_jobs[key] = Value(out, loc)
    return set_path(config, ("resources", "jobs"), Value(new_jobs, jobs.loc))
