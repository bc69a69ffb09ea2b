"""What confines the embedded SQL to the lakehouse, shared by the engines: the statement timeout
and the checks a query passes before the Spark engine runs it.

DuckDB confines itself (external access off, configuration locked: ``duckdb_engine``). Spark has
no such switch, so a Spark query is checked on its parsed tree after binding (every lakehouse
table already replaced by its snapshot view) and refused when it could reach beyond the
tables it names:

- a table that is not a bound lakehouse table or a CTE (``csv.`/etc/passwd```, a path, a
  table of Spark's own catalog);
- a table function other than the generators (``read_files(...)``; ``range``, ``explode``,
  ``stack``, ``inline``... stay);
- ``reflect`` / ``java_method`` / ``try_reflect`` (calls a JVM method of the caller's choice),
  ``IDENTIFIER(...)`` (a table name chosen at run time, after these checks), and
  ``SELECT TRANSFORM ... USING '<command>'`` (runs a host command).

The Spark session itself runs with ``spark.sql.runSQLOnFiles=false`` (``spark_engine``).
Statements other than queries (LOAD DATA, ADD JAR, CREATE TABLE ... LOCATION, INSERT OVERWRITE
DIRECTORY, SET) never reach an engine: ``sql_exec`` carries out or refuses each one itself.
"""

from __future__ import annotations

from sqlglot import exp

from healthmon.errors import HealthmonError, InvalidParameterError
from healthmon.settings import NUMERIC_SETTINGS, env_number

DEFAULT_TIMEOUT_S = NUMERIC_SETTINGS["HEALTHMON_SQL_TIMEOUT"].default

# Spark's table-valued generator functions: they compute rows, they read nothing.
SPARK_TABLE_FUNCTIONS = frozenset({
    "range", "explode", "explode_outer", "posexplode", "posexplode_outer", "inline", "inline_outer",
    "stack", "json_tuple", "variant_explode", "variant_explode_outer",
})
# Functions that reach outside the query's data: a JVM method call, or a table named at run time.
SPARK_REFUSED_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect", "identifier"})
BOUND_VIEW_PREFIX = "__hm__"  # sql_translate.TableRef.view


class SQLTimeoutError(HealthmonError):
    """A statement ran past the statement timeout and was interrupted."""


def timeout_from_env() -> float | None:
    """The statement timeout in seconds from ``HEALTHMON_SQL_TIMEOUT`` (None = no timeout)."""
    return env_number("HEALTHMON_SQL_TIMEOUT") or None


def timeout_error(seconds: float) -> SQLTimeoutError:
    return SQLTimeoutError(
        f"SQL statement cancelled: it ran longer than the statement timeout of {seconds:g} s",
        hint="raise it with HEALTHMON_SQL_TIMEOUT=<seconds> (0 = no timeout) or `healthmon sql --timeout`",
    )


def _refused(what: str, node: exp.Expr) -> InvalidParameterError:
    return InvalidParameterError(
        f"SQL refused: {what} ({node.sql('spark')[:120]}). The SQL is confined to the lakehouse's own tables "
        "(docs/lakehouse.md, Confinement).")


def _function_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def check_spark_query(tree: exp.Expression) -> None:
    """Raise ``InvalidParameterError`` when the bound query ``tree`` could read or run anything
    besides its lakehouse tables on the Spark engine (see the module docstring)."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if isinstance(node, exp.QueryTransform):
            raise _refused("TRANSFORM ... USING runs a host command", node)
        if isinstance(node, exp.Table):
            source = node.this
            if isinstance(source, exp.Func):
                name = _function_name(source)
                if name not in SPARK_TABLE_FUNCTIONS:
                    raise _refused(f"table function {name}() is not allowed; the generators "
                                   f"({', '.join(sorted(SPARK_TABLE_FUNCTIONS))}) are", node)
            elif isinstance(source, exp.Identifier):
                bound = source.name.startswith(BOUND_VIEW_PREFIX) and not node.db and not node.catalog
                cte = not node.db and not node.catalog and source.name.lower() in ctes
                if not (bound or cte):
                    raise _refused("not a lakehouse table (catalog.schema.table)", node)
        elif isinstance(node, exp.Func) and _function_name(node) in SPARK_REFUSED_FUNCTIONS:
            raise _refused(f"function {_function_name(node)}() reaches outside the query's data", node)


def check_managed_table(create: exp.Create) -> None:
    """Every table created through SQL is a managed Delta table of the lakehouse: refuse what
    would point it at host files (``LOCATION``, ``EXTERNAL``, ``OPTIONS (path ...)``) or another
    format (``USING csv``), on every engine."""
    props = create.args.get("properties")
    for prop in props.expressions if props else []:
        if isinstance(prop, (exp.LocationProperty, exp.ExternalProperty, exp.OptionsProperty)):
            raise _refused(f"{prop.sql('spark').split(' ', 1)[0].upper()} is not supported; every table is a "
                           "managed Delta table in the lakehouse", prop)
        if isinstance(prop, exp.FileFormatProperty) and prop.sql("spark").upper() != "USING DELTA":
            raise _refused("only Delta tables (USING DELTA) can be created", prop)


def check_insert_target(insert: exp.Insert) -> None:
    """``INSERT OVERWRITE [LOCAL] DIRECTORY`` writes host files: refused on every engine."""
    if isinstance(insert.this, exp.Directory):
        raise _refused("INSERT OVERWRITE DIRECTORY writes host files; insert into a lakehouse table", insert.this)
