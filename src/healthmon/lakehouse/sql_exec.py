"""Executing Spark SQL statements against a Lakehouse.

Queries go to the engine; statements that change the catalog or a table (CREATE/DROP
CATALOG|SCHEMA|TABLE, CTAS, INSERT, COMMENT ON, ALTER TABLE SET TBLPROPERTIES, USE) are
carried out here with the Lakehouse API, so they are Delta commits whatever the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from healthmon.errors import InvalidParameterError
from healthmon.lakehouse.paths import check_identifier
from healthmon.lakehouse.sql_confine import check_insert_target, check_managed_table
from healthmon.lakehouse.sql_translate import bind, parse, resolve_name

if TYPE_CHECKING:
    from healthmon.lakehouse.core import Lakehouse

_OK = pa.table({"result": pa.array([], pa.string())})


def _status(text: str) -> pa.Table:
    return pa.table({"result": [text]})


def execute(lh: "Lakehouse", query: str, dialect: str = "spark") -> pa.Table:
    result = _OK
    previous = getattr(lh, "_sql_dialect", "spark")
    lh._sql_dialect = dialect  # the engines transpile from this dialect
    try:
        for statement in _split_commands(query, dialect):
            result = _execute_one(lh, statement, dialect)
    finally:
        lh._sql_dialect = previous
    return result


def _split_commands(query: str, dialect: str):
    # CREATE CATALOG / SHOW ... are not in sqlglot's Spark grammar: handle them textually.
    yield from parse(query, dialect)


def run_query(lh: "Lakehouse", tree: exp.Expression) -> pa.Table:
    bound, refs = bind(tree, lh.default_catalog, lh.default_schema)
    return lh.engine.query(bound, refs, lh._load, source_dialect=getattr(lh, "_sql_dialect", "spark"))


def _name(lh: "Lakehouse", table: exp.Table) -> str:
    return str(resolve_name(table, lh.default_catalog, lh.default_schema))


def _schema_name(lh: "Lakehouse", table: exp.Table) -> str:
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    if len(parts) == 1 and lh.default_catalog:
        parts = [lh.default_catalog, parts[0]]
    if len(parts) != 2:
        raise InvalidParameterError(f"Invalid schema name {'.'.join(parts)!r}: expected catalog.schema.")
    return ".".join(parts)


def _comment_of(node: exp.Expression) -> str | None:
    props = node.args.get("properties")
    if props:
        for p in props.expressions:
            if isinstance(p, exp.SchemaCommentProperty):
                return p.this.name
    return None


def _tblproperties(node: exp.Expression) -> dict[str, str]:
    out = {}
    props = node.args.get("properties")
    if props:
        for p in props.expressions:
            if type(p) is exp.Property:  # TBLPROPERTIES entries, not USING / PARTITIONED BY / CLUSTER BY
                key = p.name if p.name else p.this.sql()
                out[key.strip("'\"`")] = p.args["value"].name if p.args.get("value") is not None else ""
    return out


def _execute_one(lh: "Lakehouse", stmt: exp.Expression, dialect: str) -> pa.Table:
    for node_type, handler in _HANDLERS:
        if isinstance(stmt, node_type):
            return handler(lh, stmt)
    raise InvalidParameterError(
        f"Unsupported SQL statement {type(stmt).__name__.upper()}: {stmt.sql(dialect)[:80]}",
        hint="supported: SELECT/WITH, CREATE/DROP CATALOG|SCHEMA|TABLE, CTAS, INSERT INTO|OVERWRITE, "
        "DESCRIBE [HISTORY], COMMENT ON, ALTER TABLE SET TBLPROPERTIES, SHOW CATALOGS|SCHEMAS|TABLES, USE",
    )


_CREATE_CATALOG = re.compile(r"^CATALOG\s+(IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?(?:\s+COMMENT\s+'([^']*)')?\s*$", re.I)
_SHOW = re.compile(r"^(CATALOGS|SCHEMAS|DATABASES|TABLES)(?:\s+(?:IN|FROM)\s+`?([\w.`]+)`?)?\s*$", re.I)
_DROP_CATALOG = re.compile(r"^CATALOG\s+(IF\s+EXISTS\s+)?`?(\w+)`?(\s+CASCADE)?\s*$", re.I)


def _command(lh: "Lakehouse", stmt: exp.Command) -> pa.Table:
    verb = str(stmt.this).upper()
    e = stmt.expression
    rest = e.name if isinstance(e, exp.Literal) else (e if isinstance(e, str) else (e.sql() if e else ""))
    rest = rest.strip().rstrip(";")
    if verb == "CREATE" and (m := _CREATE_CATALOG.match(rest)):
        lh.create_catalog(m.group(2), comment=m.group(3), if_not_exists=bool(m.group(1)))
        return _OK
    if verb == "DROP" and (m := _DROP_CATALOG.match(rest)):
        lh.drop_catalog(m.group(2), cascade=bool(m.group(3)), if_exists=bool(m.group(1)))
        return _OK
    if verb == "SHOW" and (m := _SHOW.match(rest)):
        what, where = m.group(1).upper(), (m.group(2) or "").replace("`", "")
        if what == "CATALOGS":
            return pa.table({"catalog": lh.list_catalogs()})
        if what in ("SCHEMAS", "DATABASES"):
            cat = where or lh.default_catalog
            if not cat:
                raise InvalidParameterError("SHOW SCHEMAS needs IN <catalog> (or USE CATALOG first).")
            return pa.table({"databaseName": lh.list_schemas(cat)})
        schema = where or (f"{lh.default_catalog}.{lh.default_schema}" if lh.default_schema else "")
        if schema.count(".") == 0 and lh.default_catalog and schema:
            schema = f"{lh.default_catalog}.{schema}"
        if not schema:
            raise InvalidParameterError("SHOW TABLES needs IN <catalog.schema> (or USE SCHEMA first).")
        names = lh.list_tables(schema)
        return pa.table({
            "database": [n.rsplit(".", 1)[0] for n in names],
            "tableName": [n.rsplit(".", 1)[1] for n in names],
            "isTemporary": [False] * len(names),
        })
    raise InvalidParameterError(f"Unsupported SQL statement: {verb} {rest[:80]}")


def _use(lh: "Lakehouse", stmt: exp.Use) -> pa.Table:
    kind_node = stmt.args.get("kind")
    kind = (kind_node.name if kind_node else "").upper()
    t = stmt.this
    parts = [p for p in (t.catalog, t.db, t.name) if p]
    if kind == "CATALOG":
        lh.default_catalog = check_identifier(parts[-1], "catalog name")
        lh.default_schema = None
    else:  # USE SCHEMA / USE DATABASE / USE x
        if len(parts) == 2:
            lh.default_catalog = check_identifier(parts[0], "catalog name")
        if not lh.default_catalog:
            raise InvalidParameterError("USE SCHEMA needs catalog.schema (or USE CATALOG first).")
        lh.default_schema = check_identifier(parts[-1], "schema name")
    return _OK


def _create(lh: "Lakehouse", stmt: exp.Create) -> pa.Table:
    kind = (stmt.args.get("kind") or "").upper()
    exists = bool(stmt.args.get("exists"))
    target = stmt.this
    if kind in ("SCHEMA", "DATABASE"):
        lh.create_schema(_schema_name(lh, target), comment=_comment_of(stmt), if_not_exists=exists)
        return _OK
    if kind != "TABLE":
        raise InvalidParameterError(f"CREATE {kind} is not supported (tables, schemas and catalogs are).")
    check_managed_table(stmt)
    schema_node = target if isinstance(target, exp.Schema) else None
    table = schema_node.this if schema_node else target
    name = _name(lh, table)
    replace = bool(stmt.args.get("replace"))
    if lh.table_exists(name) and not replace:
        if exists:
            return _OK
        raise InvalidParameterError(
            f"Table {name} already exists.", hint="use CREATE OR REPLACE TABLE or IF NOT EXISTS"
        )
    props = _tblproperties(stmt)
    pks = [c for c in props.pop("healthmon.primaryKeys", "").split(",") if c] or None
    tags = {k[len("healthmon.tag."):]: v for k, v in props.items() if k.startswith("healthmon.tag.")} or None
    comment = _comment_of(stmt)
    if stmt.expression is not None:  # CREATE TABLE ... AS SELECT
        data = run_query(lh, stmt.expression)
    else:
        data = _empty_from_columns(lh, schema_node)
    # CREATE OR REPLACE keeps the table's history (a new version), as Delta does.
    lh.write_table(name, data, mode="overwrite", primary_keys=pks, comment=comment, tags=tags)
    return _OK


def _empty_from_columns(lh: "Lakehouse", schema_node: exp.Schema | None) -> pa.Table:
    if schema_node is None or not schema_node.expressions:
        raise InvalidParameterError("CREATE TABLE needs column definitions or AS SELECT.")
    cols = []
    comments = {}
    for col in schema_node.expressions:
        if not isinstance(col, exp.ColumnDef):
            continue
        cols.append(exp.cast(exp.Null(), col.args["kind"]).as_(col.name))
        for c in col.args.get("constraints") or []:
            if isinstance(c.kind, exp.CommentColumnConstraint):
                comments[col.name] = c.kind.this.name
    empty = run_query(lh, exp.select(*cols).limit(0))
    from healthmon.lakehouse.arrow_utils import with_column_comments

    return with_column_comments(empty, comments)


def _drop(lh: "Lakehouse", stmt: exp.Drop) -> pa.Table:
    kind = (stmt.args.get("kind") or "").upper()
    exists = bool(stmt.args.get("exists"))
    cascade = bool(stmt.args.get("cascade"))
    targets = stmt.args.get("tables") or [stmt.this]
    if kind == "TABLE":
        for t in targets:
            lh.drop_table(_name(lh, t), if_exists=exists)
    elif kind in ("SCHEMA", "DATABASE"):
        for t in targets:
            lh.drop_schema(_schema_name(lh, t), cascade=cascade, if_exists=exists)
    else:
        raise InvalidParameterError(f"DROP {kind} is not supported.")
    return _OK


def _insert(lh: "Lakehouse", stmt: exp.Insert) -> pa.Table:
    check_insert_target(stmt)
    target = stmt.this
    columns = None
    if isinstance(target, exp.Schema):
        columns = [c.name for c in target.expressions]
        target = target.this
    name = _name(lh, target)
    source = stmt.expression
    if isinstance(source, exp.Values):
        source = source.copy()
        source.set("alias", exp.TableAlias(this=exp.to_identifier("v")))
        source = exp.select("*").from_(source)
    data = run_query(lh, source)
    if columns:
        if len(columns) != data.num_columns:
            raise InvalidParameterError(
                f"INSERT INTO {name}: {len(columns)} column(s) named but the query returns {data.num_columns}."
            )
        data = data.rename_columns(columns)
    elif lh.table_exists(name):
        # Spark inserts by position when no column list is given.
        names = lh.delta_table(name).schema().to_arrow().names
        if len(names) != data.num_columns:
            raise InvalidParameterError(
                f"INSERT INTO {name}: the table has {len(names)} column(s) ({', '.join(names)}) "
                f"but the query returns {data.num_columns}."
            )
        data = data.rename_columns(list(names))
    mode = "overwrite" if stmt.args.get("overwrite") else "append"
    if mode == "overwrite" and lh.table_exists(name):
        from healthmon.lakehouse.arrow_utils import conform, to_arrow

        data = conform(to_arrow(data), pa.schema(lh.delta_table(name).schema().to_arrow()), name)
    version = lh.write_table(name, data, mode=mode)
    return pa.table({"num_affected_rows": [data.num_rows], "version": [version]})


def _describe(lh: "Lakehouse", stmt: exp.Describe) -> pa.Table:
    style = (stmt.args.get("style") or "")
    style = style.upper() if isinstance(style, str) else str(style).upper()
    name = _name(lh, stmt.this)
    if style == "HISTORY":
        return history_table(lh.history(name))
    d = lh.describe_table(name)
    return pa.table({
        "col_name": [c["name"] for c in d["columns"]],
        "data_type": [c["type"] for c in d["columns"]],
        "comment": [c["comment"] for c in d["columns"]],
    })


def history_table(history: list[dict]) -> pa.Table:
    import json

    rows: dict[str, list] = {
        "version": [],
        "timestamp": [],
        "operation": [],
        "operationParameters": [],
        "operationMetrics": [],
    }
    for h in history:
        rows["version"].append(h.get("version"))
        ts = h.get("timestamp")
        rows["timestamp"].append(pa.scalar(ts, pa.timestamp("ms", "UTC")).as_py() if ts is not None else None)
        rows["operation"].append(h.get("operation"))
        rows["operationParameters"].append(json.dumps(h.get("operationParameters") or {}, default=str))
        rows["operationMetrics"].append(json.dumps(h.get("operationMetrics") or {}, default=str))
    return pa.table(rows, schema=pa.schema([
        ("version", pa.int64()), ("timestamp", pa.timestamp("ms", "UTC")), ("operation", pa.string()),
        ("operationParameters", pa.string()), ("operationMetrics", pa.string()),
    ]))


def _comment(lh: "Lakehouse", stmt: exp.Comment) -> pa.Table:
    kind = (stmt.args.get("kind") or "").upper()
    text = stmt.expression.name
    if kind == "TABLE":
        lh.set_table_comment(_name(lh, stmt.this), text)
    elif kind == "COLUMN":
        col = stmt.this
        table = exp.Table(this=exp.to_identifier(col.table), db=exp.to_identifier(col.db) if col.db else None,
                          catalog=exp.to_identifier(col.catalog) if col.catalog else None)
        lh.set_column_comment(_name(lh, table), col.name, text)
    elif kind in ("SCHEMA", "DATABASE"):
        lh.create_schema(_schema_name(lh, stmt.this), comment=text)
    else:
        raise InvalidParameterError(f"COMMENT ON {kind} is not supported.")
    return _OK


def _alter(lh: "Lakehouse", stmt: exp.Alter) -> pa.Table:
    name = _name(lh, stmt.this)
    for action in stmt.args.get("actions") or []:
        if isinstance(action, exp.AlterSet) and action.args.get("expressions"):
            props = {}
            for p in action.expressions:
                for q in (p.expressions if isinstance(p, exp.Properties) else [p]):
                    if isinstance(q, exp.Property):
                        props[q.name.strip("'\"`")] = q.args["value"].name
            pks = props.pop("healthmon.primaryKeys", None)
            tags = {k[len("healthmon.tag."):]: v for k, v in props.items() if k.startswith("healthmon.tag.")}
            if pks:
                lh.set_primary_keys(name, pks.split(","))
            if tags:
                lh.set_tags(name, tags)
            other = {k: v for k, v in props.items() if not k.startswith("healthmon.tag.")}
            if other:
                lh.delta_table(name).alter.set_table_properties(other, raise_if_not_exists=False)
        else:
            raise InvalidParameterError(
                f"ALTER TABLE {action.sql('spark')[:60]} is not supported (SET TBLPROPERTIES is)."
            )
    return _OK


# Statement type -> handler, checked in order (exp.Query covers SELECT, WITH and set operations).
_HANDLERS: tuple[tuple[type[exp.Expr], Callable[..., pa.Table]], ...] = (
    (exp.Query, run_query),
    (exp.Command, _command),
    (exp.Use, _use),
    (exp.Create, _create),
    (exp.Drop, _drop),
    (exp.Insert, _insert),
    (exp.Describe, _describe),
    (exp.Comment, _comment),
    (exp.Alter, _alter),
)
