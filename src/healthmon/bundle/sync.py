"""Which files a deployment copies, and the copy itself.

Inside a git work tree the file list is ``git ls-files --cached --others --exclude-standard``
(so ``.gitignore`` is honoured, as the CLI's sync does); elsewhere a walk that skips ``.git``,
``.venv``, ``.healthmon``, ``.databricks`` and ``__pycache__``. Files are copied into a
staging directory first; ``commit`` swaps it into place only after the database transaction
succeeded, so a failed deploy leaves the previous snapshot untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

SKIP_DIRS = {".git", ".venv", "venv", ".healthmon", ".databricks", "__pycache__", ".pytest_cache",
             ".hypothesis", "node_modules", ".mypy_cache"}


def list_files(root: Path) -> list[str]:
    """Paths relative to ``root`` (posix), sorted."""
    files = _git_files(root)
    if files is None:
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            rel = Path(dirpath).relative_to(root)
            files += [(rel / f).as_posix() for f in filenames]
    return sorted(f for f in files if (root / f).is_file() and not (set(Path(f).parts) & SKIP_DIRS))


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
    """Copy ``files`` into a fresh staging directory beside ``dest``; return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    for rel in files:
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    return staging


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
