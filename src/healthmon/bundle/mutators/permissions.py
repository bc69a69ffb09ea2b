"""Top-level ``permissions``, as the CLI's ``ApplyBundlePermissions`` and
``PermissionDiagnostics``, with the job owner the CLI deploys.

Each entry (``level`` CAN_VIEW / CAN_RUN / CAN_MANAGE and one of ``user_name``, ``group_name``,
``service_principal_name``) is appended to every resource of a kind that has permissions, under
that kind's own level name (``CAN_RUN`` is ``CAN_MANAGE_RUN`` on a job; a level a kind does not
have is skipped). Every such resource gets a ``permissions`` list, empty if need be, as the CLI
prints it. Where one principal ends up with several entries, one entry stays, at the first
entry's place, with the highest level. A job with any permission entry gets the deploying user
as ``IS_OWNER`` unless an entry already names an owner: that is the access control list a
deploy gives the job. A top-level section that does not give the deploying user (or a group of
theirs: every identity is in ``users``; other groups are the local workspace's SCIM ``Me``
groups, as the CLI's ``isGroupOfCurrentUser``) CAN_MANAGE is the CLI's warning.
"""

from __future__ import annotations

import uuid

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, in_place_of, map_pattern
from healthmon.bundle.step import BundleState, Step

CHECK = "permissions"
LEVELS = ("CAN_MANAGE", "CAN_VIEW", "CAN_RUN")
PRINCIPALS = ("user_name", "group_name", "service_principal_name")
OWNER = "IS_OWNER"
# Resource kind -> top-level level -> the kind's level (the CLI's levelsMap).
LEVELS_BY_KIND = {
    "jobs": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_MANAGE_RUN"},
    "pipelines": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_RUN"},
    "experiments": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_READ"},
    "models": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_READ"},
    "model_serving_endpoints": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_QUERY"},
    "dashboards": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_READ"},
    "apps": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_USE"},
}
# Every kind's levels, lowest first; within one kind the order is that kind's own.
RANK = {level: i for i, level in enumerate((
    "CAN_VIEW", "CAN_READ", "CAN_USE", "CAN_QUERY", "CAN_RUN", "CAN_MANAGE_RUN", "CAN_EDIT",
    "CAN_MANAGE_STAGING_VERSIONS", "CAN_MANAGE_PRODUCTION_VERSIONS", "CAN_MANAGE", OWNER), start=1)}


def principal(entry: Value) -> tuple[str, str] | None:
    """(``user_name`` | ``group_name`` | ``service_principal_name``, name) an entry names."""
    if entry.is_map:
        for k in PRINCIPALS:
            if k in entry.v and isinstance(entry.v[k].v, str) and entry.v[k].v:
                return k, entry.v[k].v
    return None


def _level(entry: Value) -> str | None:
    level = entry.get("level") if entry.is_map else None
    return level.v if level is not None and isinstance(level.v, str) else None


def deploying_principal(user: str) -> tuple[str, str]:
    """How an ACL names the deploying user: a service principal's name is its application id
    (a UUID), as the CLI tells them apart."""
    try:
        uuid.UUID(user)
    except ValueError:
        return "user_name", user
    return "service_principal_name", user


def highest_per_principal(items: list[Value]) -> list[Value]:
    """One entry per principal, at its first entry's place, with the highest of its levels."""
    out: list[Value] = []
    index: dict[tuple[str, str], int] = {}
    for item in items:
        who = principal(item)
        if who is None or who not in index:
            if who is not None:
                index[who] = len(out)
            out.append(item)
            continue
        kept = out[index[who]]
        if RANK.get(_level(item) or "", 0) > RANK.get(_level(kept) or "", 0):
            out[index[who]] = kept.rebuilt({**kept.v, "level": item.v["level"]})
    return out


def with_owner(items: list[Value], user: str) -> list[Value]:
    """``items`` with the deploying user as ``IS_OWNER`` unless an entry names an owner."""
    if not items or any(_level(x) == OWNER for x in items):
        return items
    kind, name = deploying_principal(user)
    return highest_per_principal([*items, Value({"level": Value(OWNER), kind: Value(name)})])


# Every workspace identity is a member of this group, so a grant to it includes the deploying user.
ALL_USERS_GROUP = "users"
SHARED_ROOT = "/Workspace/Shared/"
SHARED_ROOT_DETAIL = (
    "The bundle is configured to use /Workspace/Shared, which will give read/write access to all users. If this is "
    "intentional, please add CAN_MANAGE for 'group_name: users' permission to your bundle configuration. If the "
    "deployment should be restricted, move it to a restricted folder such as /Workspace/Users/<username or principal "
    "name>."
)


