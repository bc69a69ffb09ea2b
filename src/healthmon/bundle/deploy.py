"""Deploy, destroy and summarise a bundle against the local workspace.

deploy:
 1. refuse if validation found errors, or if the deploy checks (``pipeline.deploy_checks``:
    healthmon's own checks, which the CLI's validate does not have) find one; their warnings go
    to ``warn``. Then run the ``prebuild``, ``postbuild`` (nothing is built in between) and
    ``predeploy`` scripts of ``experimental.scripts``, as the CLI before its lock;
 2. take the deployment lock: a row in ``deployment_locks`` keyed by (bundle, target), inserted
    in its own short transaction, so a concurrent deploy/destroy of the same target fails at the
    database with "deployment lock held by ..." instead of interleaving (the CLI's lock);
 3. stage the bundle's files (see ``sync``);
 4. in ONE transaction: create the jobs the workspace does not have yet (to learn their ids),
    then write every job's settings with ``${resources.jobs.<key>.id}`` replaced by real ids,
    delete the jobs no longer in the bundle and record the deployment (who, when, target,
    sha256 of the resolved configuration);
 5. only then swap the staged files into ``$HEALTHMON_HOME/workspace/...files``; release the lock;
 6. run the ``postdeploy`` script. A failing script is an error (``exit status N``); one before
    the lock stops the deploy before anything changed.
A failure anywhere rolls the transaction back and discards the staged files: no partial deploy.
Job ids are stable: a job keeps its id for as long as its resource key stays in the bundle.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import socket
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthmon.bundle.diag import BundleError, Diagnostic
from healthmon.bundle.dyn import Value, parse_path, set_path, to_plain
from healthmon.bundle.loader import Bundle, deploy_checks
from healthmon.errors import HealthmonError
from healthmon.settings import Settings
from healthmon.workspace_files import exists

LOCAL_URL = "http://127.0.0.1:8080"
# Bundle-only fields that are not part of the Jobs API JobSettings (``id`` and ``url`` are the
# CLI's BaseResource fields: the deploy sets them, a value written in the bundle is not sent).
NON_SETTINGS_FIELDS = ("permissions", "lifecycle", "id", "url")
_RESOURCE_REF = re.compile(r"\$\{resources\.jobs\.([A-Za-z0-9_-]+)\.(id|url)\}")


class DeploymentLockedError(HealthmonError):
    pass


@dataclass
class DeployResult:
    bundle_name: str
    target: str
    deployment_id: int
    job_ids: dict[str, int] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bundle_hash: str = ""


def config_hash(bundle: Bundle) -> str:
    return hashlib.sha256(json.dumps(bundle.config, sort_keys=True).encode()).hexdigest()


def job_url(job_id: int) -> str:
    return f"{LOCAL_URL}/jobs/{job_id}"


def fill_resource_refs(value: Any, ids: dict[str, int]) -> Any:
    """Replace ``${resources.jobs.<key>.id|url}``: a whole-string id becomes an int."""
    if isinstance(value, dict):
        return {k: fill_resource_refs(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_resource_refs(v, ids) for v in value]
    if isinstance(value, str) and "${resources." in value:
        m = _RESOURCE_REF.fullmatch(value)
        if m and m.group(2) == "id" and m.group(1) in ids:
            return ids[m.group(1)]

        def sub(m: re.Match) -> str:
            if m.group(1) not in ids:
                return m.group(0)
            return str(ids[m.group(1)]) if m.group(2) == "id" else job_url(ids[m.group(1)])

        return _RESOURCE_REF.sub(sub, value)
    return value


def access_control_list(permissions: Any) -> list[dict[str, Any]]:
    """Bundle ``permissions`` (``level`` + principal) as the Jobs API access control list
    (``permission_level`` + principal), the form the workspace keeps a job's ACL in. The resolved
    configuration already names the owner (``apply_permissions``: the deploying user unless
    another owner is named)."""
    out = []
    for entry in permissions if isinstance(permissions, list) else []:
        if isinstance(entry, dict) and entry.get("level"):
            acl = {k: entry[k] for k in ("user_name", "group_name", "service_principal_name") if entry.get(k)}
            out.append({**acl, "permission_level": entry["level"]})
    return out


def run_as_principal(job: dict[str, Any], default: str) -> str:
    """Who runs the job: its ``run_as`` identity, else the deploying user."""
    run_as = job.get("run_as")
    if isinstance(run_as, dict):
        return run_as.get("user_name") or run_as.get("service_principal_name") or default
    return default


def deployed_job_configs(bundle: Bundle) -> dict[str, dict[str, Any]]:
    """The jobs as deployed: local libraries (printed relative to the sync root by validate) point
    at their synced copy under ``workspace.file_path`` — where the CLI's deploy uploads them. A
    library written as a glob (``../dist/*.whl``, a build output) becomes one library per matching
    file, as the CLI's ``ExpandGlobReferences`` at deploy; a glob matching nothing is an error."""
    value = bundle.value
    expanded: list[tuple[tuple, list[str]]] = []
    for path, ref in bundle.sources.items():
        if not ref.library:
            continue
        if glob.has_magic(ref.declared):
            matches = sorted(glob.glob(str(ref.local)))
            if not matches:
                raise HealthmonError(f"{path}: no file matches the library pattern {ref.declared!r} "
                                     f"(declared in {ref.location}); build it before deploying")
            file_path = bundle.workspace["file_path"]
            expanded.append((parse_path(path), [f"{file_path}/{Path(os.path.relpath(m, bundle.sync_dir)).as_posix()}"
                                                for m in matches]))
            continue
        if not exists(ref.local):  # validate does not look for libraries, as the CLI's: a build may make them
            raise HealthmonError(f"{path}: library file {ref.declared!r} does not exist (declared in {ref.location}); "
                                 f"build it before deploying")
        value = set_path(value, parse_path(path), Value(ref.workspace_path, ref.location))
    plain = to_plain(value)
    # Later entries first, so the indexes of earlier ones in the same list stay valid.
    for parts, paths in sorted(expanded, key=lambda e: e[0], reverse=True):
        field_name = parts[-1] if isinstance(parts[-1], str) else None  # libraries[i].whl vs dependencies[i]
        list_parts = parts[:-2] if field_name else parts[:-1]
        index = parts[-2] if field_name else parts[-1]
        items = plain
        for p in list_parts:
            items = items[p]
        entries = [{**items[index], field_name: p} if field_name else p for p in paths]
        items[index:index + 1] = entries
    jobs = plain.get("resources", {}).get("jobs", {})
    return {k: jobs[k] for k in bundle.jobs}


def job_settings(job: dict[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    settings = {k: v for k, v in job.items() if k not in NON_SETTINGS_FIELDS}
    acl = access_control_list(job.get("permissions"))
    if acl:
        settings["access_control_list"] = acl
    return fill_resource_refs(settings, ids)


def ensure_schema(db, settings: Settings | None = None) -> None:
    """Create the workspace tables (``Database.create_all`` serialises racing processes)."""
    db.create_all()


@contextmanager
def database_errors(action: str):
    """Database failures (locked, unreachable, ...) as user-facing errors; the transaction has
    already been rolled back by the session."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise HealthmonError(f"workspace database error during {action}: {detail}") from None


def _holder(settings: Settings) -> str:
    return f"{settings.user_name} on {socket.gethostname()} (pid {os.getpid()})"


# The host and pid at the end of a holder written by ``_holder``.
_HOLDER_PROCESS = re.compile(r" on (?P<host>\S+) \(pid (?P<pid>\d+)\)$")


def holder_is_gone(holder: str, acquired_at_ms: int) -> bool:
    """True only when the lock's holder is provably dead: it ran on this host and its pid is
    gone, a zombie, or now belongs to a process started after the lock was taken (pid reuse).
    A holder on another host, or one we cannot inspect, counts as alive."""
    import psutil

    m = _HOLDER_PROCESS.search(holder)
    if not m or m["host"] != socket.gethostname():
        return False
    try:
        proc = psutil.Process(int(m["pid"]))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        # create_time comes from boot time + clock ticks: allow a second of disagreement with
        # the wall clock the lock was stamped with, erring towards "alive".
        return proc.create_time() * 1000 > acquired_at_ms + 1000
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _insert_lock(db, bundle_name: str, target: str, holder: str) -> bool:
    from sqlalchemy.exc import IntegrityError

    from healthmon.store.jobs import DeploymentLock, now_ms

    try:
        with db.session() as s:
            s.add(DeploymentLock(bundle_name=bundle_name, target=target, holder=holder, acquired_at=now_ms()))
        return True
    except IntegrityError:
        return False


def _delete_lock(db, bundle_name: str, target: str, holder: str | None = None) -> None:
    """Delete the lock row; with ``holder``, only if that holder still has it (so two
    processes taking over the same stale lock cannot delete each other's fresh one)."""
    from sqlalchemy import delete

    from healthmon.store.jobs import DeploymentLock

    stmt = delete(DeploymentLock).where(DeploymentLock.bundle_name == bundle_name, DeploymentLock.target == target)
    if holder is not None:
        stmt = stmt.where(DeploymentLock.holder == holder)
    with db.session() as s:
        s.execute(stmt)


def _notice(text: str) -> None:
    print(f"Notice: {text}", file=sys.stderr, flush=True)


def _warn(d: Diagnostic) -> None:
    print(d.render() + "\n", file=sys.stderr, flush=True)


@contextmanager
def deployment_lock(db, bundle_name: str, target: str, settings: Settings, *, force: bool = False,
                    notice=_notice):
    """Hold the (bundle, target) deployment lock for the block. A lock held by a live process
    (or one on another host) refuses with DeploymentLockedError; one whose holder is provably
    dead (``holder_is_gone``) is taken over with a ``notice``; ``force`` takes any lock."""
    from healthmon.store.jobs import DeploymentLock

    if force:
        _delete_lock(db, bundle_name, target)
    holder = _holder(settings)
    if not _insert_lock(db, bundle_name, target, holder):
        with db.session() as s:
            row = s.get(DeploymentLock, (bundle_name, target))
            stale = (row.holder, row.acquired_at) if row is not None else None
        taken = False
        if stale is not None and holder_is_gone(*stale):
            _delete_lock(db, bundle_name, target, holder=stale[0])
            taken = _insert_lock(db, bundle_name, target, holder)
            if taken:
                notice(f'taking over the deployment lock for bundle "{bundle_name}" target "{target}" '
                       f"held by {stale[0]} since {_iso_ms(stale[1])}: that process no longer exists.")
        if not taken:
            with db.session() as s:
                row = s.get(DeploymentLock, (bundle_name, target))
                who = (f"{row.holder}, acquired at {_iso_ms(row.acquired_at)}" if row is not None
                       else "another deployment")
            raise DeploymentLockedError(
                f'deployment lock for bundle "{bundle_name}" target "{target}" is held by {who}',
                hint="wait for the other deployment to finish, or use --force-lock if it died on another host")
    try:
        yield holder
    finally:
        _delete_lock(db, bundle_name, target, holder=holder)


def _iso_ms(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_workspace_dir(bundle: Bundle, field: str, settings: Settings) -> Path:
    """The local directory of ``workspace.<field>``, which must lie under ``/Workspace/``: any
    other path would map straight onto the local file system, and destroy deletes it."""
    from healthmon.workspace_files import to_local, workspace_root

    path = bundle.workspace.get(field)
    if not isinstance(path, str) or not path.startswith("/Workspace/"):
        raise HealthmonError(
            f"workspace.{field} {path!r} is not a /Workspace/... path; the local workspace only holds "
            "/Workspace paths (e.g. /Workspace/Users/<user>/.bundle/... or /Workspace/Shared/...)",
            location=bundle.location(f"workspace.{field}"))
    local = to_local(path, settings)
    root = workspace_root(settings).resolve()
    if local.resolve() == root:
        raise HealthmonError(f"workspace.{field} {path!r} is the workspace root itself",
                             location=bundle.location(f"workspace.{field}"))
    return local


def files_dir(bundle: Bundle, settings: Settings) -> Path:
    return local_workspace_dir(bundle, "file_path", settings)


def skipped_resources(bundle: Bundle) -> dict[str, list[str]]:
    """Resources of other kinds than jobs: resolved by validate, not deployed locally."""
    res = bundle.config.get("resources")
    if not isinstance(res, dict):
        return {}
    return {kind: sorted(group) for kind, group in res.items() if kind != "jobs" and isinstance(group, dict) and group}


def deploy(bundle: Bundle, *, settings: Settings | None = None, force_lock: bool = False,
           progress: Callable[[str], None] | None = None, deployed: Callable[[DeployResult], None] | None = None,
           warn: Callable[[Diagnostic], None] = _warn, _fail_after_jobs: bool = False) -> DeployResult:
    """Deploy ``bundle`` (already loaded and validated) to the local workspace. An error of the
    deploy checks raises ``BundleError`` (all their findings) before anything is run or written;
    each of their warnings goes to ``warn`` (default: printed to stderr as validate prints one).
    ``progress`` receives the CLI's ``Uploading bundle files to ...`` line once the scripts before
    the deploy have run; ``deployed`` the result before the ``postdeploy`` script runs, so that the
    deploy is reported as complete (as the CLI does) even if that script fails or is interrupted."""
    from healthmon.store.db import Database
    from healthmon.store.jobs import now_ms

    bundle.raise_for_errors()
    found = deploy_checks(bundle)
    if found.has_errors():
        raise BundleError(found.items)
    for d in found:
        warn(d)
    settings = settings or Settings.from_env()
    db = Database.from_settings(settings)
    name, target = bundle.name, bundle.target
    digest = config_hash(bundle)
    started = now_ms()
    local_workspace_dir(bundle, "root_path", settings)
    files_dir(bundle, settings)
    for hook in ("prebuild", "postbuild", "predeploy"):
        run_script(bundle, hook)
    if progress is not None:
        progress(f"Uploading bundle files to {bundle.workspace['file_path']}...")
    with database_errors("deploy"):
        ensure_schema(db)
        result = _deploy_locked(bundle, db, settings, name, target, digest, started, force_lock, _fail_after_jobs)
    if deployed is not None:
        deployed(result)
    run_script(bundle, "postdeploy")
    return result


def run_script(bundle: Bundle, hook: str) -> None:
    """Run the ``experimental.scripts`` hook ``hook`` in the bundle root; raise if it fails."""
    from healthmon.bundle.mutators.scripts import run_hook

    found = run_hook(bundle.value, hook, bundle.root, os.environ)
    if found.has_errors():
        raise BundleError(found.items)


def _deploy_locked(bundle, db, settings, name, target, digest, started, force_lock, _fail_after_jobs) -> DeployResult:
    from healthmon.bundle import sync
    from healthmon.store.jobs import DeploymentRecord, JobRecord, bundle_jobs, now_ms

    with deployment_lock(db, name, target, settings, force=force_lock):
        dest = files_dir(bundle, settings)
        source = bundle.sync_dir  # sync.paths are relative to it
        files = sync.list_files(source, **sync.sync_settings(bundle.config))
        home = settings.home.resolve()
        if source == home or home in source.parents:
            raise HealthmonError(f"the sync root {source} is inside the workspace {home}")
        if source in home.parents:  # never sync the workspace into itself
            inner = home.relative_to(source).as_posix() + "/"
            files = [f for f in files if not f.startswith(inner)]
        staging = None
        try:
            staging = sync.stage(source, dest, files)
            with db.session() as s:
                existing = bundle_jobs(s, name, target)
                result = DeployResult(name, target, 0, files=len(files), bundle_hash=digest)
                rows: dict[str, JobRecord] = {}
                for key in bundle.jobs:  # phase 1: ids for new jobs
                    row = existing.get(key)
                    if row is None:
                        row = JobRecord(settings_json="{}", creator_user_name=settings.user_name,
                                        run_as_user_name=run_as_principal(bundle.jobs[key], settings.user_name),
                                        created_time=now_ms(),
                                        bundle_name=name, bundle_target=target, resource_key=key)
                        s.add(row)
                        result.created.append(key)
                    else:
                        result.updated.append(key)
                    rows[key] = row
                s.flush()
                ids = {k: r.job_id for k, r in rows.items()}
                for key, job in deployed_job_configs(bundle).items():  # phase 2: settings with real ids
                    row = rows[key]
                    row.settings = _checked(bundle, key, job_settings(job, ids))
                    row.bundle_root = str(bundle.root)
                    row.run_as_user_name = run_as_principal(job, settings.user_name)
                for key, row in existing.items():
                    if key not in bundle.jobs:
                        result.deleted[key] = row.job_id
                        s.delete(row)
                if _fail_after_jobs:  # test hook: prove the transaction is all-or-nothing
                    raise HealthmonError("simulated failure during deploy")
                rec = DeploymentRecord(bundle_name=name, target=target, user_name=settings.user_name,
                                       bundle_root=str(bundle.root), bundle_hash=digest, action="deploy",
                                       started_at=started, finished_at=now_ms(), status="SUCCEEDED",
                                       summary_json=json.dumps({"jobs": ids, "deleted": result.deleted,
                                                                "files": len(files)}, sort_keys=True))
                s.add(rec)
                s.flush()
                result.deployment_id = rec.id
                result.job_ids = ids
            sync.commit(staging, dest)
            staging = None
        except BaseException:
            sync.discard(staging)
            _record_failure(db, bundle, settings, digest, started, "deploy")
            raise
    return result


def _checked(bundle: Bundle, key: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings of job ``key`` if the Jobs API would accept them. A value dropped with a
    Normalize warning can leave a job Databricks refuses at deploy (a ``schedule`` without its
    required ``quartz_cron_expression``, a ``run_job_task`` without ``job_id``), and so does a
    task key the CLI's ``validate`` accepts but the Jobs API does not: refused here too, inside
    the deploy's transaction, so nothing of this deploy is written."""
    from healthmon.jobs.service import check_settings

    refusals = ((_invalid_task_key, 'invalid task_key "{}": use only letters, digits, "_" and "-" (at most 100 '
                                    "characters)"),
                (_untyped_task, 'task "{}" has no task type; set one of notebook_task, spark_python_task, '
                                "run_job_task, condition_task, ..."))
    for find_refused, message in refusals:
        refused = find_refused(settings.get("tasks"))
        if refused is not None:
            path, task_key = refused
            raise HealthmonError(f"cannot deploy resources.jobs.{key}: " + message.format(task_key),
                                 location=bundle.location(f"resources.jobs.{key}.{path}"))
    try:
        check_settings(settings)
    except HealthmonError as exc:
        raise HealthmonError(f"cannot deploy resources.jobs.{key}: {exc.message}",
                             location=bundle.location(f"resources.jobs.{key}")) from None
    return settings


# The Jobs API's task key: letters, digits, `_` and `-`, at most 100 characters.
TASK_KEY = re.compile(r"^[\w-]{1,100}$", re.ASCII)


def _untyped_task(tasks: Any) -> tuple[str, str] | None:
    """The first task (or ``for_each_task``'s inner task) without a task type, with its path
    under the job: the CLI's ``validate`` accepts it, the Jobs API and the local runtime cannot
    run it."""
    from healthmon.bundle.validate.depends_on import TASK_TYPES

    for i, task in enumerate(tasks if isinstance(tasks, list) else ()):
        loop = task.get("for_each_task") if isinstance(task, dict) else None
        inner = loop.get("task") if isinstance(loop, dict) else None
        for path, t in ((f"tasks[{i}]", task), (f"tasks[{i}].for_each_task.task", inner)):
            if isinstance(t, dict) and not any(k in t for k in TASK_TYPES):  # a null one: check_settings
                return path, str(t.get("task_key", ""))
    return None


def _invalid_task_key(tasks: Any) -> tuple[str, str] | None:
    """The first task key (of a task, a ``for_each_task``'s inner task or a ``depends_on``
    entry) the Jobs API refuses, with its path under the job; the CLI's ``validate`` does not
    check them (its own ``variables/complex`` test uses a key with spaces and ``/``)."""
    for i, task in enumerate(tasks if isinstance(tasks, list) else ()):
        if not isinstance(task, dict):
            continue
        loop = task.get("for_each_task")
        inner = loop.get("task") if isinstance(loop, dict) else None
        deps: list[Any] = task["depends_on"] if isinstance(task.get("depends_on"), list) else []
        keys = [(f"tasks[{i}].task_key", task.get("task_key")),
                (f"tasks[{i}].for_each_task.task.task_key", inner.get("task_key") if isinstance(inner, dict) else None),
                *((f"tasks[{i}].depends_on[{j}].task_key", d.get("task_key") if isinstance(d, dict) else None)
                  for j, d in enumerate(deps))]
        for path, value in keys:
            if isinstance(value, str) and value and not TASK_KEY.match(value):
                return path, value
    return None


def _record_failure(db, bundle: Bundle, settings: Settings, digest: str, started: int, action: str) -> None:
    from healthmon.store.jobs import DeploymentRecord, now_ms

    try:
        with db.session() as s:
            s.add(DeploymentRecord(bundle_name=bundle.name, target=bundle.target, user_name=settings.user_name,
                                   bundle_root=str(bundle.root), bundle_hash=digest, action=action,
                                   started_at=started, finished_at=now_ms(), status="FAILED"))
    except Exception:  # the original error matters more than the audit row
        pass


def destroy(bundle: Bundle, *, settings: Settings | None = None, force_lock: bool = False) -> dict[str, int]:
    """Delete every job of this bundle/target and its synced files; returns the deleted ids."""
    import shutil

    from healthmon.store.db import Database
    from healthmon.store.jobs import DeploymentRecord, bundle_jobs, now_ms

    settings = settings or Settings.from_env()
    root = local_workspace_dir(bundle, "root_path", settings)  # checked before anything is deleted
    db = Database.from_settings(settings)
    started = now_ms()
    with database_errors("destroy"):
        ensure_schema(db)
    with database_errors("destroy"), deployment_lock(db, bundle.name, bundle.target, settings, force=force_lock):
        with db.session() as s:
            rows = bundle_jobs(s, bundle.name, bundle.target)
            deleted = {k: r.job_id for k, r in rows.items()}
            for r in rows.values():
                s.delete(r)
            s.add(DeploymentRecord(bundle_name=bundle.name, target=bundle.target, user_name=settings.user_name,
                                   bundle_root=str(bundle.root), bundle_hash=config_hash(bundle), action="destroy",
                                   started_at=started, finished_at=now_ms(), status="SUCCEEDED",
                                   summary_json=json.dumps({"deleted": deleted}, sort_keys=True)))
        shutil.rmtree(root, ignore_errors=True)
    return deleted


def deployed_jobs(bundle: Bundle, settings: Settings | None = None) -> dict[str, int]:
    """resource key → job id of this bundle/target's deployed jobs."""
    from healthmon.store.db import Database
    from healthmon.store.jobs import bundle_jobs

    db = Database.from_settings(settings or Settings.from_env())
    with database_errors("lookup of deployed jobs"):
        ensure_schema(db)
    with db.session() as s:
        return {k: r.job_id for k, r in bundle_jobs(s, bundle.name, bundle.target).items()}


def last_deployment(bundle: Bundle, settings: Settings | None = None) -> dict[str, Any] | None:
    from sqlalchemy import select

    from healthmon.store.db import Database
    from healthmon.store.jobs import DeploymentRecord

    db = Database.from_settings(settings or Settings.from_env())
    with db.session() as s:
        row = s.scalars(select(DeploymentRecord).where(
            DeploymentRecord.bundle_name == bundle.name, DeploymentRecord.target == bundle.target)
            .order_by(DeploymentRecord.id.desc()).limit(1)).first()
        if row is None:
            return None
        return {"id": row.id, "action": row.action, "status": row.status, "user_name": row.user_name,
                "finished_at": row.finished_at, "bundle_hash": row.bundle_hash}


def summary(bundle: Bundle, settings: Settings | None = None) -> dict[str, Any]:
    """The ``bundle summary`` document: the resolved config with each job's id and URL."""
    ids = deployed_jobs(bundle, settings)
    jobs = {}
    for key, job in bundle.jobs.items():
        entry = {"name": job.get("name")}
        if key in ids:
            entry["id"] = str(ids[key])
            entry["url"] = job_url(ids[key])
        jobs[key] = entry
    return {
        "bundle": {"name": bundle.name, "target": bundle.target, "mode": bundle.mode},
        "workspace": {k: bundle.workspace[k] for k in ("current_user", "root_path", "file_path", "resource_path",
                                                       "artifact_path", "state_path") if k in bundle.workspace},
        "resources": {"jobs": jobs},
        "last_deployment": last_deployment(bundle, settings),
    }
