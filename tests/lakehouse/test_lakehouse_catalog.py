"""Catalog features: namespaces, comments, tags, PK constraints, history, time travel, SQL DDL,
and rejection of bad input."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from healthmon.errors import InvalidParameterError, NotFoundError
from healthmon.lakehouse import Lakehouse


@pytest.fixture
def lh() -> Lakehouse:
    return Lakehouse.from_env()


def test_drop_schema_and_catalog_need_cascade_when_not_empty(lh):
    lh.write_table("c.s.t", pa.table({"a": [1]}))
    with pytest.raises(InvalidParameterError, match="not empty"):
        lh.drop_schema("c.s")
    with pytest.raises(InvalidParameterError, match="not empty"):
        lh.drop_catalog("c")
    lh.drop_schema("c.s", cascade=True)
    assert lh.list_schemas("c") == []
    lh.drop_catalog("c")
    assert "c" not in lh.list_catalogs()
    with pytest.raises(NotFoundError):
        lh.drop_catalog("c")
    lh.drop_catalog("c", if_exists=True)


def test_drop_table(lh):
    lh.write_table("c.s.t", pa.table({"a": [1]}))
    lh.drop_table("c.s.t")
    assert not lh.table_exists("c.s.t")
    with pytest.raises(NotFoundError):
        lh.drop_table("c.s.t")


def test_comments_tags_and_primary_keys_are_new_versions(lh):
    v = lh.write_table("c.s.t", pa.table({"k": [1, 2], "v": ["a", "b"]}))
    v1 = lh.set_table_comment("c.s.t", "hello")
    v2 = lh.set_column_comment("c.s.t", "v", "a value")
    v3 = lh.set_tags("c.s.t", {"owner": "ml"})
    v4 = lh.set_primary_keys("c.s.t", ["k"])
    assert [v1, v2, v3, v4] == [v + 1, v + 2, v + 3, v + 4]
    d = lh.describe_table("c.s.t")
    assert (d["comment"], d["tags"], d["primary_keys"]) == ("hello", {"owner": "ml"}, ["k"])
    assert [c["comment"] for c in d["columns"]] == [None, "a value"]
    ops = [h["operation"] for h in lh.history("c.s.t")]
    assert len(ops) == v4 + 1 and ops[-1] == "CREATE TABLE"


def test_primary_key_constraint_checked_against_existing_rows(lh):
    lh.write_table("c.s.t", pa.table({"k": [1, 1, 2]}))
    with pytest.raises(InvalidParameterError, match="1 key"):
        lh.set_primary_keys("c.s.t", ["k"])
    with pytest.raises(InvalidParameterError, match="Unknown column"):
        lh.set_column_comment("c.s.t", "zzz", "x")


def test_history_and_time_travel_by_version_and_timestamp(lh):
    lh.write_table("c.s.t", pa.table({"a": [1]}))
    lh.write_table("c.s.t", pa.table({"a": [2]}))
    lh.write_table("c.s.t", pa.table({"a": [3]}), mode="overwrite")
    hist = lh.history("c.s.t")
    assert [h["version"] for h in hist] == sorted((h["version"] for h in hist), reverse=True)
    latest = hist[0]["version"]
    assert lh.read_table("c.s.t").column("a").to_pylist() == [3]
    assert sorted(lh.read_table("c.s.t", version=latest - 1).column("a").to_pylist()) == [1, 2]
    hist_sql = lh.sql("DESCRIBE HISTORY c.s.t")
    assert hist_sql.column("version").to_pylist() == [h["version"] for h in hist]
    assert hist_sql.column("operation").to_pylist()[0] == "WRITE"


def test_timestamp_as_of(lh):
    import time

    lh.write_table("c.s.ts", pa.table({"a": [1]}))
    time.sleep(0.05)
    first = lh.history("c.s.ts")[0]["timestamp"]  # ms since epoch
    time.sleep(1.1)
    lh.write_table("c.s.ts", pa.table({"a": [2]}))
    import datetime as dt

    at = dt.datetime.fromtimestamp(first / 1000 + 0.5, dt.timezone.utc).isoformat()
    assert lh.sql(f"SELECT count(*) AS n FROM c.s.ts TIMESTAMP AS OF '{at}'").column("n").to_pylist() == [1]
    assert lh.sql("SELECT count(*) AS n FROM c.s.ts").column("n").to_pylist() == [2]
    with pytest.raises(InvalidParameterError, match="Invalid timestamp"):
        lh.sql("SELECT * FROM c.s.ts TIMESTAMP AS OF 'yesterday'")


def test_sql_ddl_round_trip(lh):
    lh.sql("CREATE CATALOG IF NOT EXISTS ml")
    lh.sql("CREATE SCHEMA IF NOT EXISTS ml.features COMMENT 'feature tables'")
    lh.sql("CREATE TABLE ml.features.f (k BIGINT COMMENT 'key', v DOUBLE) COMMENT 'f' "
           "TBLPROPERTIES ('healthmon.primaryKeys'='k', 'healthmon.tag.team'='ml')")
    lh.sql("INSERT INTO ml.features.f VALUES (1, 1.5), (2, 2.5)")
    lh.sql("CREATE OR REPLACE TABLE ml.features.g AS SELECT k, v * 2 AS w FROM ml.features.f")
    assert lh.sql("SHOW CATALOGS").column("catalog").to_pylist() == ["ml"]
    assert lh.sql("SHOW TABLES IN ml.features").column("tableName").to_pylist() == ["f", "g"]
    d = lh.describe_table("ml.features.f")
    assert (d["comment"], d["primary_keys"], d["tags"]) == ("f", ["k"], {"team": "ml"})
    assert d["columns"][0]["comment"] == "key"
    assert lh.sql("SELECT sum(w) AS s FROM ml.features.g").column("s").to_pylist() == [8.0]
    lh.sql("COMMENT ON TABLE ml.features.g IS 'doubled'")
    assert lh.describe_table("ml.features.g")["comment"] == "doubled"
    lh.sql("USE CATALOG ml; USE SCHEMA features")
    assert lh.sql("SELECT count(*) AS n FROM f").column("n").to_pylist() == [2]
    lh.sql("DROP TABLE ml.features.g")
    assert not lh.table_exists("ml.features.g")
    with pytest.raises(InvalidParameterError, match="Duplicate primary keys"):
        lh.sql("INSERT INTO ml.features.f VALUES (3, 1.0), (3, 2.0)")


# -- bad input -----------------------------------------------------------------------------

def test_unknown_table_names_close_matches(lh):
    lh.write_table("main.gold.fact_usage", pa.table({"a": [1]}))
    lh.write_table("main.gold.dim_job", pa.table({"a": [1]}))
    with pytest.raises(NotFoundError) as err:
        lh.read_table("main.gold.fact_usag")
    assert "main.gold.fact_usag does not exist" in str(err.value)
    assert "main.gold.fact_usage" in str(err.value)
    assert "dim_job" not in str(err.value)


def test_schema_mismatch_names_columns_and_writes_nothing(lh):
    v = lh.write_table("c.s.t", pd.DataFrame({"a": [1], "b": ["x"]}))
    with pytest.raises(InvalidParameterError) as err:
        lh.write_table("c.s.t", pd.DataFrame({"a": [2], "c": [1.0]}))
    assert "missing columns: b" in str(err.value) and "not in the table: c" in str(err.value)
    with pytest.raises(InvalidParameterError, match=r"b \(table: string, data: double\)"):
        lh.write_table("c.s.t", pd.DataFrame({"a": [2], "b": [1.0]}))
    assert lh.delta_table("c.s.t").version() == v
    assert lh.read_table("c.s.t").num_rows == 1


def test_compatible_types_are_cast_and_column_order_is_free(lh):
    lh.write_table("c.s.t", pa.table({"a": pa.array([1], pa.int64()), "b": ["x"]}))
    lh.write_table("c.s.t", pa.table({"b": ["y"], "a": pa.array([2], pa.int32())}))
    assert sorted(lh.read_table("c.s.t").column("a").to_pylist()) == [1, 2]


@pytest.mark.parametrize("mode", ["append", "overwrite", "merge"])
def test_duplicate_and_null_keys_rejected_with_counts(lh, mode):
    v = lh.write_table("c.s.t", pd.DataFrame({"k": [100], "v": [0]}), primary_keys=["k"])
    with pytest.raises(InvalidParameterError, match=r"2 key\(s\) appear more than once \(3 extra row"):
        lh.write_table("c.s.t", pd.DataFrame({"k": [1, 1, 2, 2, 2, 3], "v": range(6)}), mode=mode)
    with pytest.raises(InvalidParameterError, match=r"Null primary key values.*k: 2 row"):
        lh.write_table("c.s.t", pd.DataFrame({"k": pd.array([1, None, None], dtype="Int64"), "v": [1, 2, 3]}), mode=mode)
    assert lh.delta_table("c.s.t").version() == v


@pytest.mark.parametrize("name", ["c.s.t; DROP TABLE x", "c.s", "c.s.t.u", "c..t", "c.s.../etc", "1c.s.t", "c.s.t--", "c.`s`.t"])
def test_invalid_identifiers_rejected_everywhere(lh, name):
    with pytest.raises(InvalidParameterError):
        lh.write_table(name, pa.table({"a": [1]}))
    with pytest.raises(InvalidParameterError):
        lh.read_table(name)
    assert not any(lh.root.rglob("_delta_log")) if lh.root.exists() else True


def test_sql_rejects_identifiers_that_are_not_plain(lh):
    lh.write_table("c.s.t", pa.table({"a": [1]}))
    with pytest.raises(InvalidParameterError, match="Invalid table name"):
        lh.sql("SELECT * FROM c.s.`t/../../x`")


def test_bad_mode(lh):
    with pytest.raises(InvalidParameterError, match="Invalid write mode"):
        lh.write_table("c.s.t", pa.table({"a": [1]}), mode="upsert")
