"""Same seed → identical tables; another seed → different ones; validation of arguments."""

from __future__ import annotations

import pytest

from healthmon.demodata.arrowgen import decode
from healthmon.demodata.generator import iter_batches
from healthmon.errors import HealthmonError


def _collect(**kw):
    out = {}
    for name, t in iter_batches(**kw):
        out.setdefault(name, []).append(decode(t))
    return out


def test_same_seed_same_tables():
    a = _collect(workspaces=2, days=21, seed=5, scale="small")
    b = _collect(workspaces=2, days=21, seed=5, scale="small")
    assert a.keys() == b.keys()
    for name in a:
        assert len(a[name]) == len(b[name])
        for x, y in zip(a[name], b[name]):
            assert x.equals(y), name


def test_other_seed_other_tables():
    a = _collect(workspaces=2, days=21, seed=5, scale="small")
    b = _collect(workspaces=2, days=21, seed=6, scale="small")
    assert not a["fact_usage"][0].equals(b["fact_usage"][0])
    assert a["dim_workspace"][0].column("workspace_id").to_pylist() != b["dim_workspace"][0].column("workspace_id").to_pylist()


def test_written_tables_match_generator_output(generated):
    expected = _collect(**generated["gen"])
    for name in ("fact_job_run_timeline", "dim_job", "ground_truth_incidents"):
        import pyarrow as pa

        exp = pa.concat_tables(expected[name])
        got = generated["arrow"][name]
        assert got.num_rows == exp.num_rows
        assert sorted(got.column(0).to_pylist(), key=str) == sorted(exp.column(0).to_pylist(), key=str)


@pytest.mark.parametrize("kw, word", [({"scale": "huge"}, "scale"), ({"days": 3}, "days"), ({"workspaces": 0}, "workspaces")])
def test_bad_arguments_are_user_errors(kw, word):
    args = dict(workspaces=1, days=20, scale="small") | kw
    with pytest.raises(HealthmonError, match=word):
        next(iter_batches(**args))
