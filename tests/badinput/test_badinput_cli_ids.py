"""Job and run ids on the command line are the Jobs API's int64: one beyond is a usage error
naming the option (exit 2), as the REST API answers 400 — not a crash of the database binding."""

from __future__ import annotations

import pytest

HUGE = str(2**63)  # one past int64


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (("jobs", "get", "--job-id", HUGE), "--job-id"),
        (("jobs", "run-now", "--job-id", HUGE), "--job-id"),
        (("jobs", "delete", "--job-id", HUGE), "--job-id"),
        (("jobs", "pause", "--job-id", HUGE), "--job-id"),
        (("jobs", "next-runs", "--job-id", HUGE), "--job-id"),
        (("runs", "list", "--job-id", HUGE), "--job-id"),
        (("runs", "get", "--run-id", HUGE), "--run-id"),
        (("runs", "get-output", "--run-id", HUGE), "--run-id"),
        (("runs", "cancel", "--run-id", HUGE), "--run-id"),
        (("runs", "repair", "--run-id", HUGE, "--rerun-all-failed-tasks"), "--run-id"),
        (("runs", "get", "--run-id", "-1"), "--run-id"),
    ],
)
def test_an_id_outside_int64_is_a_usage_error(cli, argv, option):
    code, text = cli(*argv)
    assert code == 2 and f"Invalid value for '{option}'" in text, text


def test_an_id_at_the_int64_limit_is_simply_not_found(cli):
    code, text = cli("runs", "get", "--run-id", str(2**63 - 1))
    assert code == 1 and f"Run {2**63 - 1} does not exist." in text
