"""Three-level table names and where their Delta tables live.

``catalog.schema.table`` maps to ``<lakehouse_root>/<catalog>/<schema>/<table>`` (a Delta Lake
table directory). Identifiers are validated here, once, so a name coming from a widget or a
parameter can never smuggle SQL or a path (`..`, `/`) into the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from healthmon.errors import InvalidParameterError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def check_identifier(part: str, what: str = "identifier") -> str:
    if not isinstance(part, str) or not _IDENT.match(part):
        raise InvalidParameterError(
            f"Invalid {what} {part!r}: expected letters, digits and underscores, not starting with a digit."
        )
    return part.lower()


@dataclass(frozen=True)
class TableName:
    catalog: str
    schema: str
    table: str

    @classmethod
    def parse(cls, name: str) -> "TableName":
        parts = name.split(".") if isinstance(name, str) else []
        if len(parts) != 3:
            raise InvalidParameterError(f"Invalid table name {name!r}: expected catalog.schema.table.")
        return cls(
            check_identifier(parts[0], "catalog name"),
            check_identifier(parts[1], "schema name"),
            check_identifier(parts[2], "table name"),
        )

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"

    def path(self, root: Path) -> Path:
        return Path(root) / self.catalog / self.schema / self.table
