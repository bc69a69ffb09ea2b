"""``lookup:`` variables, resolved against the local workspace (the CLI asks the workspace API).

The local workspace holds jobs and principals, so ``job`` (by name → job id) and
``service_principal`` (by display name or application id → application id) resolve; a lookup of
any other kind names the object and says the local workspace has no such objects. Callers
report a failure as the CLI does: ``failed to resolve <kind>: <name>, err: <reason>``.
"""

from __future__ import annotations

from healthmon.errors import HealthmonError

KINDS = ("alert", "cluster_policy", "cluster", "dashboard", "instance_pool", "job", "metastore", "notebook",
         "pipeline", "query", "service_principal", "warehouse")
LOCAL_KINDS = ("job", "service_principal")
# The object types the CLI's "not found" errors name (the Go SDK's GetBy... helpers).
SDK_TYPES = {"job": "BaseJob", "service_principal": "ServicePrincipal"}


class LookupError_(HealthmonError):
    pass


def resolve(kind: str, name: str) -> str:
    if kind not in LOCAL_KINDS:
        raise LookupError_(f"the local workspace has no {kind.replace('_', ' ')}s "
                           f"(local lookups: {', '.join(LOCAL_KINDS)})")
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from healthmon.settings import Settings
    from healthmon.store.db import Database

    try:
        db = Database.from_settings(Settings.from_env())
        db.create_all()
        with db.session() as s:
            if kind == "job":
                from healthmon.store.jobs import list_jobs

                ids = sorted(j.job_id for j in list_jobs(s, name=name))
                if len(ids) > 1:
                    raise LookupError_(f"there are {len(ids)} instances of BaseJob named '{name}'")
                found = str(ids[0]) if ids else None
            else:
                from healthmon.store.auth import PrincipalRecord

                rows = s.execute(select(PrincipalRecord).where(PrincipalRecord.kind == "service_principal")).scalars()
                found = next((r.name for r in rows if name in (r.display_name, r.name)), None)
    except SQLAlchemyError as exc:
        raise LookupError_(str(exc)) from None
    if found is None:
        raise LookupError_(f"{SDK_TYPES[kind]} named '{name}' does not exist")
    return found


def current_user(user_name: str) -> dict:
    """The local workspace's SCIM ``Me`` for ``user_name`` (the CLI fills
    ``workspace.current_user`` from it): ``id``, ``userName``, ``displayName``, ``active``,
    ``groups``, ``emails``, ... The user is provisioned if the workspace has never seen it: the
    CLI's current user always exists in its workspace, and the local user owns this one."""
    from sqlalchemy.exc import SQLAlchemyError

    from healthmon.settings import Settings
    from healthmon.store.auth import ensure_principal, principal_named
    from healthmon.store.db import Database

    try:
        db = Database.from_settings(Settings.from_env())
        with db.session() as s:
            ensure_principal(s, user_name)
            return principal_named(s, user_name).to_scim()
    except (SQLAlchemyError, HealthmonError) as exc:
        raise LookupError_(str(exc)) from None
