"""Executes one job run (or one repair of it) inside the runner process.

DAG bookkeeping is event-driven: whichever thread finishes a task updates the dependency counters
and dispatches what became ready (``plan.decide`` for run_if). Each task type lives in its own
module (``tasks/``) behind one interface; this module gives them what they need of the run
(``tasks.base.RunServices``). Process tasks (notebook, Python file, wheel) go to a queue served by
``HEALTHMON_TASK_SLOTS`` slot threads; each attempt is a process started by the run's launcher
(``launcher.py``: own session and process group, confined, killed as a group on timeout or
cancel, and every descendant it leaves killed when it ends). Control tasks (condition, run_job,
for_each) run on their own threads and take no slot: they only wait, and a for_each waiting for
its iterations must not starve them of slots. Row state changes go through a write-behind
batcher (``store/run_writes.py``) so that hundreds of short tasks do not queue on SQLite's write
lock.
"""

from __future__ import annotations

import os
import queue
import shutil
import sys
import threading
import time
import traceback
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthmon.errors import HealthmonError
from healthmon.jobs import confine, notify, plan, refs, secret_access
from healthmon.jobs.dbutils import Redactor
from healthmon.jobs.environments import task_env
from healthmon.jobs.launcher_client import (
    Attempt,
    LaunchConfig,
    LauncherError,
    Launchers,
    kill_group,
)
from healthmon.jobs.logs import LogPump
from healthmon.jobs.notebook import NotebookError, load_cells
from healthmon.jobs.task_main import drain, parse_result
from healthmon.jobs.tasks import type_of
from healthmon.jobs.tasks.base import ChildRun, Outcome, TaskCall
from healthmon.settings import Settings, env_number
from healthmon.store.db import Database
from healthmon.store.run_writes import RunWriter
from healthmon.store.runs import RunRecord, get_run, now_ms, unstarted_task_runs

TERMINATION = {
    "SUCCESS": ("SUCCESS", "SUCCESS"),
    "SUCCESS_WITH_FAILURES": ("SUCCESS_WITH_FAILURES", "SUCCESS"),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "TIMEDOUT": ("CANCELED", "CLIENT_ERROR"),
    "CANCELED": ("USER_CANCELED", "SUCCESS"),
    "UPSTREAM_FAILED": ("SKIPPED", "CLIENT_ERROR"),
    "UPSTREAM_CANCELED": ("SKIPPED", "SUCCESS"),
    "EXCLUDED": ("SKIPPED", "SUCCESS"),
    "DISABLED": ("DISABLED", "SUCCESS"),
}

def slots() -> int:
    return int(env_number("HEALTHMON_TASK_SLOTS") or os.cpu_count() or 1)


@dataclass
class AttemptState:
    """A process attempt in flight, as the watcher thread sees it."""

    task: dict
    row_id: int
    deadline: float | None  # monotonic time of its timeout_seconds
    warn_at: float | None  # monotonic time of its duration warning (health rules)
    kill_reason: str | None = None  # CANCELED, TIMEDOUT or JOB_TIMEDOUT once the watcher killed it
    finished: bool = False


def attempt_env(settings: Settings, scratch: Path) -> dict[str, str]:
    """The environment of a run's attempts: the runner's, without the database URL (it may carry
    credentials), with the run's scratch folder as ``HOME`` and temporary folder (the only place,
    besides the lakehouse, where a confined attempt may write)."""
    env = task_env()
    env.pop("HEALTHMON_DATABASE_URL", None)
    env["HEALTHMON_HOME"] = str(settings.home)
    env["HOME"] = env["TMPDIR"] = str(scratch)
    # The JVM of a notebook's SparkSession ignores TMPDIR: its temporary and local folders too.
    env["SPARK_LOCAL_DIRS"] = str(scratch)
    env["SPARK_SUBMIT_OPTS"] = f"{env.get('SPARK_SUBMIT_OPTS', '')} -Djava.io.tmpdir={scratch}".strip()
    return env


