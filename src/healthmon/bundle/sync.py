"""Which files a deployment copies, and the copy itself.

Inside a git work tree the file list is ``git ls-files --cached --others --exclude-standard``
(so ``.gitignore`` is honoured, as the CLI's sync does); elsewhere a walk that skips ``.git``,
``.venv``, ``.healthmon``, ``.databricks`` and ``__pycache__``. Files are copied into a
staging directory first; ``commit`` swaps it into place only after the database transaction
succeeded, so a failed deploy leaves the previous snapshot untouched.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

from healthmon.errors import HealthmonError

SKIP_DIRS = {".git", ".venv", "venv", ".healthmon", ".databricks", "__pycache__", ".pytest_cache",
             ".hypothesis", "node_modules", ".mypy_cache"}


def sync_settings(config: dict) -> dict[str, list[str]]:
    """``list_files`` keywords from a resolved configuration's ``sync`` section (its paths are
    relative to the sync root already: ``rewrite_sync_paths``, ``sync_infer_root``)."""
    section = config.get("sync")
    section = section if isinstance(section, dict) else {}

    def strings(key: str) -> list[str]:
        got = section.get(key)
        return [p for p in got if isinstance(p, str)] if isinstance(got, list) else []

    return {k: strings(k) for k in ("paths", "include", "exclude")}


def list_files(root: Path, *, paths: Sequence[str] = (".",), include: Sequence[str] = (),
               exclude: Sequence[str] = ()) -> list[str]:
    """The files a deployment copies, as the CLI's sync: the files under ``sync.paths`` that git
    does not ignore, plus those matching an ``include`` pattern, minus those matching an
    ``exclude`` pattern (gitignore syntax, relative to ``root``, the sync root). Paths relative to
    ``root`` (posix), sorted. ``sync_infer_root`` chose ``root`` to hold every ``sync.paths``
    entry; one still outside it (``..``) is skipped."""
    files = _git_files(root)
    if files is None:
        files = walk_files(root)
    files = [f for f in files if (root / f).is_file() and not (set(Path(f).parts) & SKIP_DIRS)]
    prefixes = [p for p in (posixpath.normpath(x) for x in paths) if p != ".." and not p.startswith("../")]
    chosen = {f for f in files if any(p == "." or f == p or f.startswith(p + "/") for p in prefixes)}
    if include or exclude:
        every = walk_files(root)
        chosen |= set(matching(every, include))
        chosen -= set(matching(every, exclude))
    return sorted(chosen)


def walk_files(root: Path) -> list[str]:
    """Every file under ``root`` outside the directories a deployment never copies."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = Path(dirpath).relative_to(root)
        files += [(rel / f).as_posix() for f in filenames]
    return sorted(files)


def matching(files: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The ``files`` that gitignore-style ``patterns`` select (the CLI's ``fileset.GlobSet``).
    A pattern git cannot read (a lone ``\\``) is a ``ValueError`` naming it."""
    if not patterns:
        return []
    import pathspec

    try:
        spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    except ValueError as exc:
        raise ValueError(f"invalid sync pattern: {exc}") from None
    return [f for f in files if spec.match_file(f)]


def _git_files(root: Path) -> list[str] | None:
    try:
        inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True,
                                text=True, timeout=30)
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return sorted({p for p in out.stdout.decode("utf-8", "surrogateescape").split("\0") if p})


def stage(root: Path, dest: Path, files: list[str]) -> Path:
    """Copy ``files`` into a fresh staging directory beside ``dest``; return it. A file system
    that refuses the copy (a bundle name longer than a file name may be, an unreadable file) is
    a user error naming the path, and leaves no staging directory behind."""
    staging = dest.parent / f".{dest.name}.staging-{uuid.uuid4().hex[:8]}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        for rel in files:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise HealthmonError(f"cannot copy the bundle's files to {_short(dest)}: {exc.strerror or exc}"
                             + (f" ({_short(exc.filename)})" if exc.filename else "")) from None
    return staging


def _short(path: object, limit: int = 200) -> str:
    text = str(path)
    return text if len(text) <= limit else text[:limit] + "..."


def commit(staging: Path, dest: Path) -> None:
    """Replace ``dest`` by ``staging`` (the old copy is removed after the swap)."""
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
        dest.rename(old)
    staging.rename(dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard(staging: Path | None) -> None:
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
