"""One ML code path, two backends: ``get_backend()`` picks ``databricks`` inside a Databricks
runtime (``DATABRICKS_RUNTIME_VERSION`` set) and ``local`` elsewhere; ``HEALTHMON_ML_BACKEND``
(``local`` | ``databricks``) overrides the choice."""

from __future__ import annotations

import os

from healthmon.errors import InvalidParameterError
from healthmon.ml.backend.base import MLBackend

BACKENDS = ("local", "databricks")
ENV = "HEALTHMON_ML_BACKEND"


def backend_name() -> str:
    chosen = (os.environ.get(ENV) or "").strip().lower()
    if not chosen:
        return "databricks" if os.environ.get("DATABRICKS_RUNTIME_VERSION") else "local"
    if chosen not in BACKENDS:
        raise InvalidParameterError(f"Unknown ML backend {chosen!r} ({ENV}): expected one of {', '.join(BACKENDS)}.")
    return chosen


def get_backend(name: str | None = None) -> MLBackend:
    """A fresh backend (cheap: everything it opens is opened on first use, so it follows the
    current ``HEALTHMON_HOME``)."""
    chosen = name or backend_name()
    if chosen == "databricks":
        from healthmon.ml.backend.databricks import DatabricksBackend

        return DatabricksBackend()
    if chosen == "local":
        from healthmon.ml.backend.local import LocalBackend

        return LocalBackend()
    raise InvalidParameterError(f"Unknown ML backend {chosen!r}: expected one of {', '.join(BACKENDS)}.")


__all__ = ["BACKENDS", "MLBackend", "backend_name", "get_backend"]
