"""Executes one job run (or one repair of it) inside the runner process.

DAG bookkeeping is event-driven: whichever thread finishes a task updates the dependency counters
and dispatches what became ready (``plan.decide`` for run_if). Compute tasks (notebook, Python
file, wheel) go to a queue served by ``HEALTHMON_TASK_SLOTS`` slot threads; each attempt is a
process forked by the fork server (``procs.py`` / ``zygote.py``: own session and process group,
killed as a group on timeout or cancel, and every descendant it leaves — even one that escaped
with ``setsid()`` — killed when it ends). Control tasks (condition, run_job, for_each) run on
their own threads and take no slot: they only wait, and a for_each waiting for its iterations
must not starve them of slots. Row state changes go through a write-behind batcher
(``store/run_writes.py``) so that hundreds of short tasks do not queue on SQLite's write lock.
"""

from __future__ import annotations

import json
import os
import queue
import sys
from collections import ChainMap
from collections.abc import Mapping
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from healthmon.errors import HealthmonError
from healthmon.jobs import notify, plan, refs
from healthmon.jobs.environments import DependencyError, dependencies_for, python_for, task_env
from healthmon.jobs.logs import LogPump
from healthmon.jobs.notebook import NotebookError, load_cells
from healthmon.jobs.procs import ForkServerError, ForkServers, kill_group, take_prestarted
from healthmon.jobs.task_main import drain, parse_result
from healthmon.settings import Settings
from healthmon.store.db import Database
from healthmon.store.run_writes import RunWriter
from healthmon.store.runs import RunRecord, now_ms

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

COMPUTE_TYPES = ("notebook_task", "spark_python_task", "python_wheel_task")
CONTROL_TYPES = ("condition_task", "run_job_task", "for_each_task")


def slots() -> int:
    return max(1, int(os.environ.get("HEALTHMON_TASK_SLOTS") or os.cpu_count() or 1))


class Stop(Exception):
    pass


