"""The execution plan and parameter references: pure functions, no processes."""

from __future__ import annotations

import pytest

from healthmon.errors import InvalidParameterError
from healthmon.jobs import plan, refs
from healthmon.jobs.plan import TaskResult


def t(key, *deps, run_if=None, cond=False):
    task = {"task_key": key, "depends_on": [{"task_key": d} if isinstance(d, str) else {"task_key": d[0], "outcome": d[1]} for d in deps]}
    if run_if:
        task["run_if"] = run_if
    task["condition_task" if cond else "notebook_task"] = {}
    return task


def test_validate_rejects_cycles_unknown_deps_and_duplicates():
    with pytest.raises(InvalidParameterError, match="cycle through a, b"):
        plan.validate_tasks("j", [t("a", "b"), t("b", "a"), t("c")])
    with pytest.raises(InvalidParameterError, match="task 'a': depends_on names unknown task 'zz'"):
        plan.validate_tasks("j", [t("a", "zz")])
    with pytest.raises(InvalidParameterError, match="used by more than one task"):
        plan.validate_tasks("j", [t("a"), t("a")])
    with pytest.raises(InvalidParameterError, match="run_if 'SOMETIMES'"):
        plan.validate_tasks("j", [t("a", run_if="SOMETIMES")])
    with pytest.raises(InvalidParameterError, match="is not a condition_task"):
        plan.validate_tasks("j", [t("a"), t("b", ("a", "true"))])


S, F, C, X, UF = (TaskResult(r) for r in ("SUCCESS", "FAILED", "CANCELED", "EXCLUDED", "UPSTREAM_FAILED"))


@pytest.mark.parametrize(
    "run_if, deps, expected",
    [
        ("ALL_SUCCESS", {"a": S, "b": S}, None),
        ("ALL_SUCCESS", {"a": S, "b": F}, "UPSTREAM_FAILED"),
        ("ALL_SUCCESS", {"a": S, "b": UF}, "UPSTREAM_FAILED"),
        ("ALL_SUCCESS", {"a": S, "b": C}, "UPSTREAM_CANCELED"),
        ("AT_LEAST_ONE_SUCCESS", {"a": S, "b": F}, None),
        ("AT_LEAST_ONE_SUCCESS", {"a": F, "b": F}, "UPSTREAM_FAILED"),
        ("NONE_FAILED", {"a": S, "b": X}, None),
        ("NONE_FAILED", {"a": S, "b": F}, "UPSTREAM_FAILED"),
        ("ALL_DONE", {"a": F, "b": C}, None),
        ("AT_LEAST_ONE_FAILED", {"a": S, "b": F}, None),
        ("AT_LEAST_ONE_FAILED", {"a": S, "b": S}, "EXCLUDED"),
        ("ALL_FAILED", {"a": F, "b": F}, None),
        ("ALL_FAILED", {"a": F, "b": S}, "EXCLUDED"),
        ("ALL_SUCCESS", {"a": X, "b": X}, "EXCLUDED"),
    ],
)
def test_run_if(run_if, deps, expected):
    task = t("z", *deps, run_if=run_if)
    assert plan.decide(task, deps) == expected


def test_condition_outcome_selects_branch():
    yes = t("yes", ("c", "true"))
    no = t("no", ("c", "false"))
    res = {"c": TaskResult("SUCCESS", "true")}
    assert plan.decide(yes, res) is None
    assert plan.decide(no, res) == "EXCLUDED"
    # A task after the excluded branch is excluded too.
    assert plan.decide(t("after", "no"), {"no": X}) == "EXCLUDED"


def test_repair_selection_includes_dependents_that_did_not_succeed():
    by_key = plan.validate_tasks("j", [t("a"), t("b", "a"), t("c", "b"), t("d")])
    results = {"a": "SUCCESS", "b": "FAILED", "c": "UPSTREAM_FAILED", "d": "SUCCESS"}
    assert plan.repair_selection(1, by_key, results, None, True) == {"b", "c"}
    assert plan.repair_selection(1, by_key, results, ["a"], False) == {"a", "b", "c"}
    # RepairRun.rerun_dependent_tasks: "repair all tasks that depend on the tasks in rerun_tasks,
    # even if they were previously successful" — without it, successful dependents keep their result.
    ok = {"a": "SUCCESS", "b": "SUCCESS", "c": "FAILED", "d": "SUCCESS"}
    assert plan.repair_selection(1, by_key, ok, ["a"], False) == {"a", "c"}
    assert plan.repair_selection(1, by_key, ok, ["a"], False, rerun_dependents=True) == {"a", "b", "c"}
    assert plan.repair_selection(1, by_key, ok, None, True, rerun_dependents=True) == {"c"}
    with pytest.raises(InvalidParameterError, match="rerun_tasks names unknown task\\(s\\) nope"):
        plan.repair_selection(1, by_key, results, ["nope"], False)
    with pytest.raises(InvalidParameterError, match="nothing to repair"):
        plan.repair_selection(1, by_key, {"a": "SUCCESS"}, None, True)


