"""healthmon.lakehouse: Unity-Catalog-style Delta tables with DuckDB and Spark engines.

``from healthmon.lakehouse import Lakehouse`` — exported lazily so that importing
``healthmon.lakehouse.paths`` (validation only) does not pull in pyarrow, deltalake and duckdb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Lakehouse"]

if TYPE_CHECKING:
    from healthmon.lakehouse.core import Lakehouse


def __getattr__(name: str):
    if name == "Lakehouse":
        from healthmon.lakehouse.core import Lakehouse

        return Lakehouse
    raise AttributeError(f"module 'healthmon.lakehouse' has no attribute {name!r}")
