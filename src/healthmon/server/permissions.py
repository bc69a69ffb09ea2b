"""Job permissions, from the job's own settings.

A job's ACL is its settings' ``permissions`` (bundle form: ``{level, user_name | group_name |
service_principal_name}``) and/or ``access_control_list`` (Jobs API form, ``permission_level``).
On top of the ACL, as in Databricks: the job's creator is its owner unless the ACL names an
IS_OWNER, and members of ``admins`` can manage every job. Everyone else has no access.
"""

from __future__ import annotations

from typing import Any

from healthmon.server.errors import permission_denied
from healthmon.store.auth import Principal

LEVELS = ("CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER")
RANK = {level: i + 1 for i, level in enumerate(LEVELS)}
# What each level is called in Databricks' denial messages.
VERB = {"CAN_VIEW": "View", "CAN_MANAGE_RUN": "Manage Run", "CAN_MANAGE": "Manage", "IS_OWNER": "Owner"}


def acl_entries(settings: dict[str, Any]) -> list[dict[str, Any]]:
    entries = []
    for key in ("permissions", "access_control_list"):
        value = settings.get(key)
        if isinstance(value, list):
            entries.extend(e for e in value if isinstance(e, dict))
    return entries


def _level_of(entry: dict[str, Any]) -> str | None:
    level = entry.get("level") or entry.get("permission_level")
    return level if level in RANK else None


def _matches(entry: dict[str, Any], principal: Principal) -> bool:
    if entry.get("user_name") and entry["user_name"] == principal.name:
        return True
    if entry.get("service_principal_name") and entry["service_principal_name"] == principal.name:
        return True
    return bool(entry.get("group_name")) and entry["group_name"] in principal.groups


def effective_level(principal: Principal, job: dict[str, Any]) -> str | None:
    """The highest permission ``principal`` holds on ``job`` (a Jobs API ``Job`` dict)."""
    settings = job.get("settings") or {}
    entries = acl_entries(settings)
    best = 0
    has_owner_entry = any(_level_of(e) == "IS_OWNER" for e in entries)
    if not has_owner_entry and job.get("creator_user_name") == principal.name:
        best = RANK["IS_OWNER"]
    for entry in entries:
        level = _level_of(entry)
        if level and _matches(entry, principal):
            best = max(best, RANK[level])
    if principal.is_admin:
        best = max(best, RANK["CAN_MANAGE"])
    return LEVELS[best - 1] if best else None


def can(principal: Principal, job: dict[str, Any], needed: str) -> bool:
    level = effective_level(principal, job)
    return level is not None and RANK[level] >= RANK[needed]


def require(principal: Principal, job: dict[str, Any], needed: str) -> None:
    if not can(principal, job, needed):
        raise permission_denied(
            f"User {principal.name} does not have {VERB[needed]} permissions on job {job.get('job_id')}."
        )


def run_job_view(principal: Principal, run: dict[str, Any], job: dict[str, Any] | None) -> bool:
    """Runs are visible to whoever can view their job; a run without a job (one-time submit)
    to its creator and admins."""
    if job is not None:
        return can(principal, job, "CAN_VIEW")
    return principal.is_admin or run.get("creator_user_name") == principal.name


def job_permissions(job: dict[str, Any]) -> dict[str, Any]:
    """The Permissions API ``ObjectPermissions`` of a job (GET /api/2.0/permissions/jobs/{id}):
    the ACL entries, the implicit owner and the admins group (inherited)."""
    settings = job.get("settings") or {}
    by_principal: dict[tuple[str, str], list[dict[str, Any]]] = {}
    entries = acl_entries(settings)
    if not any(_level_of(e) == "IS_OWNER" for e in entries) and job.get("creator_user_name"):
        by_principal.setdefault(("user_name", job["creator_user_name"]), []).append(
            {"permission_level": "IS_OWNER", "inherited": False})
    for entry in entries:
        level = _level_of(entry)
        for kind in ("user_name", "group_name", "service_principal_name"):
            if level and entry.get(kind):
                by_principal.setdefault((kind, entry[kind]), []).append({"permission_level": level, "inherited": False})
    by_principal.setdefault(("group_name", "admins"), []).append(
        {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]})
    return {
        "object_id": f"/jobs/{job.get('job_id')}",
        "object_type": "job",
        "access_control_list": [{kind: name, "all_permissions": perms} for (kind, name), perms in by_principal.items()],
    }
