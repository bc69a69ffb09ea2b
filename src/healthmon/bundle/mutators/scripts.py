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

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, get_path
from healthmon.bundle.step import BundleState, Step

CHECK = "scripts"
HOOKS = ("preinit", "postinit", "prebuild", "postbuild", "predeploy", "postdeploy")
KILL_GRACE_SECONDS = 5  # an interrupted script's group gets SIGTERM, then SIGKILL after this
RESTRICTED = "DATABRICKS_BUNDLE_RESTRICTED_CODE_EXECUTION"


def hook_command(config: Value, hook: str) -> str:
    """The command configured for ``hook`` (``""`` when none). A number or a bool is the string
    the CLI's normalisation makes of it (``postinit: 5`` runs ``5``, as the CLI does, rather than
    being skipped silently); a map or a list was dropped with a warning while loading."""
    node = get_path(config, ("experimental", "scripts", hook))
    if node is None or isinstance(node.v, (dict, list)) or node.v is None:
        return ""
    return "true" if node.v is True else "false" if node.v is False else str(node.v)


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
        node = get_path(config, ("experimental", "scripts", hook))
        diags.error("failed to execute script: bash was not found on PATH", node.loc if node else None,
                    f"experimental.scripts.{hook}", check=CHECK,
                    detail=f"expected a bash executable in one of PATH={environ.get('PATH', '')!r}")
        return diags
    write(f"Executing '{hook}' script")
    try:
        returncode, stdout, stderr = _run_in_own_group([bash, "-ec", command], root, environ)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte, which no command line can carry
        diags.error(f"failed to execute script: {exc}", check=CHECK)
        return diags
    text = (stdout + stderr).decode("utf-8", errors="replace")
    for line in text.split("\n")[:-1]:  # only lines ended by a newline, as the CLI's reader
        write(line.strip())
    if returncode != 0:
        diags.error(_exit_reason(returncode), check=CHECK)
    return diags


def _run_in_own_group(argv: list[str], root: Path, environ: Mapping[str, str]) -> tuple[int, bytes, bytes]:
    """Run the script in a process group of its own, so that an interrupt of the command (a
    SIGTERM sent to our pid alone, not to the terminal's group) still ends every process the
    script started, not just its ``bash``: none is left running after the command has exited."""
    proc = subprocess.Popen(argv, cwd=root, env=dict(environ), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        _kill_group(proc)
        raise
    return proc.returncode, stdout, stderr


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole group (its traps may clean up), SIGKILL to what is left after a grace."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while time.monotonic() < deadline:
        proc.poll()  # reap bash: a zombie still counts as a member of the group
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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
