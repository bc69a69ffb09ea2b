"""Spark SQL → engine SQL: find the three-level table references, bind them to engine-local
view names, and transpile the rest with sqlglot.

Pure functions over sqlglot trees; the engines decide how a bound reference becomes data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from healthmon.errors import InvalidParameterError, NotFoundError
from healthmon.lakehouse.paths import TableName, check_identifier


@dataclass(frozen=True)
class TableRef:
    """A table read by a query: which table, at which version/timestamp, bound to which view."""

    name: TableName
    version: int | None = None
    timestamp: str | None = None

    @property
    def view(self) -> str:
        suffix = f"__v{self.version}" if self.version is not None else ""
        if self.timestamp is not None:
            suffix = "__ts" + "".join(c if c.isalnum() else "_" for c in self.timestamp)
        return f"__hm__{self.name.catalog}__{self.name.schema}__{self.name.table}{suffix}"


def parse(query: str, dialect: str = "spark") -> list[exp.Expression]:
    # sqlglot warns when it falls back to a generic Command (CREATE CATALOG, SHOW ...): we handle those.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if isinstance(s, exp.Expression)]
    except ParseError as exc:
        errors = getattr(exc, "errors", None) or []
        where = ""
        if errors:
            e = errors[0]
            where = f" at line {e.get('line')}, column {e.get('col')}"
        raise InvalidParameterError(f"Could not parse SQL{where}: {str(exc).splitlines()[0]}") from None
    except TokenError:
        raise InvalidParameterError(f"Could not parse SQL: {_unterminated(query)}") from None
    if not statements:
        raise InvalidParameterError("Empty SQL statement.")
    return statements


_CLOSERS = {"'": "'", '"': '"', "`": "`", "/*": "*/"}
_WHAT = {"'": "string literal", '"': "quoted string", "`": "quoted identifier", "/*": "comment"}


def _unterminated(query: str) -> str:
    """Where the quote or comment that the tokenizer could not close starts (line:column)."""
    i, n = 0, len(query)
    while i < n:
        two = query[i:i + 2]
        if two == "--":
            end = query.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        opener = "/*" if two == "/*" else query[i] if query[i] in "'\"`" else None
        if opener is None:
            i += 1
            continue
        closer = _CLOSERS[opener]
        j = i + len(opener)
        while j < n:
            if opener in ("'", '"') and query[j] == "\\":
                j += 2  # Spark strings take backslash escapes
                continue
            if query.startswith(closer, j):
                if opener != "/*" and query.startswith(closer * 2, j):
                    j += 2  # a doubled quote stands for itself
                    continue
                break
            j += 1
        if j >= n:
            line = query.count("\n", 0, i) + 1
            col = i - (query.rfind("\n", 0, i) + 1) + 1
            return f"unterminated {_WHAT[opener]} at line {line}, column {col} (expected a closing {closer})"
        i = j + len(closer)
    return "the statement could not be split into tokens (check quotes and comments)"


def _cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def resolve_name(
    table: exp.Table, default_catalog: str | None = None, default_schema: str | None = None
) -> TableName:
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    if len(parts) == 3:
        cat, sch, tbl = parts
    elif len(parts) == 2 and default_catalog:
        cat, (sch, tbl) = default_catalog, parts
    elif len(parts) == 1 and default_catalog and default_schema:
        cat, sch, tbl = default_catalog, default_schema, parts[0]
    else:
        raise NotFoundError(
            f"Table {'.'.join(parts)} is not a three-level name (catalog.schema.table) and no "
            "default catalog/schema is set (USE CATALOG / USE SCHEMA)."
        )
    return TableName(
        check_identifier(cat, "catalog name"), check_identifier(sch, "schema name"), check_identifier(tbl, "table name")
    )


def _version_of(table: exp.Table) -> tuple[int | None, str | None]:
    v = table.args.get("version")
    if not v:
        return None, None
    kind = str(v.this).upper()
    value = v.expression
    if kind == "VERSION":
        try:
            return int(value.name), None
        except (TypeError, ValueError):
            raise InvalidParameterError(f"VERSION AS OF expects an integer, got {value.sql()}") from None
    return None, value.name if isinstance(value, exp.Literal) else value.sql()


def table_nodes(tree: exp.Expression) -> list[exp.Table]:
    """Table references that are data sources (not CTE names, not table functions)."""
    ctes = _cte_names(tree)
    out = []
    for t in tree.find_all(exp.Table):
        if not isinstance(t.this, exp.Identifier):
            continue
        if not t.db and not t.catalog and t.name.lower() in ctes:
            continue
        out.append(t)
    return out


def bind(
    tree: exp.Expression, default_catalog: str | None = None, default_schema: str | None = None
) -> tuple[exp.Expression, list[TableRef]]:
    """Copy of ``tree`` with every lakehouse table replaced by its view name (keeping the
    name the query uses as the alias), and the references found."""
    tree = tree.copy()
    refs: dict[str, TableRef] = {}
    for t in table_nodes(tree):
        name = resolve_name(t, default_catalog, default_schema)
        version, ts = _version_of(t)
        ref = TableRef(name, version, ts)
        refs[ref.view] = ref
        alias = t.alias or t.name
        new = exp.Table(this=exp.to_identifier(ref.view, quoted=True))
        new.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        t.replace(new)
    return tree, list(refs.values())


def _spark_semantics_for_duckdb(node: exp.Expression) -> exp.Expression:
    # sqlglot maps the names but not the numbering: Spark dayofweek is 1=Sunday..7=Saturday and
    # weekday is 0=Monday..6=Sunday; DuckDB's dayofweek/weekday are 0=Sunday..6=Saturday.
    if isinstance(node, exp.DayOfWeek) and not node.meta.get("hm_fixed"):
        node.meta["hm_fixed"] = True
        return exp.Paren(this=exp.Add(this=node, expression=exp.Literal.number(1)))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "weekday" and len(node.expressions) == 1:
        isodow = exp.Anonymous(this="isodow", expressions=[exp.cast(node.expressions[0], "date")])
        return exp.Paren(this=exp.Sub(this=isodow, expression=exp.Literal.number(1)))
    if (isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous)
            and node.this.name.lower() == "range" and 1 <= len(node.this.expressions) <= 4):
        # Spark's range() names its column `id`; DuckDB's names it `range` and has no
        # numPartitions (a fourth argument that only shapes Spark's partitioning).
        args = node.this.expressions[:3]
        inner = exp.select(exp.alias_(exp.column("range"), "id")).from_(
            exp.Table(this=exp.Anonymous(this="range", expressions=[a.copy() for a in args])))
        return exp.Subquery(this=inner, alias=node.args.get("alias") or exp.TableAlias(this=exp.to_identifier("range")))
    return node


def to_dialect(tree: exp.Expression, dialect: str, source: str = "spark") -> str:
    if source == "spark" and dialect == "duckdb":
        tree = tree.copy().transform(_spark_semantics_for_duckdb)
    return tree.sql(dialect=dialect)
