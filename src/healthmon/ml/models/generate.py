"""The files the spec table produces: one thin training notebook per model and the training job.

``python -m healthmon.ml.models.generate`` rewrites them from ``MODELS``;
``python -m healthmon.ml.models.generate --check`` lists the files that drifted from what the
specs produce (exit 1), which is what ``tests/ml_models/test_generated_files.py`` runs.

Both are committed files rather than the bundle's Python support (``load_resources``): the
Databricks CLI deploys them as they are, and a reader sees the job in plain YAML.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from healthmon.ml.models.registry import DOMAINS, MODELS
from healthmon.ml.models.spec import ModelSpec

REPO = Path(__file__).resolve().parents[4]
NOTEBOOK_DIR = Path("src/ml")
TRAINING_JOB = Path("resources/ml/ml_training_pipeline_job.yml")
COMMAND = "python -m healthmon.ml.models.generate"

NOTEBOOK = '''# Databricks notebook source
# MAGIC %md
# MAGIC # Train `{name}`
# MAGIC {domain_title} domain. Thin task notebook: the model's definition (features, target, algorithm)
# MAGIC lives in `healthmon.ml.models`, the shared training flow in `healthmon.ml.training`.
# MAGIC Exits with the training result as JSON (`status` SUCCESS or SKIPPED with a reason); raises on failure.
# MAGIC Generated from the spec by `{command}`: edit the spec, not this file.

# COMMAND ----------

import json

from healthmon.ml.training import train_model

# COMMAND ----------

catalog = dbutils.widgets.get("catalog")
gold_schema = dbutils.widgets.get("gold_schema")
feature_schema = dbutils.widgets.get("feature_schema")

# COMMAND ----------

# Failures raise (the task fails); only a finished build/training/scoring exits normally.
result = train_model(
    "{name}",
    catalog=catalog,
    gold_schema=gold_schema,
    feature_schema=feature_schema,
)
print(json.dumps(result, indent=2, default=str))

# COMMAND ----------

dbutils.notebook.exit(json.dumps(result, default=str))
'''

JOB_HEADER = '''# Atomic job: one task per model, all {count} independent so they run in parallel (as many at once as
# the runtime has task slots). A model with unusable data exits SKIPPED with a reason; a model that
# fails fails only its own task, and the run's result names it.
# Generated from the model specs (healthmon.ml.models): edit the specs, then run
# `{command}`.

resources:
  jobs:
    ml_training_pipeline_job:
      name: "[${{bundle.target}}] Health Monitor - ML Training Pipeline"
      description: "Trains all {count} ML models using Feature Engineering"
      timeout_seconds: 14400

      environments:
        - environment_key: default
          spec:
            environment_version: "4"
            dependencies:
              # The healthmon library itself: on a real workspace, its wheel (see
              # docs/deploying-to-databricks.md); locally it is already installed.
              - ${{var.healthmon_wheel}}
              - "mlflow>=3.0"
              - "scikit-learn>=1.3.0"
              - "xgboost-cpu>=2.0.0"
              - "pandas>=2.0.0"
              - "numpy>=1.24.0"

      tasks:
'''

JOB_TASK = '''        - task_key: {task_key}
          environment_key: default
          timeout_seconds: 3600
          notebook_task:
            notebook_path: ../../{notebook}
            base_parameters:
              catalog: ${{var.catalog}}
              gold_schema: ${{var.gold_schema}}
              feature_schema: ${{var.feature_schema}}
'''

JOB_FOOTER = '''
      email_notifications:
        on_failure:
          - ml-team@company.com
          - on-call@company.com

      tags:
        job_level: atomic
        domain: ml
        layer: training
        project: health_monitor
'''


def notebook_path(spec: ModelSpec) -> Path:
    return NOTEBOOK_DIR / f"{spec.notebook}.py"


def notebook_text(spec: ModelSpec) -> str:
    return NOTEBOOK.format(name=spec.name, domain_title=spec.domain.capitalize(), command=COMMAND)


def training_job_text(models: Mapping[str, ModelSpec]) -> str:
    """The training job: one task per model, grouped by domain (in ``DOMAINS`` order, then any
    other domain), each running the model's notebook."""
    domains = [*DOMAINS, *sorted({s.domain for s in models.values()} - set(DOMAINS))]
    blocks = []
    for domain in domains:
        specs = [s for s in models.values() if s.domain == domain]
        if not specs:
            continue
        tasks = "\n".join(JOB_TASK.format(task_key=s.task_key, notebook=notebook_path(s).as_posix()) for s in specs)
        blocks.append(f"        # {domain.upper()} ({len(specs)} model{'s' if len(specs) != 1 else ''})\n{tasks}")
    return JOB_HEADER.format(count=len(models), command=COMMAND) + "\n".join(blocks) + JOB_FOOTER


def expected_files(models: Mapping[str, ModelSpec]) -> dict[Path, str]:
    """Relative path -> content of every generated file."""
    files = {notebook_path(s): notebook_text(s) for s in models.values()}
    files[TRAINING_JOB] = training_job_text(models)
    return files


def stale_notebooks(root: Path, models: Mapping[str, ModelSpec]) -> list[Path]:
    """Training notebooks under ``src/ml/<domain>/`` that no spec produces any more."""
    wanted = {notebook_path(s) for s in models.values()}
    found = {p.relative_to(root) for p in (root / NOTEBOOK_DIR).glob("*/train_*.py")}
    return sorted(found - wanted)


def drift(root: Path, models: Mapping[str, ModelSpec]) -> list[str]:
    """What differs between the files under ``root`` and what ``models`` produce."""
    out = []
    for rel, text in expected_files(models).items():
        path = root / rel
        if not path.exists():
            out.append(f"{rel}: missing")
        elif path.read_text() != text:
            out.append(f"{rel}: differs from what the specs produce")
    out += [f"{rel}: no spec names this notebook" for rel in stale_notebooks(root, models)]
    return out


def write(root: Path, models: Mapping[str, ModelSpec]) -> list[Path]:
    """Writes every generated file that differs and removes stale notebooks; returns the paths changed."""
    changed = []
    for rel, text in expected_files(models).items():
        path = root / rel
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(rel)
    for rel in stale_notebooks(root, models):
        (root / rel).unlink()
        changed.append(rel)
    return changed


def main(argv: Iterable[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list drifted files and exit 1 instead of writing")
    parser.add_argument("--root", type=Path, default=REPO, help="repository root (default: %(default)s)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not (args.root / NOTEBOOK_DIR).is_dir():
        print(f"error: {args.root} has no {NOTEBOOK_DIR}/ (expected the repository root; pass --root)", file=sys.stderr)
        return 2
    if args.check:
        problems = drift(args.root, MODELS)
        for line in problems:
            print(line)
        if problems:
            print(f"{len(problems)} generated file(s) out of date: run `{COMMAND}`", file=sys.stderr)
        return 1 if problems else 0
    for rel in write(args.root, MODELS):
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