class RunExecutor:
    def __init__(self, db: Database, settings: Settings, run_id: int):
        self.db = db
        self.settings = settings
        self.run_id = run_id
        with db.session() as s:
            row = s.get(RunRecord, run_id)
            self.job_id = row.job_id
            self.job_settings: dict = row.j("settings")
            self.params: dict = row.j("params")
            self.start_time = row.start_time or now_ms()
            self.trigger = row.trigger
            from healthmon.store.secrets import all_values

            self.secret_values = all_values(s)
        self.redact = list(self.secret_values)
        self.job_name = self.job_settings.get("name") or f"Untitled job {self.job_id}"
        self.by_key = plan.validate_tasks(self.job_name, self.job_settings.get("tasks") or [])
        self.deps = {k: plan.task_deps(t) for k, t in self.by_key.items()}
        self.outcomes = {k: dict(d) for k, d in self.deps.items()}  # dependency -> outcome wanted
        self.job_params: dict[str, str] = self.params.get("job_parameters_effective") or {}
        self.cancel = threading.Event()
        self.timed_out = threading.Event()
        timeout = int(self.job_settings.get("timeout_seconds") or 0)
        self.deadline = (self.start_time / 1000 + timeout) if timeout > 0 else None
        self.values: dict[str, dict[str, Any]] = {}
        self.task_refs: dict[str, str] = {}
        self.lock = threading.Lock()
        self.log_root = str(settings.runs_root / str(run_id))
        self.home = str(settings.home)
        # Attempts in flight: pid -> [timeout deadline, kill reason, warning time, task, task run id].
        self.attempts: dict[int, list] = {}
        self.env = task_env()
        # The default interpreter's zygote boots now, while the run is set up.
        # Slot, reader, writer and log threads hand work to each other for every task: a short GIL
        # switch interval keeps one from waiting up to 5 ms for another's CPU-bound stretch.
        if os.environ.get("HEALTHMON_SWITCH_INTERVAL") != "0":
            sys.setswitchinterval(float(os.environ.get("HEALTHMON_SWITCH_INTERVAL") or 0.0005))
        self.servers = take_prestarted() or ForkServers(self.env, default=sys.executable)
        self.writer = RunWriter(db)
        self._lane = threading.local()
        self._cells_cache: dict[tuple[str, float], tuple[list, list | None]] = {}
        self._notebook_files: dict[str, Path] = {}
        self._base_ctx = refs.job_context(job_id=self.job_id, job_name=self.job_name, run_id=self.run_id,
                                          start_time=self.start_time, trigger=self.trigger, params=self.job_params)

    # -- persistence helpers -------------------------------------------------------------
    def _update(self, row_id: int, **fields) -> None:
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

    def _finish_row(self, row_id: int, result: str, message: str = "", output: dict | None = None,
                    values: dict | None = None, start: int | None = None, setup_ms: int = 0) -> None:
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
        self._update(row_id, **fields)

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
                    self._finish_row(rows[key], "FAILED", message, output={"error": message})
                    result = plan.TaskResult("FAILED")
                if result is not None:  # finished on the spot (skipped, canceled)
                    stack.extend(reversed(complete(key, result)))

        def control(key: str) -> None:
            dispatch(complete(key, self._guarded(key, rows[key], repair_id)))

        def slot(lane: int) -> None:
            self._lane.index = lane  # this slot's own zygote (procs.ForkServers)
            while True:
                key = compute.get()
                if key is None:
                    return
                if self.cancel.is_set() or self.timed_out.is_set():
                    result = self._not_started(rows[key])
                else:
                    result = self._guarded(key, rows[key], repair_id)
                dispatch(complete(key, result))

        workers = [threading.Thread(target=slot, args=(i,), name=f"slot-{i}", daemon=True) for i in range(slots())]
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
            self.servers.close()
            self.writer.close()
        return {k: done[k].result_state for k in in_run}

    def _not_started(self, row_id: int) -> plan.TaskResult:
        self._finish_row(row_id, "CANCELED", "Run was canceled before this task started."
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
            self._finish_row(row_id, skip, _skip_message(skip, task, deps))
            return plan.TaskResult(skip)
        if any(t in task for t in CONTROL_TYPES):
            threading.Thread(target=control, args=(key,), daemon=True).start()
        else:
            compute.put(key)
        return None

    def _precreated(self) -> dict[str, int]:
        """Task rows ``run_now`` created up front (so a new run lists its tasks at once)."""
        from healthmon.store.runs import unstarted_task_runs

        with self.db.session() as s:
            return unstarted_task_runs(s, self.run_id)

    def _watch(self) -> None:
        """Every 0.1 s: kills attempts past their timeout or of a canceled / timed-out run.
        Every 0.5 s: heartbeat + cancel flag from the run row; the job's duration warning."""
        threshold = notify.duration_threshold(self.job_settings)
        warned = False
        tick = 0
        while True:
            if tick % 5 == 0:
                try:
                    with self.db.session() as s:
                        row = s.get(RunRecord, self.run_id)
                        row.heartbeat = now_ms()
                        if row.cancel_requested:
                            self.cancel.set()
                except Exception:  # a transient database error must not kill the watcher
                    pass
                if threshold is not None and not warned and time.time() - self.start_time / 1000 > threshold:
                    warned = True
                    threading.Thread(target=notify.run_event, args=(self.run_id, "on_duration_warning_threshold_exceeded"),
                                     daemon=True).start()
            tick += 1
            if self.deadline is not None and time.time() >= self.deadline:
                self.timed_out.set()
            now = time.monotonic()
            with self.lock:
                attempts = list(self.attempts.items())
            for pid, state in attempts:
                if state[2] is not None and now >= state[2]:
                    state[2] = None  # warn once per attempt
                    threading.Thread(target=self._notify_task, daemon=True, args=(
                        state[4], state[3], "on_duration_warning_threshold_exceeded")).start()
                if state[1] is not None:
                    continue
                if self.cancel.is_set():
                    state[1] = "CANCELED"
                elif state[0] is not None and now >= state[0]:
                    state[1] = "TIMEDOUT"
                elif self.timed_out.is_set():
                    state[1] = "JOB_TIMEDOUT"
                if state[1] is not None:
                    kill_group(pid)
            time.sleep(0.1)

    def _guarded(self, key: str, row_id: int, repair_id: int | None) -> plan.TaskResult:
        try:
            return self._run_task(key, self.by_key[key], row_id, repair_id)
        except BaseException as exc:  # a runtime bug must still finish the task, not hang the run
            message = f"Internal error: {type(exc).__name__}: {exc}"
            self._finish_row(row_id, "FAILED", message, output={"error": message, "error_trace": traceback.format_exc()})
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
            result, outcome = self._attempt(key, task, row_id, extra_ctx, parent)
            retryable = result == "FAILED" or (result == "TIMEDOUT" and task.get("retry_on_timeout"))
            if not retryable or (max_retries != -1 and attempt >= max_retries) or self.cancel.is_set() or self.timed_out.is_set():
                self._notify_task(row_id, task, "on_success" if result == "SUCCESS" else "on_failure")
                return plan.TaskResult(result, outcome)
            attempt += 1
            if interval:
                self._update(row_id, life_cycle_state="TERMINATED")
                if self.cancel.wait(interval):
                    return plan.TaskResult(result, outcome)
            row_id = self._new_task_row(key, task, attempt=attempt, state="PENDING", repair_id=repair_id,
                                        parent=parent, name=key)

    def _attempt(self, key: str, task: dict, row_id: int, extra_ctx, parent) -> tuple[str, str | None]:
        start = now_ms()
        if not any(t in task for t in COMPUTE_TYPES):
            self._update(row_id, life_cycle_state="RUNNING", start_time=start)
        where = f"Job {self.job_name!r}, task {key!r}"
        ctx = self._context(key, row_id, extra_ctx)
        try:
            if "condition_task" in task:
                return self._condition(row_id, task, ctx, where, start)
            if "run_job_task" in task:
                return self._run_job(row_id, task, ctx, where, start)
            if "for_each_task" in task:
                return self._for_each(key, row_id, task, ctx, where, start)
            if any(t in task for t in COMPUTE_TYPES):
                return self._subprocess(key, row_id, task, ctx, where, start)
            kinds = [k for k in task if k.endswith("_task")]
            raise HealthmonError(f"{where}: task type {', '.join(kinds) or '(none)'} is not supported by the local runtime.")
        except HealthmonError as exc:
            self._finish_row(row_id, "FAILED", exc.message, output={"error": str(exc)}, start=start)
            return "FAILED", None

    def _condition(self, row_id, task, ctx, where, start):
        c = task["condition_task"]
        left = refs.resolve(str(c.get("left", "")), ctx, where)
        right = refs.resolve(str(c.get("right", "")), ctx, where)
        outcome = "true" if compare(left, c.get("op", "EQUAL_TO"), right, where) else "false"
        self._finish_row(row_id, "SUCCESS", "", output={"outcome": outcome, "left": left, "right": right}, start=start)
        return "SUCCESS", outcome

    def _run_job(self, row_id, task, ctx, where, start):
        from healthmon.jobs import service

        spec = task["run_job_task"]
        params = {k: refs.resolve(str(v), ctx, where) for k, v in (spec.get("job_parameters") or {}).items()}
        child = service.run_now(int(spec["job_id"]), job_parameters=params, trigger="RUN_JOB_TASK", parent_run_id=self.run_id)
        self._update(row_id, output_json={"run_job_output": {"run_id": child}})
        while True:
            run = service.get_run(child, include_tasks=False)
            if run["state"]["life_cycle_state"] in ("TERMINATED", "SKIPPED", "INTERNAL_ERROR"):
                break
            if self.cancel.is_set() or self.timed_out.is_set() or self._task_timed_out(task, start):
                service.cancel_run(child)
                service.wait_for_run(child, timeout=30)
                result = "CANCELED" if self.cancel.is_set() else "TIMEDOUT"
                self._finish_row(row_id, result, f"Child run {child} canceled.", output={"run_job_output": {"run_id": child}}, start=start)
                return result, None
            time.sleep(0.1)
        result = run["state"].get("result_state") or "FAILED"
        if result == "SUCCESS_WITH_FAILURES":
            result = "SUCCESS"
        if result in ("MAXIMUM_CONCURRENT_RUNS_REACHED", "UPSTREAM_FAILED", "EXCLUDED", "UPSTREAM_CANCELED"):
            result = "FAILED"
        message = "" if result == "SUCCESS" else f"Child run {child} of job {spec['job_id']} ended {run['state'].get('result_state')}: {run['state'].get('state_message', '')}"
        out = {"run_job_output": {"run_id": child}}
        if message:
            out["error"] = message
        self._finish_row(row_id, result, message, output=out, start=start)
        return result, None

    def _for_each(self, key, row_id, task, ctx, where, start):
        spec = task["for_each_task"]
        raw = refs.resolve(str(spec.get("inputs", "[]")), ctx, where) if isinstance(spec.get("inputs"), str) else json.dumps(spec.get("inputs"))
        try:
            inputs = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise HealthmonError(f"{where}: for_each_task.inputs is not a JSON array: {exc.msg} in {raw[:200]!r}") from None
        if not isinstance(inputs, list):
            raise HealthmonError(f"{where}: for_each_task.inputs must be a JSON array, got {type(inputs).__name__}.")
        nested = dict(spec["task"])
        nested.setdefault("task_key", f"{key}_iteration")
        sem = threading.Semaphore(max(1, int(spec.get("concurrency") or 1)))
        results: list[str] = [""] * len(inputs)
        pool = ThreadPoolExecutor(max_workers=max(1, min(len(inputs), int(spec.get("concurrency") or 1), slots())))

        def one(i: int, item: Any) -> None:
            with sem:
                extra = {"input": refs.value_to_str(item)}
                if isinstance(item, dict):
                    extra.update({f"input.{k}": refs.value_to_str(v) for k, v in item.items()})
                it_row = self._new_task_row(nested["task_key"], nested, attempt=0, state="PENDING", repair_id=None,
                                            parent=row_id, name=f"{nested['task_key']} [{i}]")
                results[i] = self._run_task(nested["task_key"], nested, it_row, None, extra, parent=row_id).result_state

        list(pool.map(lambda a: one(*a), enumerate(inputs)))
        pool.shutdown()
        failed = [i for i, r in enumerate(results) if r != "SUCCESS"]
        if self.cancel.is_set():
            result = "CANCELED"
        elif failed:
            result = "FAILED"
        else:
            result = "SUCCESS"
        message = f"{len(failed)} of {len(inputs)} iterations did not succeed (first: #{failed[0]})." if failed else ""
        self._finish_row(row_id, result, message, output={"error": message} if message else {}, start=start)
        return result, None

    def _task_timed_out(self, task: dict, start_ms: int) -> bool:
        t = int(task.get("timeout_seconds") or 0)
        return t > 0 and now_ms() - start_ms >= t * 1000

    def _cells(self, path) -> tuple[list, list | None]:
        """Parsed notebook cells and their compiled code, cached per file version (a 1,000-task DAG
        parses and compiles once). The code is compiled here, once, with each cell padded so that
        line numbers in tracebacks match the notebook; None when a cell does not compile (the
        attempt then compiles the sources itself and reports the SyntaxError as the task's)."""
        st = os.stat(path)
        key = (str(path), st.st_mtime)
        cached = self._cells_cache.get(key)
        if cached is None:
            cells = [(c.source, c.file, c.line) for c in load_cells(path)]
            try:
                code = [compile("\n" * (line - 1) + source, file, "exec", dont_inherit=True) for source, file, line in cells]
            except (SyntaxError, ValueError):
                code = None
            cached = self._cells_cache[key] = (cells, code)
        return cached

    def _notebook(self, notebook_path: str) -> Path:
        """The notebook's source file, looked up once per run and path (then only stat'ed)."""
        from healthmon.workspace_files import resolve_notebook

        found = self._notebook_files.get(notebook_path)
        if found is None:
            found = self._notebook_files[notebook_path] = resolve_notebook(notebook_path, self.settings)
        return found

    def _spec(self, key: str, row_id: int, task: dict, ctx: dict, where: str, log_dir: str, python: str) -> dict:
        from healthmon.workspace_files import to_local

        spec: dict[str, Any] = {
            "task_key": key, "run_id": row_id, "job_run_id": self.run_id, "job_id": self.job_id,
            "home": self.home, "result_file": log_dir + "/result.bin",
            "redact": self.redact,
        }
        with self.lock:
            spec["task_values"] = {k: dict(v) for k, v in self.values.items()}
        if "notebook_task" in task:
            nt = task["notebook_task"]
            path = self._notebook(nt["notebook_path"])
            spec["kind"] = "notebook"
            spec["path"] = str(path)
            spec["cwd"] = os.path.dirname(spec["path"])
            try:
                try:
                    spec["cells"], code = self._cells(path)
                except FileNotFoundError:  # moved or deleted since first looked up: look again
                    self._notebook_files.pop(nt["notebook_path"], None)
                    path = self._notebook(nt["notebook_path"])
                    spec["path"], spec["cwd"] = str(path), str(path.parent)
                    spec["cells"], code = self._cells(path)
            except NotebookError as exc:
                raise HealthmonError(f"{where}: {exc}") from None
            if code is not None and python == sys.executable:  # code objects are interpreter-specific
                # The sources stay here: the child needs them only to compile (and the files of
                # its cells, in a traceback, are in the code objects).
                spec["code"] = code
                del spec["cells"]
            widgets = {k: refs.resolve(str(v), ctx, where) for k, v in (nt.get("base_parameters") or {}).items()}
            widgets.update(self.job_params)  # a job parameter wins over a base parameter of the same name
            spec["widgets"] = widgets
        elif "spark_python_task" in task:
            pt = task["spark_python_task"]
            path = to_local(pt["python_file"], self.settings)
            if not path.is_file():
                raise HealthmonError(f"{where}: python_file {pt['python_file']} not found (looked for {path}).")
            spec["kind"] = "python_file"
            spec["path"] = str(path)
            spec["cwd"] = str(path.parent)
            spec["argv"] = [refs.resolve(str(a), ctx, where) for a in pt.get("parameters") or []]
        else:
            wt = task["python_wheel_task"]
            spec["kind"] = "wheel"
            spec["package_name"] = wt["package_name"]
            spec["entry_point"] = wt["entry_point"]
            spec["argv"] = [refs.resolve(str(a), ctx, where) for a in wt.get("parameters") or []]
            named = {k: refs.resolve(str(v), ctx, where) for k, v in (wt.get("named_parameters") or {}).items()}
            if not wt.get("parameters") and not named:
                named = dict(self.job_params)
            spec["named_parameters"] = named
        return spec

    def _subprocess(self, key: str, row_id: int, task: dict, ctx: dict, where: str, start: int) -> tuple[str, None]:
        log_dir = f"{self.log_root}/{key}-{row_id}"  # created on demand (first output, large result)
        try:
            python = python_for(dependencies_for(self.job_settings, task), self.settings.home)
            spec = self._spec(key, row_id, task, ctx, where, log_dir, python)
        except HealthmonError as exc:  # includes DependencyError and unresolvable references
            self._finish_row(row_id, "FAILED", exc.message, output={"error": exc.message}, start=start)
            return "FAILED", None
        timeout = int(task.get("timeout_seconds") or 0)
        warn = notify.duration_threshold(task)
        now = time.monotonic()
        # [timeout deadline, kill reason, duration-warning time, task, task run id, finished]
        state = [now + timeout if timeout > 0 else None, None, now + warn if warn is not None else None, task, row_id, False]

        def on_start(pid: int) -> None:  # on the fork server's reader thread, while we read the output
            with self.lock:  # (queued under the lock, so RUNNING can never land after TERMINATED)
                if state[5]:  # a very short attempt finished before its pid arrived
                    self._update(row_id, runner_pid=pid)
                    return
                self.attempts[pid] = state
                self._update(row_id, life_cycle_state="RUNNING", start_time=start, runner_pid=pid, log_dir=log_dir)

        try:
            proc = self.servers.start(python, spec, on_start, lane=getattr(self._lane, "index", 0))
        except ForkServerError as exc:
            message = f"{where}: could not start the task process: {exc}"
            self._finish_row(row_id, "FAILED", message, output={"error": message}, start=start)
            return "FAILED", None
        setup_ms = now_ms() - start
        # This slot's thread pumps the output itself (no thread per attempt). EOF comes when the
        # attempt closed its stdout at exit and nothing else holds it. A complete result is then
        # in the result pipe and the task is done: the zygote reaps the process and kills its
        # group and every descendant it left on its own. Without a result (a crash, os._exit, a
        # kill) we wait for that and take the exit code.
        LogPump(proc.read_fd, log_dir + "/output.log", self.secret_values).run()
        data = drain(proc.result_fd)
        res = parse_result(data, spec["result_file"])
        returncode = 0
        if res is None or state[1] is not None:
            returncode = proc.wait()
            res = parse_result(data + drain(proc.result_fd), spec["result_file"])
        os.close(proc.result_fd)
        with self.lock:
            state[5] = True
            # on_start queued RUNNING with start_time and log_dir; if it has not run yet, it only
            # adds the pid when it does, so they are queued here instead.
            started = proc.pid is not None and self.attempts.pop(proc.pid, None) is not None
        reason = state[1]
        if not started:
            self._update(row_id, start_time=start, log_dir=log_dir)
        if reason == "CANCELED":
            self._finish_row(row_id, "CANCELED", "Run was canceled.", output={"error": "Run canceled by user."}, start=start, setup_ms=setup_ms)
            return "CANCELED", None
        if reason in ("TIMEDOUT", "JOB_TIMEDOUT"):
            secs = task.get("timeout_seconds") if reason == "TIMEDOUT" else self.job_settings.get("timeout_seconds")
            what = "Task" if reason == "TIMEDOUT" else "Job"
            msg = f"{what} timed out after {secs} seconds; the task's processes were killed."
            self._finish_row(row_id, "TIMEDOUT", msg, output={"error": msg}, start=start, setup_ms=setup_ms)
            return "TIMEDOUT", None
        if res is None:
            res = {"status": "FAILED", "error": f"The task process exited with code {returncode} without reporting a result "
                   f"(killed, or os._exit). See the logs: healthmon runs logs --run-id {row_id}."}
        values = res.get("task_values") or {}
        with self.lock:
            if values:
                self.values[key] = values
                for name, v in values.items():
                    self.task_refs[f"tasks.{key}.values.{name}"] = refs.value_to_str(v)
            self.task_refs[f"tasks.{key}.run_id"] = str(row_id)
        output = {k: res[k] for k in ("notebook_output", "error", "error_trace") if k in res}
        if res["status"] == "SUCCESS":
            self._finish_row(row_id, "SUCCESS", "", output=output, values=values, start=start, setup_ms=setup_ms)
            return "SUCCESS", None
        message = res.get("error") or "Task failed."
        self._finish_row(row_id, "FAILED", message, output=output, values=values, start=start, setup_ms=setup_ms)
        return "FAILED", None


def compare(left: str, op: str, right: str, where: str) -> bool:
    try:
        a, b = float(left), float(right)
    except ValueError:
        a, b = left, right
    ops = {
        "EQUAL_TO": lambda: a == b, "NOT_EQUAL": lambda: a != b,
        "GREATER_THAN": lambda: a > b, "GREATER_THAN_OR_EQUAL": lambda: a >= b,
        "LESS_THAN": lambda: a < b, "LESS_THAN_OR_EQUAL": lambda: a <= b,
    }
    if op not in ops:
        raise HealthmonError(f"{where}: condition_task.op {op!r} is not one of {', '.join(ops)}.")
    if op not in ("EQUAL_TO", "NOT_EQUAL") and type(a) is str:
        raise HealthmonError(f"{where}: condition_task {op} needs numbers, got {left!r} and {right!r}.")
    return ops[op]()


def _skip_message(result: str, task: dict, deps: dict[str, plan.TaskResult]) -> str:
    if result == "UPSTREAM_FAILED":
        bad = sorted(k for k, r in deps.items() if r.result_state in plan.FAILED_STATES)
        return f"Upstream task(s) {', '.join(bad)} failed."
    if result == "UPSTREAM_CANCELED":
        return "Upstream task(s) were canceled."
    if result == "DISABLED":
        return "Task is disabled."
    return f"Excluded: run_if {task.get('run_if', 'ALL_SUCCESS')} not met by the dependencies' outcomes."
