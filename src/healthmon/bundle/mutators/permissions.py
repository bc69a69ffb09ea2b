"""Top-level ``permissions`` (the CLI's ``ApplyBundlePermissions``).

Each entry (``level`` CAN_VIEW / CAN_RUN / CAN_MANAGE and one of ``user_name``, ``group_name``,
``service_principal_name``) is added to every job and pipeline with the resource's own level
name (``CAN_RUN`` is ``CAN_MANAGE_RUN`` on a job). Entries for one principal collapse to the
highest level. A job with permissions gets the deploying user as ``IS_OWNER`` unless an owner
is named. Deploy stores them as the job's access control list.
"""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, map_pattern
from healthmon.bundle.step import BundleState, Step

CHECK = "permissions"
LEVELS = ("CAN_VIEW", "CAN_RUN", "CAN_MANAGE")
PRINCIPALS = ("user_name", "group_name", "service_principal_name")
JOB_LEVELS = {"CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_MANAGE_RUN", "CAN_MANAGE": "CAN_MANAGE"}
PIPELINE_LEVELS = {"CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_RUN", "CAN_MANAGE": "CAN_MANAGE"}
RANK = {lvl: i for i, lvl in enumerate(("CAN_VIEW", "CAN_RUN", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"))}


def principal(entry: Value) -> tuple[str, str] | None:
    for k in PRINCIPALS:
        v = entry.get(k)
        if v is not None and isinstance(v.v, str) and v.v:
            return k, v.v
    return None


def collapse(entries: list[Value]) -> list[Value]:
    """One entry per principal, at its highest level, in first-seen order."""
    best: dict[tuple[str, str], int] = {}
    out: list[Value] = []
    for e in entries:
        who = principal(e) if e.is_map else None
        level = e.get("level").v if e.is_map and e.get("level") is not None else None
        if who is None:
            out.append(e)
            continue
        if who in best:
            i = best[who]
            if RANK.get(level, -1) > RANK.get(out[i].get("level").v, -1):
                out[i] = e
        else:
            best[who] = len(out)
            out.append(e)
    return out


class ApplyPermissions(Step):
    name = "apply_permissions"
    reads = ("permissions", "resources.jobs.*.permissions", "resources.pipelines.*.permissions")
    updates = ("resources.jobs.*.permissions", "resources.pipelines.*.permissions")

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        top = b.config.get("permissions")
        entries = list(top.v) if top is not None and top.is_list else []
        for i, e in enumerate(entries):
            level = e.get("level") if e.is_map else None
            if level is None or level.v not in LEVELS:
                diags.error(f"permission level {level.v if level is not None else None!r} is not allowed in the "
                            f"top-level permissions (use one of {', '.join(LEVELS)})",
                            (level or e).loc, f"permissions[{i}].level", check=CHECK)
            elif principal(e) is None:
                diags.error("a permission names exactly one of user_name, group_name or service_principal_name",
                            e.loc, f"permissions[{i}]", check=CHECK)
        if diags.has_errors():
            return diags
        user = b.ctx.user_name
        for kind, levels, owner in (("jobs", JOB_LEVELS, True), ("pipelines", PIPELINE_LEVELS, False)):
            def apply(_p, node: Value, levels=levels, owner=owner) -> Value:
                if not node.is_map:
                    return node
                own = node.get("permissions")
                items = list(own.v) if own is not None and own.is_list else []
                for e in entries:
                    lvl = e.get("level")
                    items.append(Value({**e.v, "level": Value(levels[lvl.v], lvl.loc)}, e.loc))
                if not items:
                    return node
                if owner and not any(x.is_map and x.get("level") is not None and x.get("level").v == "IS_OWNER"
                                     for x in items):
                    items.append(Value({"level": Value("IS_OWNER", node.loc), "user_name": Value(user, node.loc)},
                                       node.loc))
                items = collapse(items)
                return Value({**node.v, "permissions": Value(items, own.loc if own is not None else node.loc)},
                             node.loc)

            b.config = map_pattern(b.config, f"resources.{kind}.*", apply)
        return diags
