"""The contract's Lakehouse API: schemas, writes (append/overwrite/merge), metadata, reads,
time travel, listing and Spark SQL over DuckDB."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from healthmon.errors import HealthmonError, InvalidParameterError, NotFoundError
from healthmon.lakehouse import Lakehouse
from healthmon.lakehouse.paths import TableName
from healthmon.settings import Settings


@pytest.fixture
def lh() -> Lakehouse:
    return Lakehouse.from_env()


def test_from_env_uses_workspace_lakehouse_root(lh, healthmon_home):
    assert lh.root == Settings.from_env().lakehouse_root
    assert str(lh.root).startswith(str(healthmon_home))


def test_create_schema_creates_catalog_and_lists(lh):
    lh.create_schema("cat.sch", comment="bronze data")
    assert "cat" in lh.list_catalogs()
    assert lh.list_schemas("cat") == ["sch"]
    assert lh.list_tables("cat.sch") == []
    assert lh.catalog.schema_comment("cat.sch") == "bronze data"


def test_write_read_roundtrip_and_versions(lh):
    df = pd.DataFrame({"id": [1, 2, 3], "cost": [1.5, 2.5, 3.5], "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
    v0 = lh.write_table("c.s.usage", df, primary_keys=["id"], comment="daily usage")
    got = lh.read_table("c.s.usage").to_pandas().sort_values("id").reset_index(drop=True)
    assert got["id"].tolist() == [1, 2, 3]
    assert got["cost"].tolist() == [1.5, 2.5, 3.5]
    assert str(got["ts"].iloc[0].date()) == "2024-01-01"
    v1 = lh.write_table("c.s.usage", pd.DataFrame({"id": [4], "cost": [9.0], "ts": pd.to_datetime(["2024-01-04"])}))
    assert v1 == v0 + 1
    assert lh.read_table("c.s.usage").num_rows == 4
    assert lh.read_table("c.s.usage", version=v0).num_rows == 3
    assert lh.table_exists("c.s.usage") and not lh.table_exists("c.s.nope")
    assert lh.list_tables("c.s") == ["c.s.usage"]


def test_metadata_lives_in_the_delta_log(lh):
    data = pa.table({"workspace_id": ["w1", "w2"], "day": ["2024-01-01", "2024-01-01"], "dbus": [1.0, 2.0]})
    lh.write_table(
        "c.s.t", data, primary_keys=["workspace_id", "day"], comment="per day",
        tags={"domain": "cost"}, column_comments={"dbus": "DBUs consumed"},
    )
    dt = DeltaTable(str(TableName.parse("c.s.t").path(lh.root)))
    md = dt.metadata()
    assert md.description == "per day"
    assert md.configuration["healthmon.primaryKeys"] == "workspace_id,day"
    assert md.configuration["healthmon.tag.domain"] == "cost"
    field = next(f for f in dt.schema().fields if f.name == "dbus")
    assert field.metadata["comment"] == "DBUs consumed"
    d = lh.describe_table("c.s.t")
    assert d["primary_keys"] == ["workspace_id", "day"]
    assert d["tags"] == {"domain": "cost"}
    assert {c["name"]: c["comment"] for c in d["columns"]}["dbus"] == "DBUs consumed"


def test_plain_deltalake_table_is_visible(lh):
    path = TableName.parse("ext.raw.events").path(lh.root)
    path.parent.mkdir(parents=True)
    write_deltalake(str(path), pa.table({"a": [1, 2]}))
    assert lh.table_exists("ext.raw.events")
    assert lh.list_tables("ext.raw") == ["ext.raw.events"]
    assert lh.sql("SELECT sum(a) AS s FROM ext.raw.events").column("s").to_pylist() == [3]


def test_overwrite_replaces_rows_and_may_change_schema(lh):
    lh.write_table("c.s.t", pa.table({"a": [1, 2, 3]}))
    lh.write_table("c.s.t", pa.table({"a": [7]}), mode="overwrite")
    assert lh.read_table("c.s.t").column("a").to_pylist() == [7]
    lh.write_table("c.s.t", pa.table({"b": ["x"]}), mode="overwrite")
    assert lh.read_table("c.s.t").column_names == ["b"]


def test_merge_upserts_by_primary_key(lh):
    lh.write_table("c.s.f", pd.DataFrame({"k": [1, 2, 3], "v": [10, 20, 30]}), primary_keys=["k"])
    lh.write_table("c.s.f", pd.DataFrame({"k": [3, 4], "v": [300, 400]}), mode="merge")
    got = dict(zip(*lh.read_table("c.s.f").to_pydict().values()))
    assert got == {1: 10, 2: 20, 3: 300, 4: 400}


def test_merge_creates_table_when_missing(lh):
    lh.write_table("c.s.new", pd.DataFrame({"k": [1], "v": [1]}), mode="merge", primary_keys="k")
    assert lh.describe_table("c.s.new")["primary_keys"] == ["k"]


def test_merge_without_primary_keys_is_rejected(lh):
    lh.write_table("c.s.nokeys", pd.DataFrame({"k": [1]}))
    with pytest.raises(InvalidParameterError, match="primary keys"):
        lh.write_table("c.s.nokeys", pd.DataFrame({"k": [2]}), mode="merge")


def test_sql_spark_dialect_with_three_level_names(lh):
    lh.write_table("c.s.u", pd.DataFrame({"ws": ["a", "a", "b"], "d": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02"]), "x": [1.0, 2.0, 4.0]}))
    out = lh.sql(
        "SELECT ws, date_format(d, 'yyyy-MM') AS month, sum(x) AS total, count(*) AS n "
        "FROM c.s.u GROUP BY ws, date_format(d, 'yyyy-MM') ORDER BY ws"
    ).to_pylist()
    assert out == [{"ws": "a", "month": "2024-01", "total": 3.0, "n": 2}, {"ws": "b", "month": "2024-01", "total": 4.0, "n": 1}]


def test_sql_joins_ctes_and_table_qualifiers(lh):
    lh.write_table("c.s.a", pa.table({"id": [1, 2], "x": [10, 20]}))
    lh.write_table("c.t.b", pa.table({"id": [2, 3], "y": [200, 300]}))
    out = lh.sql(
        "WITH j AS (SELECT a.id, a.x, b.y FROM c.s.a JOIN c.t.b ON a.id = b.id) "
        "SELECT j.id, x + y AS s FROM j"
    ).to_pylist()
    assert out == [{"id": 2, "s": 220}]


def test_sql_version_as_of(lh):
    lh.write_table("c.s.v", pa.table({"a": [1]}))
    lh.write_table("c.s.v", pa.table({"a": [2]}))
    v_first = lh.history("c.s.v")[-1]["version"]
    counts = {v: lh.sql(f"SELECT count(*) AS n FROM c.s.v VERSION AS OF {v}").column("n")[0].as_py()
              for v in range(v_first, lh.delta_table("c.s.v").version() + 1)}
    assert counts[max(counts)] == 2 and 1 in counts.values()
    with pytest.raises(NotFoundError, match="no version 99"):
        lh.sql("SELECT * FROM c.s.v VERSION AS OF 99")


def test_sql_errors_are_healthmon_errors(lh):
    lh.write_table("c.s.known", pa.table({"a": [1]}))
    with pytest.raises(NotFoundError, match=r"c\.s\.knwn does not exist.*c\.s\.known"):
        lh.sql("SELECT * FROM c.s.knwn")
    with pytest.raises(HealthmonError, match="nope"):
        lh.sql("SELECT nope FROM c.s.known")
    with pytest.raises(HealthmonError):
        lh.sql("SELEC 1 FROM")


def test_sql_in_duckdb_dialect_keeps_duckdb_semantics(lh):
    # DuckDB's dayofweek is 0=Sunday; the Spark-semantics fix must not apply to DuckDB input.
    out = lh.sql("SELECT dayofweek(DATE '2024-01-07') AS d", dialect="duckdb").column("d").to_pylist()
    assert out == [0]
    assert lh.sql("SELECT dayofweek(DATE '2024-01-07') AS d").column("d").to_pylist() == [1]


def test_spark_range_names_its_column_id(lh):
    # Spark SQL's range(start, end, step, numPartitions) yields one BIGINT column named `id`.
    assert lh.sql("SELECT id FROM range(3)").column("id").to_pylist() == [0, 1, 2]
    assert lh.sql("SELECT * FROM range(3)").column_names == ["id"]
    assert lh.sql("SELECT r.id FROM range(1, 10, 4) AS r").column("id").to_pylist() == [1, 5, 9]
    assert lh.sql("SELECT sum(id) AS s FROM range(0, 10, 1, 4)").column("s").to_pylist() == [45]
    # DuckDB input keeps DuckDB's own range()
    assert lh.sql("SELECT * FROM range(2)", dialect="duckdb").column_names == ["range"]
