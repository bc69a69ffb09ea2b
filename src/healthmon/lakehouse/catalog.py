"""Unity-Catalog-style namespace over a directory tree: catalogs and schemas are directories,
tables are Delta tables (``<root>/<catalog>/<schema>/<table>/_delta_log``).

Catalog and schema comments live in a small ``_properties.json`` beside their children (a name
that can never be an identifier, so it is never mistaken for a schema or table).
"""

from __future__ import annotations

import difflib
import json
import shutil
import uuid
from pathlib import Path

from healthmon.errors import InvalidParameterError, NotFoundError
from healthmon.lakehouse.paths import TableName, check_identifier

PROPS_FILE = "_properties.json"


def _is_ident(name: str) -> bool:
    try:
        check_identifier(name)
        return True
    except InvalidParameterError:
        return False


def parse_schema_name(name: str) -> tuple[str, str]:
    parts = name.split(".") if isinstance(name, str) else []
    if len(parts) != 2:
        raise InvalidParameterError(f"Invalid schema name {name!r}: expected catalog.schema.")
    return check_identifier(parts[0], "catalog name"), check_identifier(parts[1], "schema name")


class Catalog:
    def __init__(self, root: Path):
        self.root = Path(root)

    # -- catalogs -------------------------------------------------------------------------
    def list_catalogs(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _is_ident(p.name))

    def create_catalog(self, name: str, comment: str | None = None, if_not_exists: bool = True) -> None:
        cat = check_identifier(name, "catalog name")
        path = self.root / cat
        if path.is_dir() and not if_not_exists:
            raise InvalidParameterError(f"Catalog {cat} already exists.")
        path.mkdir(parents=True, exist_ok=True)
        if comment is not None or not (path / PROPS_FILE).exists():
            self._write_props(path, comment)

    def drop_catalog(self, name: str, cascade: bool = False, if_exists: bool = False) -> None:
        cat = check_identifier(name, "catalog name")
        path = self.root / cat
        if not path.is_dir():
            if if_exists:
                return
            raise self._not_found("Catalog", cat, self.list_catalogs())
        schemas = self.list_schemas(cat)
        if schemas and not cascade:
            raise InvalidParameterError(
                f"Catalog {cat} is not empty (schemas: {', '.join(schemas)}); use cascade=True to drop it."
            )
        shutil.rmtree(path)

    # -- schemas --------------------------------------------------------------------------
    def list_schemas(self, catalog: str) -> list[str]:
        cat = check_identifier(catalog, "catalog name")
        path = self.root / cat
        if not path.is_dir():
            raise self._not_found("Catalog", cat, self.list_catalogs())
        return sorted(p.name for p in path.iterdir() if p.is_dir() and _is_ident(p.name))

    def create_schema(self, name: str, comment: str | None = None, if_not_exists: bool = True) -> None:
        cat, sch = parse_schema_name(name)
        path = self.root / cat / sch
        if path.is_dir() and not if_not_exists:
            raise InvalidParameterError(f"Schema {cat}.{sch} already exists.")
        self.create_catalog(cat)
        path.mkdir(parents=True, exist_ok=True)
        if comment is not None or not (path / PROPS_FILE).exists():
            self._write_props(path, comment)

    def drop_schema(self, name: str, cascade: bool = False, if_exists: bool = False) -> None:
        cat, sch = parse_schema_name(name)
        path = self.root / cat / sch
        if not path.is_dir():
            if if_exists:
                return
            known = [f"{cat}.{s}" for s in self.list_schemas(cat)] if (self.root / cat).is_dir() else []
            raise self._not_found("Schema", f"{cat}.{sch}", known)
        tables = self.list_tables(f"{cat}.{sch}")
        if tables and not cascade:
            raise InvalidParameterError(
                f"Schema {cat}.{sch} is not empty ({len(tables)} table(s)); use cascade=True to drop it."
            )
        shutil.rmtree(path)

    def schema_comment(self, name: str) -> str | None:
        cat, sch = parse_schema_name(name)
        return self._read_props(self.root / cat / sch).get("comment")

    def catalog_comment(self, name: str) -> str | None:
        return self._read_props(self.root / check_identifier(name, "catalog name")).get("comment")

    # -- tables ---------------------------------------------------------------------------
    def list_tables(self, schema: str) -> list[str]:
        cat, sch = parse_schema_name(schema)
        path = self.root / cat / sch
        if not path.is_dir():
            known = []
            if (self.root / cat).is_dir():
                known = [f"{cat}.{s}" for s in self.list_schemas(cat)]
            raise self._not_found("Schema", f"{cat}.{sch}", known)
        return sorted(
            f"{cat}.{sch}.{p.name}"
            for p in path.iterdir()
            if _is_ident(p.name) and (p / "_delta_log").is_dir()
        )

    def all_tables(self) -> list[str]:
        out = []
        for cat in self.list_catalogs():
            for sch in self.list_schemas(cat):
                out += self.list_tables(f"{cat}.{sch}")
        return out

    def table_path(self, name: str | TableName) -> Path:
        tn = name if isinstance(name, TableName) else TableName.parse(name)
        return tn.path(self.root)

    def table_exists(self, name: str | TableName) -> bool:
        return (self.table_path(name) / "_delta_log").is_dir()

    def require_table(self, name: str | TableName) -> Path:
        """The table's path, or a NotFoundError naming it and close matches."""
        tn = name if isinstance(name, TableName) else TableName.parse(name)
        path = tn.path(self.root)
        if not (path / "_delta_log").is_dir():
            raise self._not_found("Table", str(tn), self.all_tables(), hint_code="TABLE_OR_VIEW_NOT_FOUND")
        return path

    def drop_table(self, name: str, if_exists: bool = False) -> None:
        tn = TableName.parse(name)
        path = tn.path(self.root)
        if not (path / "_delta_log").is_dir():
            if if_exists:
                return
            self.require_table(tn)
        # Rename first so readers never see a half-deleted table, then delete.
        tomb = path.parent / f".dropped-{path.name}-{uuid.uuid4().hex}"
        path.rename(tomb)
        shutil.rmtree(tomb, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _not_found(kind: str, name: str, candidates: list[str], hint_code: str | None = None) -> NotFoundError:
        matches = difflib.get_close_matches(name, candidates, n=3, cutoff=0.8)
        if not matches:
            # Also compare on the last part, so a typo in the table with the right schema is found.
            last = name.rsplit(".", 1)[-1]
            by_last = {c.rsplit(".", 1)[-1]: c for c in candidates}
            matches = [by_last[m] for m in difflib.get_close_matches(last, list(by_last), n=3, cutoff=0.6)]
        msg = f"{kind} {name} does not exist."
        if matches:
            msg += f" Did you mean: {', '.join(matches)}?"
        err = NotFoundError(msg)
        return err

    @staticmethod
    def _write_props(path: Path, comment: str | None) -> None:
        (path / PROPS_FILE).write_text(json.dumps({"comment": comment}))

    @staticmethod
    def _read_props(path: Path) -> dict:
        try:
            return json.loads((path / PROPS_FILE).read_text())
        except (OSError, ValueError):
            return {}
