"""A volume or pipeline placed in a schema the bundle itself defines names that schema by reference
(the CLI's ``CaptureSchemaDependency``).

A volume whose ``catalog_name`` / ``schema_name``, or a pipeline whose ``catalog`` / ``target``
(or ``schema``), equal the ``catalog_name`` / ``name`` of a ``resources.schemas`` entry gets
``${resources.schemas.<key>.name}`` in place of the schema name. The deploy then creates the
schema first and follows its final name — in development mode the prefixed ``dev_<user>_...``
one, which a literal name would miss. ``validate`` prints the reference as it is, like every
``${resources...}`` reference that only a deploy can resolve.

Runs after references are resolved (a name written as ``${var.schema}`` matches too) and before
the presets (the match is on the names as written, not the prefixed ones).
"""

from __future__ import annotations

from healthmon.bundle.dyn import Value, get_path, map_pattern
from healthmon.bundle.step import BundleState, Step


def _text(node: Value, field: str) -> str:
    v = node.get(field) if node.is_map else None
    return v.v if v is not None and isinstance(v.v, str) else ""


def _schema_keys(config: Value) -> dict[tuple[str, str], str]:
    """(catalog, schema name) → key of the first schema resource with them (document order:
    the CLI's map order is unspecified when two schema resources are the same schema)."""
    schemas = get_path(config, ("resources", "schemas"))
    out: dict[tuple[str, str], str] = {}
    for key, schema in (schemas.v.items() if schemas is not None and schemas.is_map else ()):
        catalog, name = _text(schema, "catalog_name"), _text(schema, "name")
        if catalog and name:
            out.setdefault((catalog, name), key)
    return out


def _captured(node: Value, catalog_field: str, schema_fields: tuple[str, ...],
              keys: dict[tuple[str, str], str]) -> Value:
    catalog = _text(node, catalog_field)
    out = node
    for field in schema_fields:
        key = keys.get((catalog, _text(node, field)))
        old = node.get(field)
        if catalog and key is not None and old is not None:
            out = out.rebuilt({**out.v, field: Value(f"${{resources.schemas.{key}.name}}", old.loc)})
    return out


class CaptureSchemaDependency(Step):
    name = "capture_schema_dependency"
    reads = ("resources.schemas.*", "resources.volumes.*", "resources.pipelines.*")
    updates = ("resources.volumes.*.schema_name", "resources.pipelines.*.target", "resources.pipelines.*.schema")

    def run(self, b: BundleState) -> None:
        keys = _schema_keys(b.config)
        if not keys:
            return
        b.config = map_pattern(b.config, "resources.volumes.*",
                               lambda _p, node: _captured(node, "catalog_name", ("schema_name",), keys))
        b.config = map_pattern(b.config, "resources.pipelines.*",
                               lambda _p, node: _captured(node, "catalog", ("target", "schema"), keys))