class ValidateSharedRootPermissions(Step):
    """The CLI's ``ValidateSharedRootPermissions``: a root path under ``/Workspace/Shared/`` is
    writable by every workspace user, which is a warning unless the top-level ``permissions``
    say so on purpose (``group_name: users`` with ``CAN_MANAGE``)."""

    name = "validate_shared_root_permissions"
    reads = ("workspace.root_path", "permissions")

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        workspace = b.config.get("workspace")
        root = workspace.get("root_path") if workspace is not None and workspace.is_map else None
        if root is None or not isinstance(root.v, str) or not root.v.startswith(SHARED_ROOT):
            return diags
        top = b.config.get("permissions")
        entries = [e for e in top.v if e.is_map] if top is not None and top.is_list else []
        if not any(principal(e) == ("group_name", ALL_USERS_GROUP) and _level(e) == "CAN_MANAGE" for e in entries):
            diags.warning(f"the bundle root path {root.v} is writable by all workspace users", check=CHECK,
                          detail=SHARED_ROOT_DETAIL)
        return diags


def _user_groups(config: Value, user: str) -> set[str]:
    """The display names of the deploying user's groups: ``workspace.current_user.groups`` when
    it was read, else the local workspace's SCIM ``Me`` (an unknown user has none)."""
    from healthmon.bundle import lookup

    ws = config.get("workspace")
    me = ws.get("current_user") if ws is not None and ws.is_map else None
    groups = me.get("groups") if me is not None and me.is_map else None
    if groups is not None and groups.is_list and groups.v:
        found = groups.plain()
    else:
        try:
            found = lookup.current_user(user).get("groups") or []
        except lookup.LookupError_:
            found = []
    return {g["display"] for g in found if isinstance(g, dict) and isinstance(g.get("display"), str)}


def _deployer_can_manage(config: Value, entries: list[Value], user: str) -> bool:
    """The CLI's ``analyzeBundlePermissions``: a CAN_MANAGE entry names the deploying user or one
    of their groups. The workspace is read only for a group other than ``users``."""
    managers = [principal(e) for e in entries if _level(e) == "CAN_MANAGE"]
    if any(p in (("user_name", user), ("service_principal_name", user), ("group_name", ALL_USERS_GROUP))
           for p in managers):
        return True
    groups = {name for kind, name in filter(None, managers) if kind == "group_name"}
    return bool(groups) and bool(groups & _user_groups(config, user))


class PermissionDiagnostics(Step):
    """The CLI's ``PermissionDiagnostics``: a top-level section that does not give the deploying
    user CAN_MANAGE is a warning. It runs before ``set_run_as`` and ``apply_mode``, as in the
    CLI's initialize, so its warning precedes their findings and survives their errors."""

    name = "permission_diagnostics"
    reads = ("permissions", "workspace.current_user")

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        top = b.config.get("permissions")
        entries = [e for e in top.v if e.is_map] if top is not None and top.is_list else []
        user = b.ctx.user_name
        if top is not None and entries and not _deployer_can_manage(b.config, entries, user):
            diags.warning(f"permissions section should include {user} or one of their groups with CAN_MANAGE "
                          f"permissions", top.loc, check=CHECK)
        return diags


class ApplyPermissions(Step):
    name = "apply_permissions"
    reads = ("permissions", *(f"resources.{k}.*.permissions" for k in LEVELS_BY_KIND))
    updates = tuple(f"resources.{k}.*.permissions" for k in LEVELS_BY_KIND)

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        top = b.config.get("permissions")
        entries = [e for e in top.v if e.is_map] if top is not None and top.is_list else []
        for e in entries:
            if _level(e) not in LEVELS:
                diags.error(f"invalid permission level: {_level(e) or ''}, "
                            f"allowed values: [{', '.join(LEVELS)}]", check=CHECK)
                return diags
        user = b.ctx.user_name
        for kind, levels in LEVELS_BY_KIND.items():
            def apply(_p, node: Value, kind=kind, levels=levels) -> Value:
                if not node.is_map:
                    return node
                own = node.get("permissions")
                items = [x for x in own.v] if own is not None and own.is_list else []
                for e in entries:
                    lvl = e.get("level")
                    if lvl.v in levels:
                        items.append(e.rebuilt({**e.v, "level": Value(levels[lvl.v], lvl.loc)}))
                items = highest_per_principal(items)
                if kind == "jobs":
                    items = with_owner(items, user)
                # A list the resource did not have is generated: no location, as the CLI's.
                return node.rebuilt({**node.v, "permissions": in_place_of(own, items)})

            b.config = map_pattern(b.config, f"resources.{kind}.*", apply)
        return diags
