"""Top-level ``permissions``, as the CLI's ``ApplyBundlePermissions``, ``FilterCurrentUser``
and ``PermissionDiagnostics``.

Each entry (``level`` CAN_VIEW / CAN_RUN / CAN_MANAGE and one of ``user_name``, ``group_name``,
``service_principal_name``) is appended to every resource of a kind that has permissions, under
that kind's own level name (``CAN_RUN`` is ``CAN_MANAGE_RUN`` on a job; a level a kind does not
have is skipped). A principal the resource already names keeps the resource's own entry. Every
such resource gets a ``permissions`` list, empty if need be, as the CLI prints it. Entries for
the deploying user are removed: the deploying user owns what it deploys (deploy records it as
the job's ``IS_OWNER``). A top-level section that does not give the deploying user CAN_MANAGE is
the CLI's warning.
"""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, map_pattern
from healthmon.bundle.step import BundleState, Step

CHECK = "permissions"
LEVELS = ("CAN_MANAGE", "CAN_VIEW", "CAN_RUN")
PRINCIPALS = ("user_name", "group_name", "service_principal_name")
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


def principals(entry: Value) -> set[tuple[str, str]]:
    if not entry.is_map:
        return set()
    return {(k, entry.v[k].v) for k in PRINCIPALS
            if k in entry.v and isinstance(entry.v[k].v, str) and entry.v[k].v}


def _is_current_user(entry: Value, user: str) -> bool:
    return bool(principals(entry) & {("user_name", user), ("service_principal_name", user)})


class ApplyPermissions(Step):
    name = "apply_permissions"
    reads = ("permissions", *(f"resources.{k}.*.permissions" for k in LEVELS_BY_KIND))
    updates = tuple(f"resources.{k}.*.permissions" for k in LEVELS_BY_KIND)

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        top = b.config.get("permissions")
        entries = [e for e in top.v if e.is_map] if top is not None and top.is_list else []
        for e in entries:
            level = e.get("level")
            if level is None or level.v not in LEVELS:
                diags.error(f"invalid permission level: {level.v if level is not None else ''}, "
                            f"allowed values: [{', '.join(LEVELS)}]", check=CHECK)
                return diags
        user = b.ctx.user_name
        for kind, levels in LEVELS_BY_KIND.items():
            def apply(_p, node: Value, levels=levels) -> Value:
                if not node.is_map:
                    return node
                own = node.get("permissions")
                items = [x for x in own.v] if own is not None and own.is_list else []
                named = set().union(*(principals(x) for x in items))
                for e in entries:
                    lvl = e.get("level")
                    if lvl.v in levels and not principals(e) & named:
                        items.append(Value({**e.v, "level": Value(levels[lvl.v], lvl.loc)}, e.loc))
                items = [x for x in items if not _is_current_user(x, user)]
                return Value({**node.v, "permissions": Value(items, own.loc if own is not None else node.loc)},
                             node.loc)

            b.config = map_pattern(b.config, f"resources.{kind}.*", apply)
        if entries and not any(
                e.get("level").v == "CAN_MANAGE" and _is_current_user(e, user) for e in entries):
            diags.warning(f"permissions section should include {user} or one of their groups with CAN_MANAGE "
                          f"permissions", top.loc, check=CHECK)
        return diags