def test_run_result_uses_leaf_tasks():
    by_key = plan.validate_tasks("j", [t("a"), t("b", "a"), t("cleanup", "b", run_if="ALL_DONE")])
    assert plan.run_result(by_key, {"a": "SUCCESS", "b": "SUCCESS", "cleanup": "SUCCESS"})[0] == "SUCCESS"
    assert plan.run_result(by_key, {"a": "FAILED", "b": "UPSTREAM_FAILED", "cleanup": "SUCCESS"})[0] == "SUCCESS_WITH_FAILURES"
    assert plan.run_result(by_key, {"a": "SUCCESS", "b": "SUCCESS", "cleanup": "FAILED"})[0] == "FAILED"
    assert plan.run_result(by_key, {"a": "CANCELED", "b": "UPSTREAM_CANCELED", "cleanup": "CANCELED"})[0] == "CANCELED"


def test_select_tasks_only():
    by_key = plan.validate_tasks("j", [t("a"), t("b", "a")])
    assert plan.select_tasks("j", by_key, ["b"]) == ["b"]
    with pytest.raises(InvalidParameterError, match="unknown task\\(s\\) x"):
        plan.select_tasks("j", by_key, ["x"])


def test_task_parameter_kinds_as_run_now_and_a_repair_take_them():
    """RunParameters: python_params is a list of ASCII strings whose JSON is at most 10,000 bytes;
    the map kinds are per name. A repair's values replace the run's: per name for a map, the whole
    list for python_params (a list has no names to merge by)."""
    given = {"python_params": ["a", 1], "notebook_params": {"n": 2}, "python_named_params": {}}
    assert refs.task_parameter_overrides("j", 1, {}, given) == {"python_params": ["a", "1"],
                                                                "notebook_params": {"n": "2"}}
    with pytest.raises(InvalidParameterError, match="python_params\\[1\\] .* non-ASCII"):
        refs.task_parameter_overrides("j", 1, {}, {"python_params": ["a", "\u00e9"]})
    with pytest.raises(InvalidParameterError, match="cannot exceed 10,000 bytes"):
        refs.task_parameter_overrides("j", 1, {}, {"python_params": ["x" * 9990]})
    with pytest.raises(InvalidParameterError, match="must be a list of strings"):
        refs.task_parameter_overrides("j", 1, {}, {"python_params": "a b"})
    with pytest.raises(InvalidParameterError, match="cannot be combined"):
        refs.task_parameter_overrides("j", 1, {"parameters": [{"name": "p"}]}, {"python_params": ["a"]})
    run = {"notebook_params": {"a": "1", "b": "1"}, "python_params": ["x", "y"]}
    assert refs.merge_task_parameters(run, {"notebook_params": {"b": "2"}, "python_params": ["z"]}) == {
        "notebook_params": {"a": "1", "b": "2"}, "python_named_params": {}, "python_params": ["z"]}
    assert refs.merge_task_parameters(run, {})["python_params"] == ["x", "y"]


def test_job_parameters_and_references():
    settings = {"parameters": [{"name": "catalog", "default": "dev"}, {"name": "n", "default": 3}]}
    assert refs.effective_job_parameters("j", settings, {"catalog": "prod"}) == {"catalog": "prod", "n": "3"}
    with pytest.raises(InvalidParameterError, match="has no parameter 'nope' \\(defined parameters: catalog, n\\)"):
        refs.effective_job_parameters("j", settings, {"nope": "1"})
    ctx = refs.job_context(job_id=7, job_name="j", run_id=42, start_time=1_700_000_000_000, trigger="ONE_TIME",
                           params={"catalog": "prod"})
    ctx["tasks.a.values.x"] = "9"
    text = "{{job.run_id}} {{ job.start_time.iso_datetime }} {{job.parameters.catalog}} {{tasks.a.values.x}}"
    assert refs.resolve(text, ctx, "task b") == "42 2023-11-14T22:13:20 prod 9"
    with pytest.raises(InvalidParameterError, match="task b: unknown or unavailable dynamic value reference \\{\\{tasks.q.values.y\\}\\}"):
        refs.resolve("{{tasks.q.values.y}}", ctx, "task b")
