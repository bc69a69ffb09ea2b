"""The five feature tables, by name, in build order."""

from __future__ import annotations

from healthmon.ml.features import cost, performance, quality, reliability, security
from healthmon.ml.features.table import FeatureTable

FEATURE_TABLES: dict[str, FeatureTable] = {
    t.name: t for t in (cost.TABLE, security.TABLE, performance.TABLE, reliability.TABLE, quality.TABLE)
}
