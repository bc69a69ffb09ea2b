"""Long native work that still gives way to Ctrl-C and SIGTERM at once.

Python runs signal handlers in the main thread between bytecodes, so a handler (the CLI turns
SIGTERM into KeyboardInterrupt like Ctrl-C) waits for a native call — a DuckDB statement, a
pyarrow parse — to return: seconds to minutes. The work runs on a daemon thread instead, while
the calling thread waits on an Event, which a signal interrupts at once; the work is then told to
stop and awaited, so no thread is left inside native code when the process exits (a daemon
thread still running there as the interpreter shuts down can crash it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_interruptibly(work: Callable[[], T], stop: Callable[[], None]) -> T:
    """``work()``, run on a daemon thread while this thread waits for it. On an interrupt,
    ``stop()`` is called (it must make ``work`` end soon; it may be called more than once), the
    work awaited, and the interrupt re-raised."""
    results: list[T] = []
    errors: list[BaseException] = []
    # An Event, not Thread.join: a join interrupted by a signal may return at once the next time
    # (Python 3.11), before the work has ended.
    done = threading.Event()

    def target() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=target, name="interruptible-work", daemon=True).start()
    try:
        done.wait()
    except BaseException:
        stop()
        # Again each second until the work ends: a cancel can come before the work has started
        # what it cancels (a Spark statement's job).
        while not done.wait(1.0):
            stop()
        raise
    if errors:
        raise errors[0]
    return results[0]


def map_on_threads(fn: Callable[[T], R], items: Sequence[T], workers: int = 2) -> list[R]:
    """``[fn(x) for x in items]`` on ``workers`` threads (native work that releases the GIL).
    An interrupt stops it once the items in progress end: keep each item short (a second or so)
    by splitting the work into many items."""
    results: list[R | None] = [None] * len(items)
    errors: list[BaseException] = []
    pending = iter(range(len(items)))
    lock = threading.Lock()
    stopping = threading.Event()

    def worker() -> None:
        while not stopping.is_set():
            with lock:
                i = next(pending, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(exc)
                stopping.set()

    def run_all() -> None:
        threads = [threading.Thread(target=worker, name=f"map-{n}", daemon=True) for n in range(max(1, workers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run_interruptibly(run_all, stop=stopping.set)
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
