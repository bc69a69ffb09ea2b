"""``presets:`` (explicit, or implied by development mode) applied to every job.

- ``name_prefix``: prepended to each job name (``Untitled`` when the job has none) and to the
  names of pipelines, models, clusters, dashboards, experiments (last path component), and, made
  a valid Unity Catalog name (``dev_jane_``), of schemas, volumes, registered models and serving
  endpoints — also where the name is unset (the CLI prefixes the typed field, ``prefix + ""``);
  schemas keep their names with ``experimental.skip_name_prefix_for_schema``;
- ``tags``: added to each job's tags; a tag the job sets itself wins;
- ``trigger_pause_status``: set on ``schedule``, ``trigger`` and ``continuous`` whose
  ``pause_status`` is unset;
- ``jobs_max_concurrent_runs``: set where ``max_concurrent_runs`` is unset;
- ``tags`` also go to experiments and models (``[{key, value}]``, sorted by key as the CLI's
  ``toTagArray``) and clusters (``custom_tags``, key and value normalised for the cloud; every
  cluster gets a ``custom_tags`` map, empty if need be, as the CLI's ``make(map)`` prints);
- ``trigger_pause_status: PAUSED`` turns continuous pipelines off (``continuous: false``) and
  removes quality monitor schedules not explicitly ``UNPAUSED`` (they cannot be paused);
- ``pipelines_development``: ``development: true`` on every pipeline (also one that says ``false``);
- ``artifacts_dynamic_version``: ``dynamic_version: true`` on every ``whl`` artifact declared in
  the configuration (the ``python_artifact`` that ``insert_python_artifact`` adds later does not
  get it; the CLI applies its presets before ``InsertPythonArtifact`` too).
"""

from __future__ import annotations

import posixpath
import unicodedata
from functools import partial

from healthmon.bundle.diag import fail
from healthmon.bundle.dyn import Path, Value, as_bool, get_path, in_place_of, is_zero, map_pattern
from healthmon.bundle.step import BundleState, Step
from healthmon.bundle.tags import normalize_key, normalize_value

CHECK = "presets"
PAUSE = ("PAUSED", "UNPAUSED")


def _get(presets: Value | None, field: str) -> Value | None:
    if presets is None or not presets.is_map:
        return None
    v = presets.get(field)
    return v if v is not None and v.v is not None else None


def apply_presets(config: Value) -> Value:
    presets = config.get("presets")
    if presets is not None and presets.v is not None and not presets.is_map:
        raise fail("presets: expected a map", presets.loc, "presets", check=CHECK)
    prefix = _get(presets, "name_prefix")
    tags = _get(presets, "tags")
    pause = _get(presets, "trigger_pause_status")
    mcr = _get(presets, "jobs_max_concurrent_runs")
    if prefix is not None and not isinstance(prefix.v, str):
        raise fail("presets.name_prefix: expected a string", prefix.loc, "presets.name_prefix", check=CHECK)
    if tags is not None and not tags.is_map:
        raise fail("presets.tags: expected a map of tag name to value", tags.loc, "presets.tags", check=CHECK)
    if is_zero(pause):
        pause = None  # the CLI's `if t.TriggerPauseStatus != ""`
    elif pause is not None and pause.v not in PAUSE:
        # The CLI's validatePauseStatus: located, no config path.
        raise fail("Invalid value for trigger_pause_status, should be PAUSED or UNPAUSED", pause.loc, check=CHECK)
    if mcr is not None and (not isinstance(mcr.v, int) or isinstance(mcr.v, bool)):
        raise fail(f"presets.jobs_max_concurrent_runs: expected an integer, found {mcr.v!r}", mcr.loc,
                   "presets.jobs_max_concurrent_runs", check=CHECK)
    config = map_pattern(config, "resources.jobs.*", lambda _p, job: _job(job, prefix, tags, pause, mcr))
    if prefix is not None and prefix.v:
        name_prefix: str = prefix.v
        skip = get_path(config, ("experimental", "skip_name_prefix_for_schema"))
        skip_schemas = skip is not None and as_bool(skip.v) is True
        for pat, field, uc in NAMED:
            if skip_schemas and pat == "resources.schemas.*":
                continue
            config = map_pattern(config, pat, partial(_prefixed_at, field, name_prefix, uc))
    experiment_prefix = prefix.v if prefix is not None and prefix.v else ""
    config = map_pattern(config, "resources.experiments.*", lambda _p, node: _experiment(node, experiment_prefix))
    if tags is not None and tags.v:
        config = map_pattern(config, "resources.experiments.*", lambda _p, node: _tag_list(node, tags))
        config = map_pattern(config, "resources.models.*", lambda _p, node: _tag_list(node, tags))
    host = get_path(config, ("workspace", "host"))
    cloud_host = host.v if host is not None and isinstance(host.v, str) else None
    config = map_pattern(config, "resources.clusters.*", lambda _p, node: _custom_tags(node, tags, cloud_host))
    if pause is not None and pause.v == "PAUSED":
        config = map_pattern(config, "resources.pipelines.*", lambda _p, node: _not_continuous(node))
        config = map_pattern(config, "resources.quality_monitors.*", lambda _p, node: _unscheduled(node))
    dev = _get(presets, "pipelines_development")
    if dev is not None and as_bool(dev.v) is True:
        # Unconditional, as the CLI (`p.Development = true`: a Go bool cannot tell false from unset).
        config = map_pattern(config, "resources.pipelines.*",
                             lambda _p, node: node if not node.is_map
                             else node.rebuilt({**node.v, "development": in_place_of(node.get("development"), True)}))
    dynamic = _get(presets, "artifacts_dynamic_version")
    if dynamic is not None and as_bool(dynamic.v) is True:
        config = map_pattern(config, "artifacts.*", lambda _p, node: _dynamic_version(node))
    return config


