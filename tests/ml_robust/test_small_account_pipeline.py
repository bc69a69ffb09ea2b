"""The bundle's ML pipeline on an account unlike the demo's: one workspace, 21 days, small
scale (development seed 13), run through the functions the notebooks call. Most models have
too little history; every one must end trained or skipped saying why, inference and evaluation
must run, and the report and ``healthmon evaluate`` must show the reason (never a traceback,
never a figure from a detector that flags every row)."""

from __future__ import annotations

import pytest

from healthmon.ml.models import MODELS

CAT, GOLD, FEAT = "edge", "gold", "ml"


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """One tiny account, trained and scored once for the module (its own workspace)."""
    home = tmp_path_factory.mktemp("edge_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEALTHMON_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
        mp.delenv("_MLFLOW_SERVER_ARTIFACT_ROOT", raising=False)
        from healthmon.demodata.generator import generate
        from healthmon.ml.features import create_feature_tables
        from healthmon.ml.inference import batch_inference_all_models
        from healthmon.ml.training import train_all

        generate(CAT, GOLD, seed=13, scale="small", workspaces=1, days=21)
        create_feature_tables(CAT, GOLD, FEAT)
        trained = train_all(catalog=CAT, gold_schema=GOLD, feature_schema=FEAT)
        scored = batch_inference_all_models(catalog=CAT, gold_schema=GOLD, feature_schema=FEAT)
        yield {"home": home, "trained": trained, "scored": scored}
        from healthmon.store import db

        db.forget_under(home)


@pytest.fixture
def in_account(account, monkeypatch):
    monkeypatch.setenv("HEALTHMON_HOME", str(account["home"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{account['home'] / 'mlflow' / 'mlflow.db'}")
    return account


def test_every_model_is_trained_or_skipped_saying_what_was_missing(in_account):
    trained = in_account["trained"]
    assert set(trained) == set(MODELS)
    failed = {n: r.get("error") for n, r in trained.items() if r["status"] not in ("SUCCESS", "SKIPPED")}
    assert not failed, failed
    skipped = {n: r for n, r in trained.items() if r["status"] == "SKIPPED"}
    assert len(skipped) >= 15  # 21 days hold ~12 training days: most models cannot learn
    for name, r in skipped.items():
        assert r["reason"].startswith("not enough data: "), (name, r["reason"])
        counts = r["not_enough_data"]
        assert counts["have"] < counts["need"], (name, counts)
    # One catalog, 4 validation days: the drift detector used to flag all 21 rows.
    drift = trained["data_drift_detector"]
    assert drift["status"] == "SKIPPED" and "catalog_name-days in the validation period" in drift["reason"]


def test_inference_scores_what_trained_and_names_why_the_rest_has_no_champion(in_account):
    trained, scored = in_account["trained"], in_account["scored"]
    assert scored["failed"] == 0
    assert scored["successful"] == sum(r["status"] == "SUCCESS" for r in trained.values())
    for name in scored["not_found_models"]:
        assert "training skipped: not enough data: " in scored["models"][name]["reason"], name


def test_evaluation_marks_skipped_models_na_with_the_reason(in_account, tmp_path):
    from healthmon.ml.evaluation import evaluate_all, verdict

    summary = evaluate_all(catalog=CAT, gold_schema=GOLD, feature_schema=FEAT, output=tmp_path / "evaluation.md")
    for name, r in in_account["trained"].items():
        result = summary["models"][name]
        if r["status"] == "SKIPPED":
            assert result["status"] == "NO_CHAMPION" and result.get("value") is None
            assert result["na"] == f"n/a (training skipped: {r['reason']})"
            assert result["note"].startswith("training skipped: not enough data: ")
        else:
            assert result["status"] == "EVALUATED", (name, result)
            assert result.get("value") is not None or verdict(result).startswith("n/a ("), (name, result)
    text = (tmp_path / "evaluation.md").read_text()
    assert "training skipped: not enough data: " in text


def test_the_evaluate_command_shows_the_reason(in_account, tmp_path):
    from typer.testing import CliRunner

    from healthmon.cli.main import app

    res = CliRunner().invoke(app, ["evaluate", "--catalog", CAT, "--gold-schema", GOLD, "--feature-schema", FEAT,
                                   "--output", str(tmp_path / "evaluation.md")], terminal_width=400)
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    assert "not enough data" in res.output


def test_the_report_says_which_model_was_not_trained_and_why(in_account):
    from healthmon.ml.report import build_report, render_html

    report = build_report(CAT, GOLD, FEAT)
    cost = next(s for s in report.sections if s.key == "cost_anomalies")
    assert cost.status == "missing"
    assert cost.message.startswith("No predictions: not trained on this account (cost_anomaly_detector: not enough")
    assert "Run the ML orchestrator" not in cost.message
    security = next(s for s in report.sections if s.key == "security")
    if security.status == "missing":  # four detectors, one table, one reason: said once
        assert security.message.count("not enough data") == 1, security.message
    quality = next(s for s in report.sections if s.key == "quality")
    assert "drift detector not trained (not enough data: " in quality.summary
    notes = [n.text() for s in report.sections for n in s.models if not n.present]
    assert notes and all(": not trained, not enough data: " in t for t in notes), notes
    page = render_html(report)
    badge = page.split("id=cost_anomalies", 1)[1].split("</h2>", 1)[0]
    assert ">not trained</span>" in badge and "no predictions yet" not in badge, badge


def test_the_alert_rules_of_untrained_models_are_skipped_saying_why(in_account, repo_root):
    from healthmon.ml.alerts import load_rules, run_alerts

    config = load_rules(repo_root / "src" / "ml" / "alerts" / "alert_rules.yml")
    run = run_alerts(config, catalog=CAT, gold_schema=GOLD, feature_schema=FEAT, send=False)
    skipped = {r.rule.name: r.skipped for r in run.results if r.skipped}
    assert "cost_excess" in skipped, skipped
    assert "cost_anomaly_detector not trained: not enough data: " in skipped["cost_excess"]
