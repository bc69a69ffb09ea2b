"""What a feature table is: its name, keys, sources, SQL and documented features."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """A gold table a feature table reads, with the columns it cannot do without."""

    table: str
    required_columns: tuple[str, ...]


@dataclass(frozen=True)
class FeatureTable:
    name: str  # e.g. "cost_features"; lives at <catalog>.<feature_schema>.<name>
    primary_keys: tuple[str, ...]
    sources: tuple[Source, ...]
    # (fully-qualified source names by table, columns present per source, engine name "duckdb" |
    # "spark") -> Spark SQL query
    build_sql: Callable[[dict[str, str], dict[str, frozenset[str]], str], str]
    features: tuple[str, ...]  # numeric model inputs, in table column order
    description: str
    # Gold tables read when present (their absence changes values, not the columns)
    optional_sources: tuple[str, ...] = ()
    # Non-key columns that are not features (strings such as user_type)
    extra_columns: tuple[str, ...] = ()
    comments: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.primary_keys + self.extra_columns + self.features

    def fqn(self, catalog: str, feature_schema: str) -> str:
        return f"{catalog}.{feature_schema}.{self.name}"
