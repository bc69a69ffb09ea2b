"""``bundle.git``: branch, commit and origin URL of the repository holding the bundle, as the
CLI's ``LoadGitDetails`` fills them (so ``${bundle.git.branch}`` resolves).

Read straight from ``.git`` files (HEAD, refs, packed-refs, config) instead of running ``git``:
validate must stay fast, and a missing git binary must not matter. Values the user set under
``bundle.git`` win; ``actual_branch`` is always the checked-out one.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from healthmon.bundle.context import LoadContext
from healthmon.bundle.dyn import Value
from healthmon.bundle.step import BundleState, Step


def _git_dir(root: Path) -> tuple[Path, Path] | None:
    """(work tree top, git dir), following a ``.git`` file (worktrees, submodules)."""
    for d in (root, *root.parents):
        dot = d / ".git"
        if dot.is_dir():
            return d, dot
        if dot.is_file():
            text = dot.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                gd = Path(text[7:].strip())
                return d, gd if gd.is_absolute() else (d / gd).resolve()
    return None


def worktree_root(root: Path) -> Path | None:
    """The top of the git work tree holding ``root`` (the CLI's ``b.WorktreeRoot``), if any."""
    found = _git_dir(root)
    return found[0] if found is not None else None


def _common_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    if common.is_file():
        p = Path(common.read_text().strip())
        return p if p.is_absolute() else (git_dir / p).resolve()
    return git_dir


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    common = _common_dir(git_dir)
    for base in (git_dir, common):
        f = base / ref
        if f.is_file():
            return f.read_text().strip() or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None


def git_details(root: Path) -> dict[str, str]:
    found = _git_dir(root)
    if found is None:
        return {}
    top, git_dir = found
    out: dict[str, str] = {}
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return {}
    if head.startswith("ref:"):
        ref = head[4:].strip()
        out["branch"] = out["actual_branch"] = ref.removeprefix("refs/heads/")
        commit = _resolve_ref(git_dir, ref)
    else:
        commit = head
    if commit:
        out["commit"] = commit
    cfg = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        cfg.read(_common_dir(git_dir) / "config")
        url = cfg.get('remote "origin"', "url", fallback=None)
    except (configparser.Error, OSError):
        url = None
    if url:
        out["origin_url"] = url
    rel = root.relative_to(top).as_posix() if root != top else "."
    out["bundle_root_path"] = rel
    return out


def load_git(config: Value, ctx: LoadContext) -> Value:
    try:
        details = git_details(ctx.root)
    except (OSError, ValueError, UnicodeDecodeError):
        details = {}
    details = details or {"bundle_root_path": "."}
    bundle = config.get("bundle")
    if bundle is None or not bundle.is_map:
        return config
    existing = bundle.get("git")
    git = dict(existing.v) if existing is not None and existing.is_map else {}
    # Values found in the repository are set on the CLI's typed configuration: no location. The
    # CLI tests the typed fields against "", so a user-set empty string counts as unset.
    if "branch" in details and (git.get("branch") is None or git["branch"].v in (None, "")):
        git["inferred"] = Value(True)  # as the CLI: the branch came from git, not the user
    for k, v in details.items():
        if k in ("actual_branch", "bundle_root_path") or k not in git or git[k].v in (None, ""):
            git[k] = Value(v)
    git_value = existing.rebuilt(git) if existing is not None else Value(git)
    return config.rebuilt({**config.v, "bundle": bundle.rebuilt({**bundle.v, "git": git_value})})


class LoadGit(Step):
    name = "load_git"
    reads = ("bundle.git", ".git")
    updates = ("bundle.git",)

    def run(self, b: BundleState) -> None:
        b.config = load_git(b.config, b.ctx)
