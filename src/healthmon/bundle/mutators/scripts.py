"""``experimental.scripts``: shell hooks the CLI runs around its phases (its ``scripts.Execute``).

``preinit`` runs right after the root file is read, before ``include:`` is expanded (so a
script can write a file that the root includes); ``postinit`` at the end of initialize — both on
every command that loads the bundle, ``validate`` included. ``prebuild``, ``postbuild``,
``predeploy`` and ``postdeploy`` run during ``bundle deploy`` (``healthmon.bundle.deploy``).

Each hook is run as the CLI's executor runs it: ``bash -ec <command>`` in the bundle root, with
the process environment. The CLI announces ``Executing '<hook>' script`` and prints the
script's output on stderr, all of stdout then all of stderr (an ``io.MultiReader``), each line
stripped; like its line reader, a last line without a newline is not printed. A script that
fails is an error worded as Go's ``exec.ExitError`` (``exit status 1``), without a location.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, get_path
from healthmon.bundle.step import BundleState, Step

CHECK = "scripts"
HOOKS = ("preinit", "postinit", "prebuild", "postbuild", "predeploy", "postdeploy")
RESTRICTED = "DATABRICKS_BUNDLE_RESTRICTED_CODE_EXECUTION"


def hook_command(config: Value, hook: str) -> str:
    """The command configured for ``hook`` (``""`` when none)."""
    node = get_path(config, ("experimental", "scripts", hook))
    return node.v if node is not None and isinstance(node.v, str) else ""


def _exit_reason(returncode: int) -> str:
    # Go's ExitError: "exit status N", or "signal: <name>" for a process killed by a signal.
    if returncode >= 0:
        return f"exit status {returncode}"
    name = signal.strsignal(-returncode)
    return f"signal: {name.lower() if name else -returncode}"


def run_hook(config: Value, hook: str, root: Path, environ: Mapping[str, str],
             log: Callable[[str], None] | None = None) -> Diagnostics:
    """Run the script of ``hook`` (if any) in ``root``; its failure is an error diagnostic."""
    diags = Diagnostics()
    command = hook_command(config, hook)
    if not command:
        return diags
    write = log or _stderr
    if RESTRICTED in environ:
        diags.error(f"failed to execute script: running scripts is not allowed when {RESTRICTED} is set",
                    check=CHECK)
        return diags
    bash = shutil.which("bash", path=environ.get("PATH", os.defpath))
    if bash is None:
        diags.error("failed to execute script: bash was not found on PATH", check=CHECK)
        return diags
    write(f"Executing '{hook}' script")
    try:
        done = subprocess.run([bash, "-ec", command], cwd=root, env=dict(environ), capture_output=True,
                              stdin=subprocess.DEVNULL, check=False)
    except OSError as exc:
        diags.error(f"failed to execute script: {exc}", check=CHECK)
        return diags
    text = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    for line in text.split("\n")[:-1]:  # only lines ended by a newline, as the CLI's reader
        write(line.strip())
    if done.returncode != 0:
        diags.error(_exit_reason(done.returncode), check=CHECK)
    return diags


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class RunScript(Step):
    """The ``preinit`` / ``postinit`` hook as a loader step."""

    reads = ("experimental.scripts.*",)
    updates = ()

    def __init__(self, hook: str) -> None:
        self.hook = hook
        self.name = f"run_{hook}_script"

    def run(self, b: BundleState) -> Diagnostics:
        return run_hook(b.config, self.hook, b.ctx.root, b.ctx.environ)
