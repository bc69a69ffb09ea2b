"""Feature tables of the Health Monitor ML layer (ml-layer.md §2), computed from the gold tables.

``create_feature_tables(catalog, gold_schema, feature_schema) -> dict`` is what the feature
pipeline notebook calls; ``FEATURE_TABLES`` describes each table (keys, features, sources).
"""

from __future__ import annotations

from healthmon.ml.features.pipeline import compute_feature_table, create_feature_tables
from healthmon.ml.features.registry import FEATURE_TABLES
from healthmon.ml.features.table import FeatureTable

__all__ = ["FEATURE_TABLES", "FeatureTable", "compute_feature_table", "create_feature_tables"]
