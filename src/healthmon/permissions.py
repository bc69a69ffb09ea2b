"""Who may do what to a job, and as whom its runs execute.

A job's access control list lives in its settings: ``access_control_list`` (Jobs API form,
``permission_level``) and ``permissions`` (bundle form, ``level``), each entry naming one
``user_name``, ``group_name`` or ``service_principal_name``. Levels: ``CAN_VIEW`` <
``CAN_MANAGE_RUN`` < ``CAN_MANAGE`` < ``IS_OWNER``.

Databricks' rules, kept here:

- A job has exactly one owner (``IS_OWNER``), a user or a service principal, never a group: the
  ACL's owner entry, or the creator when the ACL names none. Only workspace admins change it,
  and the previous owner keeps ``CAN_MANAGE``. Every write through the API is checked by
  ``checked_acl``; an entry that breaks the rules in a stored job (an older workspace) grants
  no more than ``CAN_MANAGE``.
- Members of ``admins`` have ``CAN_MANAGE`` on every job; nobody else has implicit access.
- A run executes as the job's ``run_as`` (``user_name`` or ``service_principal_name``), by
  default its owner; a child run started by a ``run_job_task`` (also inside a
  ``for_each_task``) is authorised for that principal (``authorize_run_job_task``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from healthmon.errors import InvalidParameterError, PermissionDeniedError
from healthmon.store.auth import Principal

LEVELS = ("CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER")
RANK = {level: i + 1 for i, level in enumerate(LEVELS)}
# What each level is called in Databricks' denial messages.
VERB = {"CAN_VIEW": "View", "CAN_MANAGE_RUN": "Manage Run", "CAN_MANAGE": "Manage", "IS_OWNER": "Owner"}
DESCRIPTIONS = {
    "CAN_VIEW": "Can view the job, its runs and their results",
    "CAN_MANAGE_RUN": "Can view the job, run it, cancel and repair its runs, read run logs",
    "CAN_MANAGE": "Can view, run, edit and delete the job and change its permissions",
    "IS_OWNER": "Owns the job: can manage it; its runs execute as the owner unless run_as says otherwise",
}
PRINCIPAL_KEYS = ("user_name", "service_principal_name", "group_name")
OWNER_KEYS = ("user_name", "service_principal_name")  # what may own a job or be its run_as


# -- reading an ACL -------------------------------------------------------------------------
def acl_entries(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The ACL entries of job settings, both forms (bundle ``permissions`` first)."""
    entries: list[dict[str, Any]] = []
    for key in ("permissions", "access_control_list"):
        value = settings.get(key)
        if isinstance(value, list):
            entries.extend(e for e in value if isinstance(e, dict))
    return entries


def entry_level(entry: dict[str, Any]) -> str | None:
    level = entry.get("permission_level") or entry.get("level")
    return level if level in RANK else None


def entry_principal(entry: dict[str, Any]) -> tuple[str, str] | None:
    """(``user_name`` | ``service_principal_name`` | ``group_name``, name) of an entry."""
    for key in PRINCIPAL_KEYS:
        name = entry.get(key)
        if isinstance(name, str) and name:
            return key, name
    return None


def job_owner(job: dict[str, Any]) -> tuple[str, str] | None:
    """The job's one owner: (``user_name`` | ``service_principal_name``, name): the first
    ``IS_OWNER`` entry of its ``access_control_list`` naming one, else its creator. (The bundle
    form, ``permissions``, cannot grant ownership, as in bundles.)"""
    acl = (job.get("settings") or {}).get("access_control_list")
    for entry in acl if isinstance(acl, list) else ():
        if not isinstance(entry, dict):
            continue
        who = entry_principal(entry)
        if entry_level(entry) == "IS_OWNER" and who is not None and who[0] in OWNER_KEYS:
            return who
    creator = job.get("creator_user_name")
    return ("user_name", creator) if creator else None


