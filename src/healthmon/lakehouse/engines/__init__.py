"""Query engines. An engine runs a bound query (see ``sql_translate.bind``) over Delta snapshots.

``duckdb`` (default, embedded) and ``spark`` (pyspark, the ``spark`` extra). Chosen with
``HEALTHMON_ENGINE`` or ``Lakehouse.from_env(engine=...)``.
"""

from __future__ import annotations

from healthmon.errors import InvalidParameterError

ENGINES = ("duckdb", "spark")


def get_engine(name: str, **options):
    name = (name or "duckdb").strip().lower()
    if name == "duckdb":
        from healthmon.lakehouse.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine(**options)
    if name == "spark":
        from healthmon.lakehouse.engines.spark_engine import SparkEngine

        return SparkEngine(**options)
    raise InvalidParameterError(f"Unknown engine {name!r} (HEALTHMON_ENGINE): expected one of {', '.join(ENGINES)}.")
