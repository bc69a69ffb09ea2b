"""Derive the resource schemas (field names, types, required fields) from ``databricks.bundles``.

The ``databricks-bundles`` dataclasses follow the CLI's bundle schema, so field names, enum
values and required fields come from there rather than a hand-written copy. Importing them takes
~0.25 s, too slow for ``bundle validate``; the derived schema is therefore cached as JSON: the
copy shipped next to this module (``resources_schema.json``) is used when its recorded package
version matches the installed one, otherwise the schema is re-derived once and cached under
``$XDG_CACHE_HOME/healthmon/`` (default ``~/.cache/healthmon/``).

``roots`` maps each checked resource kind (``jobs``, ``pipelines``, ``volumes``, ...) to its
class in ``objects``.

Type specs: ``"string" | "int" | "number" | "bool" | "any"``, ``{"enum": [...]}``,
``{"list": spec}``, ``{"map": spec}``, ``{"ref": "ClassName"}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).with_name("resources_schema.json")
PACKAGE = "databricks-bundles"
# Resource kind -> the databricks.bundles module and class that give its shape. Kinds the package
# does not describe (or describes only in part) are printed unchecked.
ROOTS = {
    "jobs": ("jobs", "Job"),
    "pipelines": ("pipelines", "Pipeline"),
    "volumes": ("volumes", "Volume"),
    "schemas": ("schemas", "Schema"),
    "clusters": ("clusters", "Cluster"),
    "apps": ("apps", "App"),
    "experiments": ("experiments", "MlflowExperiment"),
    "models": ("models", "MlflowModel"),
    "registered_models": ("registered_models", "RegisteredModel"),
    "model_serving_endpoints": ("model_serving_endpoints", "ModelServingEndpoint"),
    "dashboards": ("dashboards", "Dashboard"),
    "sql_warehouses": ("sql_warehouses", "SqlWarehouse"),
    "quality_monitors": ("quality_monitors", "QualityMonitor"),
}


def installed_version() -> str:
    # Reading databricks/bundles/version.py directly costs ~1 ms; importlib.metadata ~90 ms.
    import importlib.util
    import re

    try:
        spec = importlib.util.find_spec("databricks")
        for loc in (spec.submodule_search_locations or []) if spec else []:
            text = (Path(loc) / "bundles" / "version.py").read_text()
            m = re.search(r"__version__\s*=\s*[\"']([^\"']+)", text)
            if m:
                return m.group(1)
    except (OSError, ImportError, ValueError):
        pass
    from importlib import metadata

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "missing"


def derive() -> dict:
    import dataclasses
    import enum
    import importlib
    import types
    import typing

    from databricks.bundles.core._variable import Variable

    objects: dict[str, dict] = {}

    # A field's spec: "string" / "int" / "number" / "bool" / "any", or {"list" | "map": spec},
    # {"enum": [...]}, {"ref": dataclass name}.
    def spec(tp: Any) -> str | dict[str, Any]:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)
                    and not (a is Variable or typing.get_origin(a) is Variable)]
            if len(args) == 1:
                return spec(args[0])
            return "any"
        if origin is list:
            (item,) = typing.get_args(tp)
            return {"list": spec(item)}
        if origin is dict:
            _, val = typing.get_args(tp)
            return {"map": spec(val)}
        if origin is typing.Literal:
            return {"enum": [str(a) for a in typing.get_args(tp)]}
        if tp is str:
            return "string"
        if tp is bool:
            return "bool"
        if tp is int:
            return "int"
        if tp is float:
            return "number"
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"enum": [m.value for m in tp]}
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            name = tp.__name__
            if name not in objects:
                objects[name] = {}  # placeholder breaks recursion
                hints = typing.get_type_hints(tp)
                fields = {f.name: spec(hints[f.name]) for f in dataclasses.fields(tp)}
                required = [f.name for f in dataclasses.fields(tp)
                            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
                objects[name] = {"fields": fields, "required": required}
            return {"ref": name}
        return "any"

    roots: dict[str, str] = {}
    for kind, (module, cls) in ROOTS.items():
        try:
            root = spec(getattr(importlib.import_module(f"databricks.bundles.{module}"), cls))
            assert isinstance(root, dict)  # a root is a dataclass: {"ref": its name}
            roots[kind] = root["ref"]
        except (ImportError, AttributeError):
            continue  # an older package without this kind: printed unchecked
    return {"package": PACKAGE, "version": installed_version(), "roots": roots, "objects": objects}


def _cache_file(version: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "healthmon" / f"resources_schema-{version}.json"


def load_schema() -> dict:
    version = installed_version()
    for candidate in (SHIPPED, _cache_file(version)):
        try:
            data = json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
        if data.get("version") == version and data.get("roots", {}).keys() >= {"jobs"}:
            return data
    data = derive()
    try:
        cache = _cache_file(version)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        tmp.replace(cache)
    except OSError:
        pass  # a read-only home only costs speed
    return data


if __name__ == "__main__":  # regenerate the shipped copy: python -m healthmon.bundle.validate.schema_derive
    SHIPPED.write_text(json.dumps(derive(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SHIPPED}")