def job_run_as(job: dict[str, Any]) -> dict[str, str]:
    """Whom the job's runs execute as (Jobs API ``run_as``): its settings' ``run_as``, else its
    owner. ``{}`` only for a job with neither (no creator recorded)."""
    run_as = (job.get("settings") or {}).get("run_as")
    if isinstance(run_as, dict):
        for key in OWNER_KEYS:
            if isinstance(run_as.get(key), str) and run_as[key]:
                return {key: run_as[key]}
    owner = job_owner(job)
    return {owner[0]: owner[1]} if owner else {}


def run_as_name(run_as: dict[str, str] | None) -> str | None:
    for key in OWNER_KEYS:
        if run_as and run_as.get(key):
            return run_as[key]
    return None


def _matches(who: tuple[str, str], principal: Principal) -> bool:
    kind, name = who
    return name in principal.groups if kind == "group_name" else name == principal.name


def effective_level(principal: Principal, job: dict[str, Any]) -> str | None:
    """The highest permission ``principal`` holds on ``job`` (a Jobs API ``Job`` dict)."""
    best = 0
    owner = job_owner(job)
    if owner is not None and owner[1] == principal.name:
        best = RANK["IS_OWNER"]
    for entry in acl_entries(job.get("settings") or {}):
        level = entry_level(entry)
        who = entry_principal(entry)
        if level and who and _matches(who, principal):
            # Only the one owner is IS_OWNER; any other owner entry is a manager.
            best = max(best, min(RANK[level], RANK["CAN_MANAGE"]))
    if principal.is_admin:
        best = max(best, RANK["CAN_MANAGE"])
    return LEVELS[best - 1] if best else None


def can(principal: Principal, job: dict[str, Any], needed: str) -> bool:
    level = effective_level(principal, job)
    return level is not None and RANK[level] >= RANK[needed]


def require(principal: Principal, job: dict[str, Any], needed: str) -> None:
    if not can(principal, job, needed):
        raise PermissionDeniedError(
            f"User {principal.name} does not have {VERB[needed]} permissions on job {job.get('job_id')}."
        )


def run_level(principal: Principal, run: dict[str, Any], job: dict[str, Any] | None) -> str | None:
    """What ``principal`` may do with a run: what it may do with the run's job; with a run
    without a job (a one-time run; ``run`` is its job run), its creator and admins manage it."""
    if job is not None:
        return effective_level(principal, job)
    return "CAN_MANAGE" if principal.is_admin or run.get("creator_user_name") == principal.name else None


def run_job_view(principal: Principal, run: dict[str, Any], job: dict[str, Any] | None) -> bool:
    """Runs are visible to whoever can view their job; a run without a job (one-time submit)
    to its creator and admins."""
    return run_level(principal, run, job) is not None


def require_run(principal: Principal, run_id: int, level: str | None, needed: str) -> str:
    """``level`` (``principal``'s on run ``run_id``: ``run_level``) if it is at least ``needed``.
    The denial names the run only (the caller's own input), never its job."""
    if level is None or RANK[level] < RANK[needed]:
        raise PermissionDeniedError(f"User {principal.name} does not have {VERB[needed]} permissions on run {run_id}.")
    return level


# -- the Permissions API's view ---------------------------------------------------------------
def job_permissions(job: dict[str, Any]) -> dict[str, Any]:
    """The Permissions API ``JobPermissions`` of a job (GET /api/2.0/permissions/jobs/{id}): the
    owner, the direct entries and the ``admins`` group (inherited)."""
    by_principal: dict[tuple[str, str], str] = {}
    owner = job_owner(job)
    for entry in acl_entries(job.get("settings") or {}):
        level, who = entry_level(entry), entry_principal(entry)
        if level and who and who != owner:
            level = min(level, "CAN_MANAGE", key=RANK.__getitem__)
            if RANK[level] > RANK.get(by_principal.get(who, ""), 0):
                by_principal[who] = level
    acl = []
    if owner is not None:
        acl.append({owner[0]: owner[1], "all_permissions": [{"permission_level": "IS_OWNER", "inherited": False}]})
    for (kind, name), level in by_principal.items():
        acl.append({kind: name, "all_permissions": [{"permission_level": level, "inherited": False}]})
    acl.append({"group_name": "admins", "all_permissions": [
        {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}]})
    return {"object_id": f"/jobs/{job.get('job_id')}", "object_type": "job", "access_control_list": acl}


