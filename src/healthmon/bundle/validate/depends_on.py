"""Task graph checks: unique task keys, at most one task type per task (none is accepted, as by
the CLI; ``bundle deploy`` refuses it), ``depends_on`` naming existing tasks, no cycles in a
job, and no cycles across jobs through ``run_job_task`` (a literal ``job_id`` names a job of the
local workspace). healthmon's own check: run by deploy, not by ``bundle validate``."""

from __future__ import annotations

import re

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.suggest import did_you_mean
from healthmon.bundle.validate.base import BundleState, job_tasks, task_key
from healthmon.errors import Location

CHECK = "depends_on"
JOB_REF = re.compile(r"^\$\{resources\.jobs\.([A-Za-z0-9_-]+)\.id\}$")
TASK_TYPES = ("notebook_task", "spark_python_task", "python_wheel_task", "spark_jar_task", "spark_submit_task",
              "pipeline_task", "run_job_task", "sql_task", "dbt_task", "condition_task", "for_each_task",
              "clean_rooms_notebook_task", "dashboard_task", "power_bi_task", "gen_ai_compute_task",
              "dbt_platform_task", "alert_task", "ai_runtime_task", "python_operator_task")


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle as a closed chain [a, b, ..., a], or None. Iterative DFS (large bundles)."""
    color: dict[str, int] = {}
    for start in graph:
        if color.get(start):
            continue
        stack = [(start, iter(graph.get(start, ())))]
        color[start] = 1
        path = [start]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
                path.pop()
                continue
            if nxt not in graph:
                continue
            c = color.get(nxt, 0)
            if c == 1:
                return path[path.index(nxt):] + [nxt]
            if c == 0:
                color[nxt] = 1
                stack.append((nxt, iter(graph.get(nxt, ()))))
                path.append(nxt)
    return None


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    jobs = state.jobs()
    job_graph: dict[str, list[str]] = {k: [] for k in jobs}
    job_edge_loc: dict[tuple[str, str], tuple[Location, str]] = {}
    for key, job in jobs.items():
        base = f"resources.jobs.{key}"
        tasks = job_tasks(job)
        keys: dict[str, int] = {}
        for i, t in enumerate(tasks):
            tk = task_key(t)
            if tk in keys:
                out.append(Diagnostic(ERROR, f'job "{key}": duplicate task_key "{tk}" (also tasks[{keys[tk]}])',
                                      t.loc, f"{base}.tasks[{i}].task_key", check=CHECK))
            keys.setdefault(tk, i)
        graph: dict[str, list[str]] = {k: [] for k in keys}
        for i, t in enumerate(tasks):
            tk = task_key(t)
            tpath = f"{base}.tasks[{i}]"
            kinds = [k for k in TASK_TYPES if (given := t.get(k)) is not None and given.v is not None]
            if len(kinds) > 1:
                # No type is accepted silently, as by the CLI (whose own tests have such tasks);
                # the deploy refuses it, as the Jobs API does.
                out.append(Diagnostic(ERROR, f'task "{tk}" of job "{key}" has several task types '
                                             f"({', '.join(kinds)}); expected exactly one of "
                                             f"notebook_task, spark_python_task, run_job_task, condition_task, ...",
                                      t.loc, tpath, check=CHECK))
            deps = t.get("depends_on")
            if deps is not None and deps.is_list:
                for j, d in enumerate(deps.v):
                    dk = d.get("task_key") if d.is_map else None
                    if dk is None or not isinstance(dk.v, str):
                        out.append(Diagnostic(ERROR, f'task "{tk}": depends_on entries must be maps with a task_key',
                                              d.loc, f"{tpath}.depends_on[{j}]", check=CHECK))
                        continue
                    if dk.v == tk:
                        out.append(Diagnostic(ERROR, f'task "{tk}" of job "{key}" depends on itself', dk.loc,
                                              f"{tpath}.depends_on[{j}].task_key", check=CHECK))
                    elif dk.v not in keys:
                        out.append(Diagnostic(
                            ERROR, f'task "{tk}" of job "{key}" depends on "{dk.v}", which is not a task of this job'
                                   f"{did_you_mean(str(dk.v), keys)}",
                            dk.loc, f"{tpath}.depends_on[{j}].task_key", check=CHECK))
                    else:
                        graph[tk].append(dk.v)
            rj = t.get("run_job_task")
            jid = rj.get("job_id") if rj is not None and rj.is_map else None
            if rj is not None and jid is not None:
                m = JOB_REF.match(jid.v) if isinstance(jid.v, str) else None
                if m is not None and m.group(1) in jobs:
                    job_graph[key].append(m.group(1))
                    job_edge_loc.setdefault((key, m.group(1)), (jid.loc, f"{tpath}.run_job_task.job_id"))
        cyc = _cycle(graph)
        if cyc:
            out.append(Diagnostic(ERROR, f'cycle in the task dependencies of job "{key}": ' + " -> ".join(cyc),
                                  job.loc, f"{base}.tasks", check=CHECK))
    cyc = _cycle(job_graph)
    if cyc:
        loc, path = job_edge_loc.get((cyc[0], cyc[1]), (jobs[cyc[0]].loc, f"resources.jobs.{cyc[0]}"))
        out.append(Diagnostic(ERROR, "cycle across jobs through run_job_task: " + " -> ".join(cyc), loc, path,
                              check=CHECK))
    return out
