"""Pick the target: ``-t`` if given, else the one marked ``default: true``, else the only one.

With no ``targets:`` at all the bundle has one implicit target named ``default`` (the CLI's
behaviour).
"""

from __future__ import annotations

from healthmon.bundle.diag import fail
from healthmon.bundle.dyn import Value, as_bool
from healthmon.bundle.step import BundleState, Step

CHECK = "target"


def select_target(config: Value, requested: str | None) -> str:
    targets = config.get("targets")
    if targets is None or targets.v is None or targets.is_map and not targets.v:  # DefineDefaultTarget
        if requested not in (None, "default"):
            raise fail(f"{requested}: no such target. Available targets: default", check=CHECK)
        return "default"
    if not targets.is_map:
        raise fail("targets: expected a map of target name to settings", targets.loc, "targets", check=CHECK)
    # Sorted: the CLI lists Go map keys, whose order is not the file's.
    names = sorted(targets.v)
    if requested is not None:
        if requested not in targets.v:
            raise fail(f"{requested}: no such target. Available targets: {', '.join(names)}", check=CHECK)
        return requested
    defaults = []
    for name, t in targets.v.items():
        d = t.get("default") if t.is_map else None
        if d is not None and as_bool(d.v) is True:
            defaults.append(name)
        elif d is not None and d.v is not None and as_bool(d.v) is None:
            raise fail(f"targets.{name}.default: expected a boolean, found {d.v!r}", d.loc, f"targets.{name}.default",
                       check=CHECK)
    if len(defaults) > 1:
        raise fail(f"multiple targets are marked as default ({', '.join(sorted(defaults))})", check=CHECK)
    if defaults:
        return defaults[0]
    if len(names) == 1:
        return names[0]
    # The CLI's words, without a location (it names no single place); `-t` picks one.
    raise fail("please specify target", check=CHECK)


class SelectTarget(Step):
    name = "select_target"
    reads = ("targets.*.default", "environments")
    updates = ("environments", "targets")

    def __init__(self, requested: str | None):
        self.requested = requested

    def run(self, b: BundleState) -> None:
        envs = b.config.get("environments")
        if envs is not None:  # the deprecated name of `targets`
            if b.config.get("targets") is not None:
                # The CLI's EnvironmentsToTargets returns a plain error with the location in its
                # text (Go's Location.String(): the absolute file), so no at/in lines.
                where = f"{b.ctx.root / envs.loc.file}:{envs.loc.line}:{envs.loc.column}"
                raise fail(f"both 'environments' and 'targets' are specified; only 'targets' should be used: {where}",
                           check=CHECK)
            b.config = Value({("targets" if k == "environments" else k): v for k, v in b.config.v.items()},
                             b.config.loc)
        b.target = select_target(b.config, self.requested)