def _dynamic_version(artifact: Value) -> Value:
    # Only wheels: the CLI's dynamic version patches a wheel's version; other kinds have none.
    if not artifact.is_map or getattr(artifact.get("type"), "v", None) != "whl":
        return artifact
    return artifact.rebuilt({**artifact.v, "dynamic_version": in_place_of(artifact.get("dynamic_version"), True)})


# (pattern, name field, Unity Catalog name: the prefix is normalised to dev_<user>_)
NAMED = (
    ("resources.pipelines.*", "name", False),
    ("resources.models.*", "name", False),
    ("resources.clusters.*", "cluster_name", False),
    ("resources.dashboards.*", "display_name", False),
    ("resources.model_serving_endpoints.*", "name", True),
    ("resources.registered_models.*", "name", True),
    ("resources.quality_monitors.*", "table_name", None),
    ("resources.schemas.*", "name", True),
    ("resources.volumes.*", "name", True),
    ("resources.sql_warehouses.*", "name", False),
)


def normalize_prefix(prefix: str) -> str:
    """The CLI's prefix for Unity Catalog names: ``[dev jane] `` → ``dev_jane_``."""
    prefix = prefix.replace("[", "").strip(" ")
    if prefix.endswith("]"):
        prefix += "_"
    prefix = prefix.replace("]", "")
    # textutil.NormalizeString: lower case, any Unicode letter or digit kept, the rest `_`.
    return "".join(c if c.isalpha() or unicodedata.category(c) == "Nd" else "_" for c in prefix.lower())


def _unscheduled(monitor: Value) -> Value:
    """Quality monitor schedules cannot be paused: the CLI removes a schedule unless it says
    ``pause_status: UNPAUSED``."""
    schedule = monitor.get("schedule") if monitor.is_map else None
    if schedule is None or not schedule.is_map:
        return monitor
    status = schedule.get("pause_status")
    if status is not None and status.v == "UNPAUSED":
        return monitor
    return Value({k: v for k, v in monitor.v.items() if k != "schedule"}, monitor.loc)


def _not_continuous(pipeline: Value) -> Value:
    continuous = pipeline.get("continuous") if pipeline.is_map else None
    if continuous is None:
        return pipeline
    return pipeline.rebuilt({**pipeline.v, "continuous": Value(False, continuous.loc)})


def _prefixed_at(field: str, prefix: str, uc: bool | None, _path: Path, node: Value) -> Value:
    return _prefixed(node, field, prefix, uc)


def _prefixed(node: Value, field: str, prefix: str, uc: bool | None) -> Value:
    if uc is None or not node.is_map:  # quality monitors name a table: never renamed
        return node
    cur = node.get(field)
    if cur is not None and cur.v is not None and not isinstance(cur.v, str):
        return node
    new = (normalize_prefix(prefix) if uc else prefix) + (cur.v if cur is not None and cur.v is not None else "")
    return node.rebuilt({**node.v, field: in_place_of(cur, new)})


