"""Golden ``validate -o json`` documents for the basic fixture bundle.

Regenerate after an intended change with ``HEALTHMON_UPDATE_GOLDEN=1`` and review the diff.
"""

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthmon.cli.bundle import app
from bundle_fixtures import fixtures_dir  # noqa: F401  (pytest fixtures)

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_validate_json_matches_golden(fixtures_dir, tmp_path, target):
    # A copy outside the repository, so bundle.git (branch/commit) does not enter the golden file.
    root = tmp_path / "basic"
    shutil.copytree(fixtures_dir / "basic", root)
    result = CliRunner().invoke(app, ["validate", "-p", str(root), "-t", target, "-o", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    path = GOLDEN / f"basic_{target}.json"
    if os.environ.get("HEALTHMON_UPDATE_GOLDEN"):
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    assert doc == json.loads(path.read_text())


def test_golden_has_the_cli_layout(fixtures_dir):
    doc = json.loads((GOLDEN / "basic_dev.json").read_text())
    assert set(doc) == {"bundle", "include", "presets", "resources", "sync", "variables", "workspace"}
    job = doc["resources"]["jobs"]["ingest_job"]
    for field, value in {"format": "MULTI_TASK", "edit_mode": "UI_LOCKED", "queue": {"enabled": True},
                         "max_concurrent_runs": 4}.items():
        assert job[field] == value
    assert job["deployment"]["kind"] == "BUNDLE"
