"""The execution plan: pure functions over job settings and task results, no processes.

- ``validate_tasks``: unique keys, known dependencies, no cycles;
- ``select_tasks`` (``--only``) and ``repair_selection`` (tasks to re-run and their dependents);
- ``decide``: whether a task whose dependencies are all finished runs, or which skip result it
  gets (Databricks' ``run_if`` with UPSTREAM_FAILED / UPSTREAM_CANCELED / EXCLUDED);
- ``run_result``: the job run's result from its task results (leaf-task rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from healthmon.errors import InvalidParameterError

SUCCESS = "SUCCESS"
FAILED_STATES = frozenset({"FAILED", "TIMEDOUT", "UPSTREAM_FAILED", "MAXIMUM_CONCURRENT_RUNS_REACHED"})
CANCELED_STATES = frozenset({"CANCELED", "UPSTREAM_CANCELED"})
SKIPPED_STATES = frozenset({"EXCLUDED", "DISABLED"})
RUN_IF = ("ALL_SUCCESS", "AT_LEAST_ONE_SUCCESS", "NONE_FAILED", "ALL_DONE", "AT_LEAST_ONE_FAILED", "ALL_FAILED")


@dataclass(frozen=True)
class TaskResult:
    result_state: str
    # A condition task's outcome, "true" or "false"; None for other tasks.
    outcome: str | None = None


def task_deps(task: Mapping) -> list[tuple[str, str | None]]:
    return [(d["task_key"], d.get("outcome")) for d in task.get("depends_on") or []]


def validate_tasks(job_name: str, tasks: list[dict]) -> dict[str, dict]:
    """Tasks by key, checked; raises InvalidParameterError naming the job and task."""
    by_key: dict[str, dict] = {}
    if not isinstance(tasks, list):
        raise InvalidParameterError(f"Job {job_name!r}: tasks must be a list of task objects, "
                                    f"got {type(tasks).__name__}.")
    for i, t in enumerate(tasks):
        if not isinstance(t, dict):
            raise InvalidParameterError(f"Job {job_name!r}: tasks[{i}] must be a task object, got {type(t).__name__}.")
        key = t.get("task_key")
        if not key:
            raise InvalidParameterError(f"Job {job_name!r}: tasks[{i}] has no task_key.")
        if not isinstance(key, str):
            raise InvalidParameterError(f"Job {job_name!r}: tasks[{i}].task_key must be a string, got {key!r}.")
        deps = t.get("depends_on") or []
        if not isinstance(deps, list) or not all(isinstance(d, dict) and d.get("task_key") for d in deps):
            raise InvalidParameterError(f"Job {job_name!r}, task {key!r}: depends_on must be a list of "
                                        f'{{"task_key": ...}} objects, got {deps!r}.')
        if key in by_key:
            raise InvalidParameterError(f"Job {job_name!r}: task_key {key!r} is used by more than one task.")
        run_if = t.get("run_if", "ALL_SUCCESS")
        if run_if not in RUN_IF:
            raise InvalidParameterError(
                f"Job {job_name!r}, task {key!r}: run_if {run_if!r} is not one of {', '.join(RUN_IF)}."
            )
        by_key[key] = t
    for key, t in by_key.items():
        for dep, outcome in task_deps(t):
            if dep not in by_key:
                raise InvalidParameterError(f"Job {job_name!r}, task {key!r}: depends_on names unknown task {dep!r}.")
            if outcome is not None and "condition_task" not in by_key[dep]:
                raise InvalidParameterError(
                    f"Job {job_name!r}, task {key!r}: depends_on {dep!r} has an outcome "
                    f"but {dep!r} is not a condition_task."
                )
    topological_order(job_name, by_key)
    return by_key


def topological_order(job_name: str, by_key: Mapping[str, Mapping]) -> list[str]:
    indegree = {k: 0 for k in by_key}
    children: dict[str, list[str]] = {k: [] for k in by_key}
    for k, t in by_key.items():
        for dep, _ in task_deps(t):
            if dep in by_key:
                indegree[k] += 1
                children[dep].append(k)
    ready = [k for k, n in indegree.items() if n == 0]
    order: list[str] = []
    while ready:
        k = ready.pop()
        order.append(k)
        for c in children[k]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if len(order) != len(by_key):
        cyclic = sorted(k for k, n in indegree.items() if n > 0)
        raise InvalidParameterError(
            f"Job {job_name!r}: the task dependencies form a cycle through {', '.join(cyclic)}."
        )
    return order


def select_tasks(job_name: str, by_key: Mapping[str, dict], only: Iterable[str] | None,
                 given_as: str = "only") -> list[str]:
    """The tasks a run executes, in job order. ``given_as`` names ``only`` the way the caller
    gave it (the API field ``only``, the CLI's ``--only``) for the error message."""
    if not only:
        return list(by_key)
    only = list(only)
    unknown = [k for k in only if k not in by_key]
    if unknown:
        raise InvalidParameterError(
            f"Job {job_name!r}: {given_as} names unknown task(s) {', '.join(unknown)}; "
            f"tasks are {', '.join(by_key)}."
        )
    return [k for k in by_key if k in only]


def dependents(by_key: Mapping[str, Mapping], roots: Iterable[str]) -> set[str]:
    """``roots`` and every task that depends on one of them, transitively."""
    children: dict[str, list[str]] = {k: [] for k in by_key}
    for k, t in by_key.items():
        for dep, _ in task_deps(t):
            if dep in children:
                children[dep].append(k)
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        seen.add(k)
        stack.extend(children.get(k, ()))
    return seen


def repair_selection(
    run_id: int,
    by_key: Mapping[str, Mapping],
    results: Mapping[str, str | None],
    rerun_tasks: Iterable[str] | None,
    rerun_all_failed: bool,
    given_as: str = "rerun_tasks",
    rerun_dependents: bool = False,
) -> set[str]:
    """Tasks a repair re-runs: the named (or all failed/canceled/skipped-by-failure) tasks plus
    their dependents that did not succeed — and, with ``rerun_dependents`` (``RepairRun``'s
    ``rerun_dependent_tasks``: "repair all tasks that depend on the tasks in rerun_tasks, even if
    they were previously successful"), the successful ones too. ``given_as`` names
    ``rerun_tasks`` as the caller gave it."""
    roots: set[str] = set()
    if rerun_tasks:
        unknown = [k for k in rerun_tasks if k not in results]
        if unknown:
            raise InvalidParameterError(
                f"Run {run_id}: {given_as} names unknown task(s) {', '.join(unknown)}; "
                f"the run's tasks are {', '.join(results)}."
            )
        roots |= set(rerun_tasks)
    if rerun_all_failed:
        roots |= {k for k, r in results.items() if r is not None and r not in (SUCCESS, "EXCLUDED")}
    if not roots:
        raise InvalidParameterError(f"Run {run_id}: nothing to repair (no task named and no failed task).")
    return {k for k in dependents(by_key, roots)
            if k in results and (k in roots or rerun_dependents or results[k] != SUCCESS)}


def decide(task: Mapping, deps: Mapping[str, TaskResult], wanted: Mapping[str, str | None] | None = None) -> str | None:
    """None when the task should run, else the result state it gets without running.

    ``deps`` holds the results of the task's dependencies that are part of this run. A dependency
    on a condition task counts as satisfied only when the outcome matches; otherwise that branch
    is EXCLUDED. A task all of whose dependencies are excluded is excluded too.
    """
    if not deps:
        return None
    run_if = task.get("run_if", "ALL_SUCCESS")
    if wanted is None:  # (the executor passes the outcomes it computed once per run)
        wanted = {d: o for d, o in task_deps(task)}
    kinds: list[str] = []
    for key, res in deps.items():
        outcome = wanted.get(key)
        if res.result_state in SKIPPED_STATES:
            kinds.append("excluded")
        elif outcome is not None and res.result_state == SUCCESS and res.outcome != outcome:
            kinds.append("excluded")
        elif res.result_state in (SUCCESS, "SUCCESS_WITH_FAILURES"):
            kinds.append("success")
        elif res.result_state in CANCELED_STATES:
            kinds.append("canceled")
        else:
            kinds.append("failed")
    if all(k == "excluded" for k in kinds):
        return "EXCLUDED"
    n_success, n_failed, n_canceled = kinds.count("success"), kinds.count("failed"), kinds.count("canceled")
    if run_if == "ALL_DONE":
        return None
    if run_if == "ALL_SUCCESS":
        if n_canceled:
            return "UPSTREAM_CANCELED"
        if n_failed:
            return "UPSTREAM_FAILED"
        if "excluded" in kinds:
            return "EXCLUDED"
        return None
    if run_if == "AT_LEAST_ONE_SUCCESS":
        if n_success:
            return None
        return "UPSTREAM_CANCELED" if n_canceled and not n_failed else "UPSTREAM_FAILED"
    if run_if == "NONE_FAILED":
        if n_failed:
            return "UPSTREAM_FAILED"
        if n_canceled:
            return "UPSTREAM_CANCELED"
        return None
    if run_if == "AT_LEAST_ONE_FAILED":
        return None if n_failed else "EXCLUDED"
    if run_if == "ALL_FAILED":
        return None if n_failed == len([k for k in kinds if k != "excluded"]) else "EXCLUDED"
    raise AssertionError(run_if)


def run_result(by_key: Mapping[str, Mapping], results: Mapping[str, str]) -> tuple[str, str, str]:
    """(result_state, termination code, message) of a job run from its tasks' results.

    Databricks judges a run by its leaf tasks (tasks nothing in the run depends on): all leaves
    succeeded (or were excluded) → SUCCESS, or SUCCESS_WITH_FAILURES when some other task failed;
    otherwise FAILED (CANCELED when the failure is a cancellation)."""
    in_run = set(results)
    has_children = {d for k in in_run for d, _ in task_deps(by_key[k]) if d in in_run}
    leaves = [k for k in in_run if k not in has_children]
    bad_leaves = sorted(
        k for k in leaves if results[k] not in (SUCCESS, "SUCCESS_WITH_FAILURES") and results[k] not in SKIPPED_STATES
    )
    failed_any = sorted(k for k, r in results.items() if r in FAILED_STATES)
    if not bad_leaves:
        if failed_any:
            return (
                "SUCCESS_WITH_FAILURES",
                "SUCCESS_WITH_FAILURES",
                f"Task(s) {', '.join(failed_any)} failed; leaf tasks succeeded.",
            )
        return SUCCESS, SUCCESS, ""
    if all(results[k] in CANCELED_STATES for k in bad_leaves) and not failed_any:
        return "CANCELED", "CANCELED", f"Task(s) {', '.join(bad_leaves)} canceled."
    failed = [k for k in sorted(results) if results[k] in ("FAILED", "TIMEDOUT")] or bad_leaves
    return (
        "FAILED",
        "RUN_EXECUTION_ERROR",
        f"Task {failed[0]} failed with message: see the task run output."
        if len(failed) == 1
        else f"{len(failed)} tasks failed: {', '.join(failed)}.",
    )
