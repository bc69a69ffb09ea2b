"""create_feature_tables end to end: feature store writes, skips, failure rule, idempotent re-runs."""

from __future__ import annotations

import importlib.util

import pyarrow as pa
import pytest
from mlf_gold import CATALOG, FEATURES, GOLD, day, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, create_feature_tables
from healthmon.ml.features.pipeline import FeatureBuildError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("healthmon.lakehouse.feature_store") is None, reason="feature store not there yet")


def _usage(days):
    return [{"record_id": f"r{ws}{n}", "workspace_id": ws, "usage_date": day(n), "usage_quantity": 10 + n % 3 + i,
             "list_cost": 2.0 * (n % 4 + 1), "sku_name": "JOBS_COMPUTE", "product_features_is_serverless": False}
            for i, ws in enumerate(("w1", "w2")) for n in days]


def _audit(days):
    return [{"event_id": f"e{n}-{h}", "user_identity_email": "a@x.com", "event_time": ts(day(n), h),
             "action_name": "getTable", "service_name": "unityCatalog", "source_ip_address": "1.1.1.1"}
            for n in days for h in range(n % 5 + 1)]


def _read_sorted(lh, name):
    table = lh.read_table(f"{CATALOG}.{FEATURES}.{name}")
    keys = list(FEATURE_TABLES[name].primary_keys)
    return table.sort_by([(k, "ascending") for k in keys])


def test_build_reports_each_table_and_rerun_is_idempotent():
    lh = Lakehouse.from_env()
    write_gold(lh, "fact_usage", _usage(range(12)))
    write_gold(lh, "fact_audit_logs", _audit(range(9)))
    write_gold(lh, "fact_query_history", [])  # exists but empty

    first = create_feature_tables(CATALOG, GOLD, FEATURES)
    t = first["tables"]
    assert first["status"] == "PARTIAL" and first["tables_built"] == 2 and first["tables_total"] == 5
    assert t["cost_features"]["status"] == "SUCCESS" and t["cost_features"]["rows"] == 24
    assert t["cost_features"]["action"] == "created" and t["security_features"]["rows"] == 9
    assert t["performance_features"] == {**t["performance_features"], "status": "SKIPPED"}
    assert "cat.gold.fact_query_history is empty" in t["performance_features"]["reason"]
    assert "cat.gold.fact_job_run_timeline does not exist" in t["reliability_features"]["reason"]
    assert "fact_table_snapshots does not exist" in t["quality_features"]["reason"]

    desc = lh.describe_table(f"{CATALOG}.{FEATURES}.cost_features")
    assert list(desc.get("primary_keys") or []) == ["workspace_id", "usage_date"]

    before = {n: _read_sorted(lh, n) for n in ("cost_features", "security_features")}
    second = create_feature_tables(CATALOG, GOLD, FEATURES)
    assert second["tables"]["cost_features"]["action"] == "merged"
    for name, table in before.items():
        assert _read_sorted(lh, name).equals(table), f"{name} changed on an identical re-run"


def test_new_gold_days_merge_into_the_existing_table():
    lh = Lakehouse.from_env()
    write_gold(lh, "fact_usage", _usage(range(8)))
    create_feature_tables(CATALOG, GOLD, FEATURES, tables=["cost_features"])
    write_gold(lh, "fact_usage", _usage(range(10)))
    out = create_feature_tables(CATALOG, GOLD, FEATURES, tables=["cost_features"])
    assert out["tables"]["cost_features"]["action"] == "merged"
    table = _read_sorted(lh, "cost_features").to_pylist()
    assert len(table) == 20  # 2 workspaces x 10 days, no duplicate keys after the merge
    w1 = [r for r in table if r["workspace_id"] == "w1"]
    assert w1[9]["daily_dbu_lag1"] == w1[8]["daily_dbu"]


def test_missing_columns_are_named_and_no_table_at_all_raises():
    lh = Lakehouse.from_env()
    lh.create_schema(f"{CATALOG}.{GOLD}")
    lh.write_table(f"{CATALOG}.{GOLD}.fact_usage", pa.table({"workspace_id": ["w"], "usage_date": [day(0)]}))
    with pytest.raises(FeatureBuildError) as err:
        create_feature_tables(CATALOG, GOLD, FEATURES)
    message = str(err.value)
    assert "No feature table could be built" in message
    assert "cost_features: source table cat.gold.fact_usage lacks columns usage_quantity, list_cost" in message
    assert "security_features: source table cat.gold.fact_audit_logs does not exist" in message


def test_bad_identifiers_and_unknown_tables_are_rejected():
    from healthmon.errors import HealthmonError

    with pytest.raises(HealthmonError, match="catalog"):
        create_feature_tables("x;drop", GOLD, FEATURES)
    with pytest.raises(HealthmonError, match="unknown feature table"):
        create_feature_tables(CATALOG, GOLD, FEATURES, tables=["nope"])
