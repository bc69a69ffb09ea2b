"""Find the system-table exports in a folder the way people actually lay them out.

A table's export is a folder (Spark's output, a download folder) or a flat data file, named
after the table in any of the forms people write: ``system.billing.usage``,
``billing.usage``, ``usage`` (when no other system table has that short name), with ``_``,
``-`` or spaces for the dots, in any case (``billing_usage``, ``System.Billing.Usage.csv``).
Folders whose name is no table are looked into (wrapper folders: a recursive copy's extra
level, a dated export folder...) up to :data:`MAX_WRAPPERS` levels. Names starting with ``.``
or ``_`` are never data. A flat text file may be gzip-compressed (``usage.csv.gz``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from healthmon.demodata.readers import data_suffix
from healthmon.demodata.system_schema import ALIASES, SNAPSHOT_SOURCES, SPEC_BY_SOURCE
from healthmon.errors import HealthmonError, InvalidParameterError

KNOWN = tuple(sorted(set(SPEC_BY_SOURCE) | set(SNAPSHOT_SOURCES)))
MAX_WRAPPERS = 3
_SEPARATORS = re.compile(r"[.\-\s]+")


def _key(name: str) -> str:
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")


@lru_cache(maxsize=1)
def _names() -> tuple[dict[str, str], frozenset[str]]:
    """Every accepted spelling (normalised) → system table, and the short names that would be
    ambiguous (two different tables)."""
    spellings: dict[str, set[str]] = {}
    for full in set(KNOWN) | set(ALIASES):
        target = ALIASES.get(full, full)
        _, schema, table = full.split(".")
        for form in (full, f"{schema}.{table}", table):
            spellings.setdefault(_key(form), set()).add(target)
    names = {k: next(iter(v)) for k, v in spellings.items() if len(v) == 1}
    return names, frozenset(k for k, v in spellings.items() if len(v) > 1)


def table_name(name: str) -> str | None:
    """The system table a folder or file stem names, or None."""
    return _names()[0].get(_key(name))


def parse_table_names(values: list[str], what: str) -> set[str]:
    """User-given table names (``--allow-missing``) in any accepted spelling; ``all`` = every one."""
    out: set[str] = set()
    for raw in values:
        for value in (v for v in raw.split(",") if v.strip()):
            if value.strip().lower() in ("all", "*"):
                out.update(KNOWN)
                continue
            name = table_name(value)
            if name is None:
                raise InvalidParameterError(f"{what}: {value.strip()!r} is not a system table the importer reads; "
                                            f"expected one of {', '.join(KNOWN)} (or 'all')")
            out.add(name)
    return out


def _data_stem(path: Path) -> str | None:
    """A data file's name without its format suffix (None: not a data file)."""
    suffix = data_suffix(path.name)
    return None if suffix is None else path.name[: -len(suffix)]


@dataclass
class Discovery:
    root: Path
    found: dict[str, Path] = field(default_factory=dict)   # system table → folder or file
    ignored: list[str] = field(default_factory=list)       # paths relative to root

    def relative(self, path: Path) -> str:
        rel = path.relative_to(self.root).as_posix()
        return rel + ("/" if path.is_dir() else "")


def _hidden(name: str) -> bool:
    return name.startswith((".", "_")) or name.endswith(".crc")


def discover(root: Path) -> Discovery:
    if not root.is_dir():
        raise HealthmonError(f"{root}: not a directory (expected one folder or file per system table, "
                             "e.g. system.billing.usage/)")
    found = Discovery(root)

    def add(name: str, path: Path) -> None:
        if name in found.found:
            raise HealthmonError(f"{root}: two exports of {name}: {found.relative(found.found[name])} and "
                                 f"{found.relative(path)}; keep one")
        found.found[name] = path

    def walk(directory: Path, depth: int) -> bool:
        """Add the tables under ``directory``; True if any was found."""
        any_found = False
        for entry in sorted(directory.iterdir(), key=lambda p: p.name):
            if _hidden(entry.name):
                continue
            if entry.is_dir():
                name = table_name(entry.name)
                if name:
                    add(name, entry)
                    any_found = True
                elif depth < MAX_WRAPPERS and "=" not in entry.name and walk(entry, depth + 1):
                    any_found = True
                else:
                    found.ignored.append(found.relative(entry))
            else:
                stem = _data_stem(entry)
                if stem is None:
                    continue
                name = table_name(stem)
                if name:
                    add(name, entry)
                    any_found = True
                else:
                    found.ignored.append(found.relative(entry))
        return any_found

    walk(root, 0)
    if not found.found:
        what = f" (found: {', '.join(found.ignored[:6])})" if found.ignored else ""
        raise HealthmonError(
            f"{root}: no system-table exports found{what}; expected folders or files named after the tables, "
            "e.g. system.billing.usage/, billing.usage.csv or usage/ — see docs/demodata.md §5")
    return found
