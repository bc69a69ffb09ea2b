"""The uniform step interface of the bundle loader (the Databricks CLI's *mutators*).

A ``Step`` is a named transformation of the configuration: ``apply(bundle)`` reads
``bundle.config`` (an immutable ``dyn.Value`` tree), may replace it with a new tree, and returns
what it found as ``Diagnostics``. Each step declares the configuration paths it ``reads`` and
``updates`` as ``dyn`` patterns (``resources.jobs.*.tasks[*]``), which documents the data flow
and lets a test check that a step changed nothing else. ``healthmon.bundle.pipeline`` lists the
steps in their order, phase by phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import BundleError, Diagnostics
from healthmon.bundle.dyn import Value

if TYPE_CHECKING:  # pragma: no cover
    from healthmon.bundle.mutators.translate_paths import SourceRef


@dataclass
class BundleState:
    """What the steps work on: the configuration (replaced, never mutated in place), the load
    context, the selected target, the local files behind translated paths and the sync root (the
    local directory uploaded to ``workspace.file_path``: the bundle root unless ``sync.paths``
    reach outside it)."""

    config: Value
    ctx: LoadContext
    sources: dict[str, "SourceRef"] = field(default_factory=dict)
    target: str = ""
    sync_root: Path | None = None  # set by sync_infer_root; None before it ran
    # The selected target's own settings as written (the CLI's ``b.Target`` snapshot), set by
    # merge_target: some checks ask what the target itself sets, not the merged result.
    target_settings: Value | None = None

    def sync_dir(self) -> Path:
        return self.sync_root if self.sync_root is not None else self.ctx.root

    def jobs(self) -> dict[str, Value]:
        res = self.config.get("resources")
        jobs = res.get("jobs") if res is not None else None
        if jobs is None or not jobs.is_map:
            return {}
        return {k: j for k, j in jobs.v.items() if j.is_map}


class Step:
    """One named step. Subclasses set ``name``, ``reads``, ``updates`` and implement ``run``;
    ``apply`` turns a ``BundleError`` raised deep inside a step into its diagnostics."""

    name: str = ""  # a class attribute, except for the validate_<check> steps that set it per instance
    reads: ClassVar[tuple[str, ...]] = ()
    updates: ClassVar[tuple[str, ...]] = ()

    def run(self, b: BundleState) -> Diagnostics | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, b: BundleState) -> Diagnostics:
        try:
            found = self.run(b)
        except BundleError as exc:
            return Diagnostics(list(exc.diagnostics))
        return found if found is not None else Diagnostics()

    def __repr__(self) -> str:
        return f"<step {self.name}>"


def apply_all(b: BundleState, steps: "list[Step] | tuple[Step, ...]", *, stop_on_error: bool = True) -> Diagnostics:
    """Apply ``steps`` in order. Like the CLI, a phase stops at the first step that reports an
    error (later steps would work on a configuration known to be wrong)."""
    diags = Diagnostics()
    for step in steps:
        found = step.apply(b)
        diags.extend(found)
        if stop_on_error and found.has_errors():
            break
    return diags