def permission_levels() -> dict[str, Any]:
    """``GetJobPermissionLevelsResponse``: the levels a job's ACL can grant."""
    return {"permission_levels": [{"permission_level": level, "description": DESCRIPTIONS[level]} for level in LEVELS]}


# -- writing an ACL -------------------------------------------------------------------------
def _checked_entry(entry: Any, job_name: str) -> tuple[tuple[str, str], str]:
    if not isinstance(entry, dict):
        raise InvalidParameterError(f"access_control_list of {job_name}: every entry must be an object.")
    named = [k for k in PRINCIPAL_KEYS if entry.get(k) not in (None, "")]
    if len(named) != 1 or not isinstance(entry[named[0]], str):
        raise InvalidParameterError(
            f"access_control_list of {job_name}: every entry names exactly one of user_name, group_name, "
            "service_principal_name (a string).")
    level = entry.get("permission_level", entry.get("level"))
    if level not in RANK:
        shown = level if isinstance(level, str) and len(level) <= 64 else type(level).__name__
        raise InvalidParameterError(
            f"Permission level {shown} is not valid for a job: expected one of {', '.join(LEVELS)}.")
    who = (named[0], entry[named[0]])
    if level == "IS_OWNER" and who[0] == "group_name":
        raise InvalidParameterError(
            f"Group {who[1]} cannot own {job_name}: IS_OWNER goes to one user or service principal.")
    return who, level