def writable_roots(settings: Settings) -> list[Path]:
    """What task code may write besides its scratch folder: the lakehouse and the MLflow store
    (the Health Monitor's notebooks write both), volumes and DBFS."""
    home = settings.home
    roots = [settings.lakehouse_root, home / "volumes", home / "dbfs", settings.mlflow_artifact_root]
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        roots.append(Path(uri[len("sqlite:///"):]).parent)  # SQLite writes its journal next to the file
    return roots


class RunExecutor:
    def __init__(self, db: Database, settings: Settings, run_id: int,
                 run_child: Callable[[int], threading.Thread] | None = None):
        """``run_child``: how this process executes a child run a ``run_job_task`` starts (the
        runner's ``run_in_thread``); None gives each child run a runner process of its own."""
        self.db = db
        self.run_child = run_child
        self.settings = settings
        self.run_id = run_id
        with db.session() as s:
            row = get_run(s, run_id)
            self.job_id = row.job_id
            self.job_settings: dict = row.j("settings")
            self.params: dict = row.j("params")
            self.start_time = row.start_time or now_ms()
            self.trigger = row.trigger
            self.repair_count = sum(1 for h in row.j("repair") or [] if h.get("type") == "REPAIR")
            from healthmon.store.secrets import all_values

            self.secret_values = all_values(s)
        # Secret values are redacted by the runner (the log stream, the result's texts): an
        # attempt never receives them, only the values it reads itself through dbutils.secrets.
        self.redactor = Redactor(self.secret_values)
        self.job_name = self.job_settings.get("name") or f"Untitled job {self.job_id}"
        self.by_key = plan.validate_tasks(self.job_name, self.job_settings.get("tasks") or [])
        self.deps = {k: plan.task_deps(t) for k, t in self.by_key.items()}
        self.outcomes = {k: dict(d) for k, d in self.deps.items()}  # dependency -> outcome wanted
        self.job_params: dict[str, str] = self.params.get("job_parameters_effective") or {}
        self.notebook_params: dict[str, str] = self.params.get("notebook_params") or {}
        self.python_named_params: dict[str, str] = self.params.get("python_named_params") or {}
        self.python_params: list[str] | None = self.params.get("python_params") or None
        self.cancel = threading.Event()
        self.timed_out = threading.Event()
        self.ended = threading.Event()  # stops the watcher: a child run's executor ends before its process
        timeout = int(self.job_settings.get("timeout_seconds") or 0)
        self.deadline = (self.start_time / 1000 + timeout) if timeout > 0 else None
        self.values: dict[str, dict[str, Any]] = {}
        self.task_refs: dict[str, str] = {}
        self.lock = threading.Lock()
        self.log_root = str(settings.runs_root / str(run_id))
        self.home = str(settings.home)
        self.attempts: dict[int, AttemptState] = {}  # by pid
        # Each run's scratch folder: its attempts' HOME and TMPDIR, removed when the run ends.
        self.scratch = settings.home / "scratch" / str(run_id)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.memory_limit = confine.memory_limit(slots())
        config = LaunchConfig(home=self.home, scratch=str(self.scratch),
                              writable=tuple(str(p) for p in writable_roots(settings)),
                              confine=confine.landlock_abi() > 0, memory_limit=self.memory_limit)
        for root in config.writable:
            Path(root).mkdir(parents=True, exist_ok=True)
        # The default interpreter's launcher boots now, while the run is set up.
        self.launchers = Launchers(attempt_env(settings, self.scratch), config, default=sys.executable)
        self.writer = RunWriter(db)
        self._cells_cache: dict[tuple[str, float], tuple[list, list | None]] = {}
        self._base_ctx = refs.job_context(job_id=self.job_id, job_name=self.job_name, run_id=self.run_id,
                                          start_time=self.start_time, trigger=self.trigger, params=self.job_params,
                                          repair_count=self.repair_count)

    # -- persistence helpers -------------------------------------------------------------
    def update(self, row_id: int, **fields) -> None:
        # Write-behind, batched with the other slots' updates (store/run_writes.py).
        self.writer.update(row_id, **fields)

    def _notify_task(self, row_id: int, task: dict, event: str) -> None:
        if task.get("email_notifications") or task.get("webhook_notifications"):
            self.writer.flush()  # the notification reads the row back
            notify.task_event(row_id, self.run_id, self.job_name, task, event)

    def _new_task_row(self, key: str, task: dict, *, attempt: int, state: str, repair_id: int | None,
                      parent: int | None = None, name: str | None = None) -> int:
        with self.db.session() as s:
            row = RunRecord(
                job_id=self.job_id, job_run_id=parent or self.run_id, task_key=key, run_name=name or key,
                run_type="JOB_RUN" if parent is None else "WORKFLOW_RUN", trigger=self.trigger,
                life_cycle_state=state, attempt_number=attempt, repair_id=repair_id,
                creator_user_name="", created_time=now_ms(),
            )
            row.set_j("settings", task)
            s.add(row)
            s.flush()
            return row.run_id

    def finish_row(self, row_id: int, result: str, message: str = "", output: dict | None = None,
                   values: dict | None = None, start: int | None = None, setup_ms: int = 0,
                   outcome: str | None = None) -> None:
        code, ttype = TERMINATION.get(result, ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"))
        end = now_ms()
        skipped = result in ("UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED", "DISABLED")
        fields: dict[str, Any] = dict(
            life_cycle_state="SKIPPED" if skipped else "TERMINATED",
            result_state=result, state_message=message, termination_code=code, termination_type=ttype,
            end_time=end, user_cancelled_or_timedout=result in ("CANCELED", "TIMEDOUT"),
        )
        if start:
            fields["execution_duration"] = max(0, end - start - setup_ms)
            fields["setup_duration"] = setup_ms
        else:
            fields["start_time"] = end
        if output is not None:
            fields["output_json"] = output
        if values:
            fields["values_json"] = values
        self.update(row_id, **fields)

    # -- the DAG -------------------------------------------------------------------------
    def execute(self, keys: list[str], prior: dict[str, plan.TaskResult], prior_values: dict[str, dict],
                prior_refs: dict[str, str], repair_id: int | None) -> dict[str, str]:
        """Run ``keys`` (tasks done earlier in ``prior`` count as finished); returns task results."""
        self.values.update(prior_values)
        self.task_refs.update(prior_refs)
        in_run = set(keys) | set(prior)
        rows: dict[str, int] = self._precreated() if repair_id is None else {}
        for key in keys:
            if key in rows:
                continue
            deps = [d for d, _ in self.deps[key] if d in in_run]
            rows[key] = self._new_task_row(key, self.by_key[key], attempt=0, state="BLOCKED" if deps else "PENDING",
                                           repair_id=repair_id)
        done: dict[str, plan.TaskResult] = dict(prior)
        waiting = {k: sum(1 for d, _ in self.deps[k] if d in in_run and d not in done) for k in keys}
        children: dict[str, list[str]] = {k: [] for k in in_run}
        for k in keys:
            for d, _ in self.deps[k]:
                if d in in_run:
                    children[d].append(k)
        ready = [k for k in keys if waiting[k] == 0]
        # No central loop: whichever thread finishes a task updates the counters and dispatches
        # what became ready; a slot thread then takes the next compute task itself (no hand-off
        # to a scheduler thread and back for every task).
        sched = threading.Lock()
        compute: queue.SimpleQueue = queue.SimpleQueue()
        all_done = threading.Event()
        outstanding = [len(keys)]

        def complete(key: str, result: plan.TaskResult) -> list[str]:
            newly = []
            with sched:
                done[key] = result
                with self.lock:
                    self.task_refs[f"tasks.{key}.result_state"] = result.result_state
                for c in children.get(key, ()):
                    waiting[c] -= 1
                    if waiting[c] == 0:
                        newly.append(c)
                outstanding[0] -= 1
                if outstanding[0] == 0:
                    all_done.set()
            return newly

        def dispatch(first: list[str]) -> None:
            stack = list(reversed(first))
            while stack:
                key = stack.pop()
                try:
                    result = self._dispatch(key, rows[key], repair_id, {d: done[d] for d, _ in self.deps[key]
                                                                          if d in in_run}, compute, control)
                except BaseException as exc:  # a runtime bug must still finish the task, not hang the run
                    message = f"Internal error: {type(exc).__name__}: {exc}"
                    self.finish_row(rows[key], "FAILED", message, output={"error": message})
                    result = plan.TaskResult("FAILED")
                if result is not None:  # finished on the spot (skipped, canceled)
                    stack.extend(reversed(complete(key, result)))

        def control(key: str) -> None:
            dispatch(complete(key, self._guarded(key, rows[key], repair_id)))

        def slot() -> None:
            while True:
                key = compute.get()
                if key is None:
                    return
                if self.cancel.is_set() or self.timed_out.is_set():
                    result = self._not_started(rows[key])
                else:
                    result = self._guarded(key, rows[key], repair_id)
                dispatch(complete(key, result))

        workers = [threading.Thread(target=slot, name=f"slot-{i}", daemon=True) for i in range(slots())]
        for w in workers:
            w.start()
        watcher = threading.Thread(target=self._watch, daemon=True)
        watcher.start()
        try:
            if keys:
                dispatch(ready)
                all_done.wait()
        finally:
            for _ in workers:
                compute.put(None)
            for w in workers:
                w.join()
            self.ended.set()
            self.launchers.close()
            self.writer.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
        return {k: done[k].result_state for k in in_run}

    def _not_started(self, row_id: int) -> plan.TaskResult:
        self.finish_row(row_id, "CANCELED", "Run was canceled before this task started."
                         if self.cancel.is_set() else "Job timed out before this task started.")
        return plan.TaskResult("CANCELED")

    def _dispatch(self, key: str, row_id: int, repair_id: int | None, deps: dict[str, plan.TaskResult],
                  compute: queue.SimpleQueue, control) -> plan.TaskResult | None:
        """Start a ready task: its result when it finishes at once (skipped, canceled), else None."""
        task = self.by_key[key]
        if self.cancel.is_set() or self.timed_out.is_set():
            return self._not_started(row_id)
        skip = "DISABLED" if task.get("disabled") else plan.decide(task, deps, self.outcomes[key])
        if skip:
            self.finish_row(row_id, skip, _skip_message(skip, task, deps))
            return plan.TaskResult(skip)
        kind = type_of(task)
        if kind is not None and not kind.uses_slot:
            threading.Thread(target=control, args=(key,), daemon=True).start()
        else:
            compute.put(key)
        return None

    def _precreated(self) -> dict[str, int]:
        """Task rows ``run_now`` created up front (so a new run lists its tasks at once)."""
        with self.db.session() as s:
            return unstarted_task_runs(s, self.run_id)

    def _watch(self) -> None:
        """Every 0.1 s: kills attempts past their timeout or of a canceled / timed-out run.
        Every 0.5 s: heartbeat + cancel flag from the run row; the job's duration warning."""
        threshold = notify.duration_threshold(self.job_settings)
        warned = False
        tick = 0
        while not self.ended.is_set():
            if tick % 5 == 0:
                try:
                    with self.db.session() as s:
                        row = get_run(s, self.run_id)
                        row.heartbeat = now_ms()
                        if row.cancel_requested:
                            self.cancel.set()
                except Exception:  # a transient database error must not kill the watcher
                    pass
                if threshold is not None and not warned and time.time() - self.start_time / 1000 > threshold:
                    warned = True
                    threading.Thread(
                        target=notify.run_event,
                        args=(self.run_id, "on_duration_warning_threshold_exceeded"),
                        daemon=True,
                    ).start()
            tick += 1
            if self.deadline is not None and time.time() >= self.deadline:
                self.timed_out.set()
            now = time.monotonic()
            with self.lock:
                attempts = list(self.attempts.items())
            for pid, state in attempts:
                if state.warn_at is not None and now >= state.warn_at:
                    state.warn_at = None  # warn once per attempt
                    threading.Thread(target=self._notify_task, daemon=True, args=(
                        state.row_id, state.task, "on_duration_warning_threshold_exceeded")).start()
                if state.kill_reason is not None:
                    continue
                if self.cancel.is_set():
                    state.kill_reason = "CANCELED"
                elif state.deadline is not None and now >= state.deadline:
                    state.kill_reason = "TIMEDOUT"
                elif self.timed_out.is_set():
                    state.kill_reason = "JOB_TIMEDOUT"
                if state.kill_reason is not None:
                    kill_group(pid)
            time.sleep(0.1)

    def _guarded(self, key: str, row_id: int, repair_id: int | None) -> plan.TaskResult:
        try:
            return self._run_task(key, self.by_key[key], row_id, repair_id)
        except BaseException as exc:  # a runtime bug must still finish the task, not hang the run
            message = f"Internal error: {type(exc).__name__}: {exc}"
            self.finish_row(row_id, "FAILED", message, output={"error": message, "error_trace": traceback.format_exc()})
            return plan.TaskResult("FAILED")

    # -- one task, with retries ----------------------------------------------------------
    def _context(self, key: str, task_run_id: int, extra: dict[str, str] | None = None) -> Mapping[str, str]:
        # A view, not a copy: copying every finished task's references for every task made a
        # 1,000-task run quadratic. A task only starts after its upstream tasks finished, so the
        # references it may use are already in task_refs.
        own = {"task.name": key, "task.run_id": str(task_run_id), "task_key": key}
        if extra:
            own.update(extra)
        return ChainMap(own, self.task_refs, self._base_ctx)

    def _run_task(self, key: str, task: dict, row_id: int, repair_id: int | None,
                  extra_ctx: dict[str, str] | None = None, parent: int | None = None) -> plan.TaskResult:
        max_retries = int(task.get("max_retries") or 0)
        interval = int(task.get("min_retry_interval_millis") or 0) / 1000
        attempt = 0
        self._notify_task(row_id, task, "on_start")
        while True:
            done = self._attempt(key, task, row_id, extra_ctx, parent)
            retryable = done.result == "FAILED" or (done.result == "TIMEDOUT" and task.get("retry_on_timeout"))
            if (
                not retryable
                or (max_retries != -1 and attempt >= max_retries)
                or self.cancel.is_set()
                or self.timed_out.is_set()
            ):
                self._notify_task(row_id, task, "on_success" if done.result == "SUCCESS" else "on_failure")
                return plan.TaskResult(done.result, done.outcome)
            attempt += 1
            if interval:
                self.update(row_id, life_cycle_state="TERMINATED")
                if self.cancel.wait(interval):
                    return plan.TaskResult(done.result, done.outcome)
            row_id = self._new_task_row(key, task, attempt=attempt, state="PENDING", repair_id=repair_id,
                                        parent=parent, name=key)

    def start_child_run(self, job_id: int, job_parameters: dict[str, str],
                        task_params: dict[str, Any] | None = None) -> ChildRun:
        """A run of ``job_id`` started by a ``run_job_task`` of this run, executed by this process."""
        from healthmon.jobs import service

        threads: list[threading.Thread] = []
        here = self.run_child
        start = None if here is None else (lambda run_id: threads.append(here(run_id)))
        run_id = service.start_child_run(self.run_id, job_id, job_parameters, start=start, task_params=task_params)
        return ChildRun(run_id, threads[0] if threads else None)

    def run_nested(self, key: str, task: dict, parent: int, name: str, extra: dict[str, str]) -> Outcome:
        """A for_each iteration: a task run of its own under the for_each task run ``parent``."""
        row_id = self._new_task_row(key, task, attempt=0, state="PENDING", repair_id=None, parent=parent, name=name)
        done = self._run_task(key, task, row_id, None, extra, parent=parent)
        return Outcome(done.result_state, done.outcome)

    def _attempt(self, key: str, task: dict, row_id: int, extra_ctx, parent) -> Outcome:
        start = now_ms()
        kind = type_of(task)
        where = f"Job {self.job_name!r}, task {key!r}"
        call = TaskCall(key=key, task=task, row_id=row_id, ctx=self._context(key, row_id, extra_ctx), where=where,
                        start=start, parent=parent, run=self)
        try:
            if kind is None:
                kinds = [k for k in task if k.endswith("_task")]
                raise HealthmonError(
                    f"{where}: task type {', '.join(kinds) or '(none)'} is not supported by the local runtime."
                )
            if not kind.uses_slot:
                self.update(row_id, life_cycle_state="RUNNING", start_time=start)
            return kind.run(call)
        except HealthmonError as exc:  # includes DependencyError, task file errors, unresolvable references
            return call.finish("FAILED", exc.message, output={"error": exc.message})

    # -- what process task types ask for ---------------------------------------------------
    def notebook_cells(self, path: Path, python: str) -> dict:
        """A notebook's cells for its spec: ``{"code": [...]}`` compiled here when the attempt runs
        this interpreter (code objects are interpreter-specific), else ``{"cells": [...]}``
        (source, file, line) for the attempt to compile. Parsed and compiled once per file version
        (a 1,000-task DAG parses and compiles once), each cell padded so that line numbers in
        tracebacks match the notebook. Files brought in with %run must be workspace files too."""
        from healthmon.workspace_files import workspace_root

        st = os.stat(path)
        key = (str(path), st.st_mtime)
        cached = self._cells_cache.get(key)
        if cached is None:
            try:
                cells = [(c.source, c.file, c.line) for c in load_cells(path, root=workspace_root(self.settings))]
            except NotebookError as exc:
                raise HealthmonError(str(exc)) from None
            code: list | None
            try:
                code = [
                    compile("\n" * (line - 1) + source, file, "exec", dont_inherit=True) for source, file, line in cells
                ]
            except (SyntaxError, ValueError):
                code = None  # the attempt compiles the sources and reports the SyntaxError as the task's
            cached = self._cells_cache[key] = (cells, code)
        cells, code = cached
        if code is not None and python == sys.executable:
            return {"code": code}
        return {"cells": cells}

    def run_attempt(self, call: TaskCall, spec: dict, python: str) -> Outcome:
        """Run ``spec`` (from a process task type) in a new attempt process and finish the task run
        with its result."""
        key, row_id, task, start = call.key, call.row_id, call.task, call.start
        log_dir = f"{self.log_root}/{key}-{row_id}"  # created with the first byte of output
        work_dir = f"{self.scratch}/{key}-{row_id}"  # the attempt's own, in the run's scratch folder
        spec.update({"task_key": key, "run_id": row_id, "job_run_id": self.run_id, "job_id": self.job_id,
                     "home": self.home, "result_file": work_dir + "/result.bin", "redact": []})
        with self.lock:
            spec["task_values"] = {k: dict(v) for k, v in self.values.items()}
        timeout = int(task.get("timeout_seconds") or 0)
        warn = notify.duration_threshold(task)
        now = time.monotonic()
        state = AttemptState(task=task, row_id=row_id, deadline=now + timeout if timeout > 0 else None,
                             warn_at=now + warn if warn is not None else None)

        def on_start(pid: int) -> None:  # on the launcher's reader thread, while we read the output
            with self.lock:  # (queued under the lock, so RUNNING can never land after TERMINATED)
                if state.finished:  # a very short attempt finished before its pid arrived
                    self.update(row_id, runner_pid=pid)
                    return
                self.attempts[pid] = state
                self.update(row_id, life_cycle_state="RUNNING", start_time=start, runner_pid=pid, log_dir=log_dir)

        try:
            proc = self.launchers.start(python, spec, on_start)
        except LauncherError as exc:
            return call.finish("FAILED", f"{call.where}: could not start the task process: {exc}",
                               output={"error": f"{call.where}: could not start the task process: {exc}"})
        setup_ms = now_ms() - start
        # This slot's thread pumps the output itself (no thread per attempt) and answers the
        # attempt's dbutils.secrets requests. EOF comes when the attempt closed its stdout at exit
        # and nothing else holds it; a complete result is then in the result pipe and the task is
        # done (the launcher reaps the process and kills what it left on its own). Without a
        # result (a crash, os._exit, a kill) we wait for the exit code.
        self._pump(proc, log_dir)
        data = drain(proc.result_fd)
        res = parse_result(data, spec["result_file"])
        returncode: int | None = 0
        if res is None or state.kill_reason is not None:
            returncode = proc.wait()
            res = parse_result(data + drain(proc.result_fd), spec["result_file"])
        os.close(proc.result_fd)
        proc.secrets.close()
        with self.lock:
            state.finished = True
            # on_start queued RUNNING with start_time and log_dir; if it has not run yet, it only
            # adds the pid when it does, so they are queued here instead.
            started = proc.pid is not None and self.attempts.pop(proc.pid, None) is not None
        if not started:
            self.update(row_id, start_time=start, log_dir=log_dir)
        reason = state.kill_reason
        if reason == "CANCELED":
            return call.finish(
                "CANCELED", "Run was canceled.", output={"error": "Run canceled by user."}, setup_ms=setup_ms
            )
        if reason in ("TIMEDOUT", "JOB_TIMEDOUT"):
            secs = task.get("timeout_seconds") if reason == "TIMEDOUT" else self.job_settings.get("timeout_seconds")
            what = "Task" if reason == "TIMEDOUT" else "Job"
            msg = f"{what} timed out after {secs} seconds; the task's processes were killed."
            return call.finish("TIMEDOUT", msg, output={"error": msg}, setup_ms=setup_ms)
        if res is None:
            res = {"status": "FAILED", "error": self._no_result_message(returncode, row_id)}
        values = res.get("task_values") or {}
        with self.lock:
            if values:
                self.values[key] = values
                for name, v in values.items():
                    self.task_refs[f"tasks.{key}.values.{name}"] = refs.value_to_str(v)
            self.task_refs[f"tasks.{key}.run_id"] = str(row_id)
        output = self._redacted({k: res[k] for k in ("notebook_output", "error", "error_trace") if k in res})
        if res["status"] == "SUCCESS":
            return call.finish("SUCCESS", output=output, values=values, setup_ms=setup_ms)
        return call.finish(
            "FAILED", output.get("error") or "Task failed.", output=output, values=values, setup_ms=setup_ms
        )

    def _redacted(self, output: dict) -> dict:
        """The result's texts with every secret value of the workspace replaced by [REDACTED]."""
        if not self.redactor.values:
            return output
        out = {k: self.redactor(v) if isinstance(v, str) else v for k, v in output.items()}
        notebook_output = out.get("notebook_output")
        if isinstance(notebook_output, dict) and isinstance(notebook_output.get("result"), str):
            out["notebook_output"] = {**notebook_output, "result": self.redactor(notebook_output["result"])}
        return out

    def _no_result_message(self, returncode: int | None, row_id: int) -> str:
        import signal

        if returncode is not None and returncode < 0:
            how = f"was killed by {signal.Signals(-returncode).name}"
            if returncode in (-signal.SIGKILL, -signal.SIGABRT, -signal.SIGSEGV) and self.memory_limit:
                how += f" (it may have run out of memory (limit {confine.format_size(self.memory_limit)}))"
        else:
            how = f"exited with code {returncode}"
        return (f"The task process {how} without reporting a result. "
                f"See the logs: healthmon runs logs --run-id {row_id}.")

    def _pump(self, proc: Attempt, log_dir: str) -> None:
        """Copy the attempt's output into its log until EOF, answering its secrets requests."""
        import selectors

        pump = LogPump(proc.read_fd, log_dir + "/output.log", self.secret_values)
        with selectors.DefaultSelector() as sel:
            sel.register(proc.read_fd, selectors.EVENT_READ, "output")
            sel.register(proc.secrets, selectors.EVENT_READ, "secrets")
            while True:
                for sel_key, _ in sel.select():
                    if sel_key.data == "output":
                        if not pump.read_once():
                            pump.close()
                            return
                        continue
                    try:
                        request = proc.secrets.recv(1 << 16)
                    except OSError:
                        request = b""
                    if not request:
                        sel.unregister(proc.secrets)
                        continue
                    try:
                        proc.secrets.send(secret_access.answer(self.db, self.run_id, request))
                    except OSError:
                        pass


def _skip_message(result: str, task: dict, deps: dict[str, plan.TaskResult]) -> str:
    if result == "UPSTREAM_FAILED":
        bad = sorted(k for k, r in deps.items() if r.result_state in plan.FAILED_STATES)
        return f"Upstream task(s) {', '.join(bad)} failed."
    if result == "UPSTREAM_CANCELED":
        return "Upstream task(s) were canceled."
    if result == "DISABLED":
        return "Task is disabled."
    return f"Excluded: run_if {task.get('run_if', 'ALL_SUCCESS')} not met by the dependencies' outcomes."
