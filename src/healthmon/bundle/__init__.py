"""Databricks Asset Bundles, loaded and validated locally (see docs/bundle.md).

Public entry: ``load_bundle(root, target=None, variables=None) -> Bundle``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from healthmon.bundle.loader import Bundle


def load_bundle(root, target: str | None = None, variables: dict[str, str] | None = None, **kwargs) -> "Bundle":
    from healthmon.bundle.loader import load_bundle as _load

    return _load(root, target, variables, **kwargs)


__all__ = ["load_bundle"]
