"""Confinement of a task attempt: what its process may touch, and how much memory it may use.

An attempt runs task code that a workspace user wrote; the runner and the server run with the
workspace's own rights. So, in the attempt's process, before the task code runs (``apply``):

* **Files: Landlock** (Linux ≥ 5.13; this project's machines run 6.18, ABI 7). The attempt gets an
  allow-list, nothing else: read (and execute) the system (``/usr``, ``/lib*``, ``/bin``, ``/opt``,
  most of ``/etc``, ``/proc``, parts of ``/sys``), the Python installation and its import path,
  the workspace's task files (``$HEALTHMON_HOME/workspace``) and task environments (``envs``);
  read and write the lakehouse (Delta tables), the MLflow store, volumes and DBFS, and the run's
  scratch folder (its ``HOME`` and ``TMPDIR``). Not granted, so refused: ``workspace.db``,
  ``.server-secret``, the secret store and its key, ``runs/`` (every run's logs: an attempt's
  own output reaches its log through a pipe the runner reads), ``/tmp``, the rest of the host.
  Landlock also scopes signals and abstract Unix sockets (ABI ≥ 6) and ptrace to the attempt's
  own processes: it cannot signal or inspect the runner, the server or another attempt.
* **Privileges**: no capabilities at all. Under root (this project's machines and CI), the
  attempt keeps uid 0 — so files it writes in the lakehouse belong to the same owner as the
  ones the CLI and server write — but its capability sets, bounding set included, are emptied
  and locked (``SECBIT_NOROOT``), and ``no_new_privs`` is set: a set-uid binary or a file
  capability gives nothing back. Without capabilities uid 0 is an ordinary owner of its files,
  and Landlock decides which files those are.
* **Memory**: ``RLIMIT_DATA`` (heap and private writable mappings), default the machine's memory
  divided by the task slots, ``HEALTHMON_TASK_MEMORY_LIMIT`` to change it. Not a cgroup: on this
  project's machines the memory controller is on the cgroup v1 hierarchy (cgroup v2 has none)
  and that tree belongs to the machine's sandbox. A task that exceeds the limit gets
  ``MemoryError`` and fails with "out of memory (limit N)"; the runner is another process.

Where Landlock is missing (an older kernel, a container that forbids it) attempts run with the
workspace's rights: ``status()`` says so and the runner writes it to its log at start
(single-user mode: every user who may submit a run can read the whole workspace).

Everything here runs in the launcher (building the rule set once per run) and in a freshly
forked attempt (``apply``), via ``ctypes``: there is no Landlock binding in the standard library.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

# Syscall numbers of the generic table (the same on x86_64 and aarch64).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

# Access rights (include/uapi/linux/landlock.h) and the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_ABI_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = EXECUTE | READ_FILE | READ_DIR
WRITE = (1 << 16) - 1  # everything under a writable folder

# /etc entries an attempt never reads: host credentials and keys.
_ETC_SECRETS = {"shadow", "shadow-", "gshadow", "gshadow-", "ssh", "sudoers", "sudoers.d", "security", "ssl",
                "krb5.keytab", "machine-id"}
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT = 38, 24, 28, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP, SECBIT_NO_CAP_AMBIENT_RAISE set, SECBIT_KEEP_CAPS clear,
# each of the four locked.
_SECUREBITS_LOCKED = 0b1110_1111

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is unavailable."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(version))


@dataclass(frozen=True)
class Grants:
    """The folders (and files) an attempt may read and those it may also write."""

    read: tuple[str, ...]
    write: tuple[str, ...]


def grants(home: Path, scratch: Path, writable: list[Path]) -> Grants:
    """The allow-list for the attempts of one run. Nothing that contains the workspace folder
    ``home`` is ever granted (it holds the database, the server secret and the run logs)."""
    home = home.resolve()

    def allowed(p: Path) -> bool:
        try:
            p = p.resolve()
        except OSError:
            return False
        return p.exists() and p != home and p not in home.parents

    import healthmon

    read: list[Path] = [Path(p) for p in ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/opt",
                                          "/proc", "/sys/devices/system", "/sys/fs/cgroup", "/run/systemd/resolve")]
    read += [Path("/etc") / name for name in _listdir("/etc") if name not in _ETC_SECRETS]
    read += [Path("/etc/ssl/certs")]
    read += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).parent]
    read += [Path(p) for p in sys.path if p]
    read += [Path(healthmon.__file__).parent.parent]  # an editable install's source folder
    read += [home / "workspace", home / "envs"]
    write = [*writable, scratch, Path("/dev/shm")]
    return Grants(read=tuple(dict.fromkeys(str(p.resolve()) for p in read if allowed(p))),
                  write=tuple(dict.fromkeys(str(p.resolve()) for p in write if allowed(p))))


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def build_ruleset(g: Grants) -> int:
    """A Landlock rule set (a file descriptor) granting ``g``; -1 when Landlock is unavailable.
    Built once per run in the launcher; every attempt it forks enters it (``apply``)."""
    abi = landlock_abi()
    if abi < 1:
        return -1
    handled = _ABI_FS.get(abi, WRITE)
    attr = _RulesetAttr(handled, 0, (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16 if abi >= 4 else 8
    fd = int(_libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)))
    if fd < 0:
        return -1
    rules = [(p, READ) for p in g.read] + [(p, WRITE) for p in g.write]
    rules += [(f"/dev/{name}", READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV) for name in _DEVICES]
    for path, access in rules:
        _add_rule(fd, path, access & handled)
    return fd


def _add_rule(ruleset: int, path: str, access: int) -> None:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            access &= FILE_RIGHTS
        rule = _PathBeneath(access, target)
        _libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                      ctypes.c_uint32(0))
    finally:
        os.close(target)


def memory_limit(slots: int) -> int:
    """Bytes an attempt may allocate: ``HEALTHMON_TASK_MEMORY_LIMIT`` (a number of bytes with an
    optional k/m/g/t suffix; 0 for no limit), by default the machine's memory divided by the
    task slots."""
    raw = (os.environ.get("HEALTHMON_TASK_MEMORY_LIMIT") or "").strip().lower()
    if raw:
        return parse_size(raw)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0
    return total // max(1, slots)


def parse_size(raw: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = raw.strip().lower().removesuffix("b").removesuffix("i")
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise ValueError(
            f"HEALTHMON_TASK_MEMORY_LIMIT={raw!r}: expected a size such as 4g, 512m or 0 (no limit)."
        ) from None
    if value < 0:
        raise ValueError(f"HEALTHMON_TASK_MEMORY_LIMIT={raw!r}: a size cannot be negative.")
    return value


def format_size(n: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def apply(ruleset: int, memory: int) -> None:
    """In a freshly forked attempt, before any task code: the memory limit, Landlock, no
    privileges. Raises OSError when a step fails (the attempt must not run unconfined)."""
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if ruleset >= 0:
        if _libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
        os.close(ruleset)
    if os.geteuid() == 0:
        _drop_capabilities()


def _last_capability() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


_LAST_CAP = _last_capability()  # read once, in the launcher, before any fork


def _drop_capabilities() -> None:
    for cap in range(_LAST_CAP + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if _libc.prctl(PR_SET_SECUREBITS, _SECUREBITS_LOCKED, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECUREBITS)")
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two 32-bit data words
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def status() -> str:
    """One line for the runner's log and the server's start-up: confined or single-user mode."""
    abi = landlock_abi()
    if abi >= 1:
        who = "uid 0 without capabilities" if os.geteuid() == 0 else f"uid {os.geteuid()}"
        return f"task attempts are confined (Landlock ABI {abi}, {who})"
    return ("single-user mode: Landlock is not available on this kernel, so task attempts run with the "
            "workspace's own rights (any user who may run a job can read the workspace database)")
