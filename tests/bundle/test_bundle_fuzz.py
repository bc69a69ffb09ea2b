"""Property tests: mutated bundles (text-level and structure-level, > 1,000 cases in all, and a
seeded run of the ``benchmarks.fuzz_bundle`` campaign) never produce a traceback, every error
points somewhere, and a failed deploy changes nothing."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import yaml
from bundle_fixtures import fixtures_dir  # noqa: F401  (pytest fixtures)
from hypothesis import HealthCheck, given, settings, strategies as st

from benchmarks.fuzz_bundle import NAMED_NOT_LOCATED, paths_of
from healthmon.bundle import load_bundle
from healthmon.bundle.diag import BundleError
from healthmon.errors import HealthmonError

FILES = ("databricks.yml", "resources/ingest.yml", "resources/orchestrator.yml")
YAML_CHARS = st.sampled_from(list(":-{}[]$&*!|>'\"#,?\t\n ") + ["${", "${var.", "}", "  ", "\n  - ", ": ", "<<: *a", "&a "])

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["${var.catalog}", "${var.nope}", "${resources.jobs.nope.id}", "${resources.jobs.ingest_job.id}",
                     "${bundle.name}", "${workspace.file_path}", "${var.cluster}", "../../../etc/passwd",
                     "../src/etl/load.py", "PAUSED", "0 0 3 ? * SUN", "Mars/Base", "x>>1", "${var.table}x${var.cluster}"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)),
                      max_leaves=6)


@pytest.fixture(scope="module")
def base_texts():
    from pathlib import Path

    root = Path(__file__).parent / "fixtures" / "basic"
    return {f: (root / f).read_text() for f in FILES}


@pytest.fixture
def work(tmp_path, fixtures_dir):
    root = tmp_path / "b"
    shutil.copytree(fixtures_dir / "basic", root)
    return root


def located(d) -> bool:
    return (d.location is not None and bool(d.location.file)) or any(p in d.summary for p in NAMED_NOT_LOCATED)


def check_load(root, target):
    try:
        b = load_bundle(root, target)
    except BundleError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert located(d), d
            assert d.summary
        return None
    except HealthmonError as exc:
        assert str(exc)
        return None
    json.loads(b.to_json())  # the resolved config always serialises
    for d in b.diagnostics:
        assert d.summary and located(d), d
    return b


def mutate_structure(doc, data):
    paths = [p for p in paths_of(doc) if p]
    path = data.draw(st.sampled_from(paths))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    action = data.draw(st.sampled_from(["replace", "delete", "rename", "add"]))
    if action == "replace":
        parent[last] = data.draw(VALUES)
    elif action == "delete":
        del parent[last]
    elif action == "rename" and isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=10))] = parent.pop(last)
    elif isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=10))] = data.draw(VALUES)
    else:
        parent.append(data.draw(VALUES))
    return doc


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_text_mutations_never_crash(work, base_texts, data):
    name = data.draw(st.sampled_from(FILES))
    text = base_texts[name]
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "delete", "dupline"]))
        if op == "insert":
            text = text[:pos] + data.draw(YAML_CHARS) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 8)):]
        else:
            lines = text.splitlines(keepends=True)
            i = data.draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = "".join(lines)
    for f in FILES:
        (work / f).write_text(text if f == name else base_texts[f])
    check_load(work, data.draw(st.sampled_from([None, "dev", "prod"])))


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_structure_mutations_never_crash(work, base_texts, data):
    name = data.draw(st.sampled_from(FILES))
    doc = mutate_structure(copy.deepcopy(yaml.safe_load(base_texts[name])), data)
    for f in FILES:
        (work / f).write_text(yaml.safe_dump(doc, sort_keys=False) if f == name else base_texts[f])
    check_load(work, data.draw(st.sampled_from([None, "prod"])))


def snapshot():
    from sqlalchemy import select

    from healthmon.store.db import Database
    from healthmon.store.jobs import JobRecord

    with Database.from_settings().session() as s:
        return sorted((r.job_id, r.resource_key, r.settings_json) for r in s.scalars(select(JobRecord)).all())


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_deploys_are_all_or_nothing(work, base_texts, data):
    from healthmon.bundle.deploy import deploy

    for f in FILES:  # start from a good deployment
        (work / f).write_text(base_texts[f])
    deploy(load_bundle(work, "dev"))
    before = snapshot()
    name = data.draw(st.sampled_from(FILES))
    doc = mutate_structure(copy.deepcopy(yaml.safe_load(base_texts[name])), data)
    (work / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    fail_midway = data.draw(st.booleans())
    try:
        b = load_bundle(work, "dev")
        deploy(b, _fail_after_jobs=fail_midway)
    except HealthmonError:
        assert snapshot() == before  # nothing half-written
        return
    assert not fail_midway
    after = {key for _, key, _ in snapshot()}
    assert after == set(b.jobs)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cli_on_mutated_bundles_exits_cleanly(work, base_texts, data):
    """The CLI entry in-process: exit 0 or 1, never an exception escaping the command."""
    from typer.testing import CliRunner

    from healthmon.cli.bundle import app

    name = data.draw(st.sampled_from(FILES))
    doc = mutate_structure(copy.deepcopy(yaml.safe_load(base_texts[name])), data)
    for f in FILES:
        (work / f).write_text(yaml.safe_dump(doc, sort_keys=False) if f == name else base_texts[f])
    verb = data.draw(st.sampled_from([["validate"], ["validate", "-o", "json"], ["validate", "--strict"], ["summary"]]))
    r = CliRunner().invoke(app, [*verb, "-p", str(work)])
    assert r.exit_code in (0, 1), r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output


# The seeded campaign of ``python -m benchmarks.fuzz_bundle`` (structured mutations of every
# conformance bundle and the Health Monitor bundle through the real CLI), kept small here. A
# finding with no location is left to the campaign's report: which errors the CLI gives without
# one is the conformance fixtures' business.
HARD_FINDINGS = {"traceback", "hang", "exit-code", "not-json", "refused-but-changed", "run-internal-error", "setup"}


def test_seeded_validate_campaign_finds_nothing():
    from benchmarks import fuzz_bundle as fz

    findings = fz.campaign(250, 14, None, fz.validate_one, [*fz.conformance_cases(), fz.health_monitor_case()], False)
    assert [str(f) for f in findings if f.kind in HARD_FINDINGS] == []


def test_seeded_deploy_and_run_campaign_finds_nothing():
    from benchmarks import fuzz_bundle as fz, fuzz_deploy

    findings = fz.campaign(6, 14, None, fuzz_deploy.deploy_one, fuzz_deploy.deploy_cases(), False)
    assert [str(f) for f in findings if f.kind in HARD_FINDINGS] == []
