"""Diagnostics: what validation found, each with a severity, a location and a config path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from healthmon.errors import HealthmonError, Location

if TYPE_CHECKING:  # pragma: no cover
    from healthmon.bundle.loader import Bundle

ERROR = "error"
WARNING = "warning"
RECOMMENDATION = "recommendation"


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    location: Location | None = None
    path: str | None = None  # config path, e.g. resources.jobs.x.tasks[0].notebook_task
    detail: str | None = None
    check: str = ""  # the validator that produced it, for filtering and tests
    # Further paths / locations of the same finding (e.g. a key defined in two files).
    more_paths: tuple[str, ...] = ()
    more_locations: tuple[Location, ...] = ()

    def render(self) -> str:
        """The real CLI's text layout: severity line, ``at`` path(s), ``in`` location(s), detail."""
        lines = [f"{self.severity.capitalize()}: {self.summary}"]
        paths = [p for p in (self.path, *self.more_paths) if p]
        # A value a step generated has no place in a file (the CLI's values without location).
        locs = [str(x) for x in (self.location, *self.more_locations) if x is not None and not x.file.startswith("<")]
        lines += [("  at " if i == 0 else "     ") + p for i, p in enumerate(paths)]
        lines += [("  in " if i == 0 else "     ") + x for i, x in enumerate(locs)]
        if self.detail:
            lines += ["", self.detail]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        d = {"severity": self.severity, "summary": self.summary, "check": self.check}
        if self.location is not None:
            d["location"] = str(self.location)
        if self.path:
            d["path"] = self.path
        if self.detail:
            d["detail"] = self.detail
        return d


@dataclass
class Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, d: Diagnostic) -> None:
        self.items.append(d)

    def error(self, summary: str, location: Location | None = None, path: str | None = None, *, check: str = "",
              detail: str | None = None) -> None:
        self.items.append(Diagnostic(ERROR, summary, location, path, detail, check))

    def warning(self, summary: str, location: Location | None = None, path: str | None = None, *, check: str = "",
                detail: str | None = None) -> None:
        self.items.append(Diagnostic(WARNING, summary, location, path, detail, check))

    def extend(self, other: "Diagnostics | list[Diagnostic]") -> None:
        self.items.extend(other.items if isinstance(other, Diagnostics) else other)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == WARNING]

    def has_errors(self) -> bool:
        return any(d.severity == ERROR for d in self.items)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class BundleError(HealthmonError):
    """A loading step failed; carries every diagnostic gathered so far."""

    bundle: Bundle | None = None  # the partially loaded bundle, when loading got that far

    def __init__(self, diagnostics: list[Diagnostic]):
        errors = [d for d in diagnostics if d.severity == ERROR]
        first = errors[0] if errors else diagnostics[0] if diagnostics else Diagnostic(ERROR, "invalid bundle")
        super().__init__(first.summary, location=first.location)
        self.diagnostics = diagnostics
        self.first = first  # the first error (what a one-line message names)

    def __str__(self) -> str:
        return "\n\n".join(d.render() for d in self.diagnostics)


def fail(summary: str, location: Location | None = None, path: str | None = None, *, check: str = "",
         detail: str | None = None) -> BundleError:
    return BundleError([Diagnostic(ERROR, summary, location, path, detail, check)])
