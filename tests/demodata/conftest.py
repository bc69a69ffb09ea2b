"""One small generated account per test session, read back from Delta (shared, read-only)."""

from __future__ import annotations

import pytest

GEN = dict(workspaces=3, days=60, seed=11, scale="small")


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    from deltalake import DeltaTable

    from healthmon.demodata import generate
    from healthmon.demodata.schemas import GOLD_TABLES
    from healthmon.lakehouse.paths import TableName

    home = tmp_path_factory.mktemp("demodata_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEALTHMON_HOME", str(home))
        rows = generate("demo", "gold", **GEN)
    root = home / "lakehouse"
    tables = {n: DeltaTable(str(TableName.parse(f"demo.gold.{n}").path(root))) for n in GOLD_TABLES}
    return {"gen": dict(GEN), "home": home, "root": root, "rows": rows, "delta": tables,
            "arrow": {n: t.to_pyarrow_table() for n, t in tables.items()}}