def checked_acl(
    entries: Any,
    *,
    job_name: str,
    caller: Principal,
    current_owner: tuple[str, str] | None,
    keep: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The job's new ``access_control_list`` from the entries of a request, under Databricks'
    rules; raises 400 (invalid level, group owner, several owners) or 403 (an owner change by a
    non-admin).

    ``keep``: the current direct entries an update (PATCH) adds to; a replacement (PUT,
    create, reset) passes none. Without an ``IS_OWNER`` entry the current owner stays owner;
    a new owner takes over and the previous one keeps ``CAN_MANAGE``."""
    if not isinstance(entries, list):
        raise InvalidParameterError(f"access_control_list of {job_name} must be a list.")
    levels: dict[tuple[str, str], str] = {}
    for entry in keep or []:
        level, who = entry_level(entry), entry_principal(entry)
        if level and who and level != "IS_OWNER":
            levels[who] = level
    owners = []
    for entry in entries:
        who, level = _checked_entry(entry, job_name)
        if level == "IS_OWNER":
            if who not in owners:
                owners.append(who)
        else:
            levels[who] = level
    if len(owners) > 1:
        raise InvalidParameterError(
            f"{job_name} can have only one owner; the request names {len(owners)} IS_OWNER entries.")
    owner = owners[0] if owners else current_owner
    if owner is None:
        raise InvalidParameterError(
            f"{job_name} needs an owner: add an IS_OWNER entry for a user or service principal."
        )
    if current_owner is not None and owner != current_owner:
        if not caller.is_admin:
            raise PermissionDeniedError(f"Only workspace admins can change the owner of {job_name}.")
        if RANK.get(levels.get(current_owner, ""), 0) < RANK["CAN_MANAGE"]:
            levels[current_owner] = "CAN_MANAGE"
    levels.pop(owner, None)
    acl = [{owner[0]: owner[1], "permission_level": "IS_OWNER"}]
    acl.extend({kind: name, "permission_level": level} for (kind, name), level in levels.items())
    return acl


def check_run_as(run_as: Any, *, job_name: str) -> None:
    """A ``run_as`` setting names exactly one user or service principal."""
    if run_as is None:
        return
    named = [k for k in PRINCIPAL_KEYS if isinstance(run_as, dict) and run_as.get(k)]
    if len(named) != 1 or named[0] == "group_name" or not isinstance(run_as[named[0]], str):
        raise InvalidParameterError(f"run_as of {job_name} must name exactly one user_name or service_principal_name.")


def _check_bundle_permissions(entries: Any, job_name: str) -> None:
    if not isinstance(entries, list):
        raise InvalidParameterError(f"permissions of {job_name} must be a list.")
    for entry in entries:
        _, level = _checked_entry(entry, job_name)
        if level == "IS_OWNER":
            raise InvalidParameterError(
                f"permissions of {job_name} cannot grant IS_OWNER (as in bundles); "
                "name the owner in access_control_list."
            )


def principal_key(principal: Principal) -> str:
    """How an ACL or ``run_as`` names ``principal``."""
    return "service_principal_name" if principal.kind == "service_principal" else "user_name"


def checked_job_settings(settings: dict[str, Any], *, caller: Principal, job: dict[str, Any] | None,
                         acl_keep: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Job settings from ``caller`` (jobs/create when ``job`` is None, jobs/reset, jobs/update,
    the Permissions API) as they are stored: the ACL under the ownership rules (``checked_acl``;
    ``acl_keep``: the current entries an update adds to), carried over from ``job`` when the
    request does not set one; ``run_as`` naming one user or service principal, changed to someone
    other than the caller by admins only (Databricks also lets a service principal's users pick
    it, a role not modelled here)."""
    job_name = f"job {job.get('job_id')}" if job else "the job"
    current = (job or {}).get("settings") or {}
    out = dict(settings)
    for key in ("access_control_list", "permissions"):
        if key not in out and key in current:
            out[key] = current[key]  # permissions are not job settings on Databricks: a reset keeps them
    if "permissions" in settings:
        _check_bundle_permissions(settings["permissions"], job_name)
    owner = job_owner(job) if job else (principal_key(caller), caller.name)
    if "access_control_list" in settings or job is None:
        out["access_control_list"] = checked_acl(settings.get("access_control_list") or [], job_name=job_name,
                                                 caller=caller, current_owner=owner, keep=acl_keep)
    check_run_as(out.get("run_as"), job_name=job_name)
    after = job_run_as({"creator_user_name": (job or {}).get("creator_user_name") or caller.name, "settings": out})
    before = job_run_as(job) if job else None
    if not caller.is_admin and after != before and run_as_name(after) != caller.name:
        raise PermissionDeniedError(
            f"Only workspace admins can make {job_name} run as another principal than themselves "
            f"(run_as would be {run_as_name(after)}).")
    return out


# -- run principals --------------------------------------------------------------------------
def authorize_run_job_task(session: Session, parent_run_id: int, job_id: int) -> str:
    """The principal a run executes as (the parent of a ``run_job_task`` child), checked for
    ``CAN_MANAGE_RUN`` on ``job_id``; returns its name, to whom the child run is credited.

    A job that does not exist and one the principal may not run get the same message, so a task
    never learns about jobs its principal cannot see."""
    from healthmon.store import auth as auth_store
    from healthmon.store.jobs import JobRecord

    name = auth_store.run_principal_name(session, parent_run_id)
    principal = auth_store.principal_named(session, name)
    record = session.get(JobRecord, job_id)
    if record is None or not can(principal, record.to_api(), "CAN_MANAGE_RUN"):
        raise PermissionDeniedError(
            f"run_job_task: job {job_id} does not exist or {name} (the principal this run executes as) "
            "does not have Manage Run permissions on it.")
    return name

