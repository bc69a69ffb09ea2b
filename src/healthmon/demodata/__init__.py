"""healthmon.demodata: gold tables of a synthetic Databricks account, and an importer for real
system-table exports. ``generate`` is imported lazily so ``import healthmon.demodata`` is cheap."""

from __future__ import annotations


def generate(catalog: str, schema: str = "gold", **kwargs) -> dict[str, int]:
    from healthmon.demodata.generator import generate as _generate

    return _generate(catalog, schema, **kwargs)


__all__ = ["generate"]