def _tag_list(node: Value, tags: Value) -> Value:
    """Experiments and models keep tags as ``[{key, value}]``; a key they set themselves wins."""
    if not node.is_map:
        return node
    own = node.get("tags")
    items = list(own.v) if own is not None and own.is_list else []
    keys = {t.get("key").v for t in items if t.is_map and t.get("key") is not None}
    items += [Value({"key": Value(k), "value": Value(v.v)}) for k, v in sorted(tags.v.items()) if k not in keys]
    return node.rebuilt({**node.v, "tags": in_place_of(own, items)})


def _custom_tags(node: Value, tags: Value | None, host: str | None) -> Value:
    """The preset tags, key and value normalised, where the cluster has no tag of that key."""
    if not node.is_map:
        return node
    own = node.get("custom_tags")
    merged = dict(own.v) if own is not None and own.is_map else {}
    for k, v in sorted(tags.v.items()) if tags is not None and tags.is_map else ():
        merged.setdefault(normalize_key(k, host), Value(normalize_value(v.v, host) if isinstance(v.v, str) else v.v))
    return node.rebuilt({**node.v, "custom_tags": in_place_of(own, merged)})


def _go_clean(path: str) -> str:
    """Go's ``path.Clean`` (``posixpath.normpath`` keeps a leading ``//``, Go does not)."""
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def _go_base(path: str) -> str:
    """Go's ``path.Base``: ``.`` for an empty path, trailing slashes ignored."""
    stripped = path.rstrip("/")
    if not path:
        return "."
    return stripped.rpartition("/")[2] if stripped else "/"


def _experiment(node: Value, prefix: str) -> Value:
    """The prefix goes before the last path component, as the CLI's ``path.Dir`` / ``path.Base``
    split, which runs on every experiment (also with no prefix): its cleaning of the folder and an
    unset name becoming ``.`` are the CLI's output."""
    if not node.is_map:
        return node
    cur = node.get("name")
    if cur is not None and cur.v is not None and not isinstance(cur.v, str):
        return node
    name = cur.v if cur is not None and cur.v is not None else ""
    folder, base = _go_clean(name.rpartition("/")[0] + "/" if "/" in name else ""), _go_base(name)
    new = prefix + base if folder == "." else f"{folder}/{prefix}{base}"
    if cur is not None and cur.v == new:
        return node
    return node.rebuilt({**node.v, "name": in_place_of(cur, new)})


def _job(job: Value, prefix, tags, pause, mcr) -> Value:
    if not job.is_map:
        return job
    out = dict(job.v)
    if prefix is not None:
        name = out.get("name")
        base = name.v if name is not None and isinstance(name.v, str) and name.v else "Untitled"
        out["name"] = in_place_of(name, prefix.v + base)
    # As the CLI's ApplyPresets, which tests the typed job: a field holding its zero value ("",
    # 0) counts as unset.
    if tags is not None:
        own = out.get("tags")
        merged = {k: Value(v.v) for k, v in tags.v.items()}
        if own is not None and own.is_map:
            merged.update({k: v for k, v in own.v.items() if not is_zero(v)})
        out["tags"] = in_place_of(own, merged)
    if pause is not None:
        for field in ("schedule", "trigger", "continuous"):
            section = out.get(field)
            if section is not None and section.is_map and is_zero(section.get("pause_status")):
                status = in_place_of(section.get("pause_status"), pause.v)
                out[field] = section.rebuilt({**section.v, "pause_status": status})
    if mcr is not None and is_zero(out.get("max_concurrent_runs")):
        out["max_concurrent_runs"] = in_place_of(out.get("max_concurrent_runs"), mcr.v)
    return job.rebuilt(out)


class ApplyPresets(Step):
    name = "apply_presets"
    reads = ("presets", "experimental.skip_name_prefix_for_schema", "workspace.host", "artifacts.*.type")
    updates = ("resources.jobs.*", "resources.*.*.name", "resources.*.*.tags", "resources.clusters.*.custom_tags",
               "resources.pipelines.*", "resources.quality_monitors.*.schedule", "artifacts.*.dynamic_version")

    def run(self, b: BundleState) -> None:
        b.config = apply_presets(b.config)
