"""Feature store with the Databricks Feature Engineering client's names and behaviour.

    from healthmon.lakehouse.feature_store import FeatureEngineeringClient, FeatureLookup
    fe = FeatureEngineeringClient()
    fe.create_table(name="ml.features.ws_daily", primary_keys=["workspace_id", "day"],
                    timestamp_keys=["day"], df=features, description="...")
    ts = fe.create_training_set(df=labels, feature_lookups=[FeatureLookup(
            table_name="ml.features.ws_daily", lookup_key="workspace_id",
            timestamp_lookup_key="event_time")], label="is_anomaly")
    fe.log_model(model, "model", flavor=mlflow.sklearn, training_set=ts,
                 registered_model_name="ml.models.cost_anomaly")
    fe.score_batch("models:/ml.models.cost_anomaly@Champion", keys_df)

Feature tables are lakehouse tables; primary keys and timestamp keys live in the Delta log
(``healthmon.primaryKeys``, ``healthmon.timestampKeys``). Lookups run in DuckDB whatever the
query engine (they are joins of a pandas spine with Delta snapshots). DataFrames are pandas
(``read_table`` and ``load_df`` return pandas; Spark users call ``spark.createDataFrame``).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from healthmon.errors import InvalidParameterError
from healthmon.lakehouse.arrow_utils import to_arrow
from healthmon.lakehouse.delta_io import read_meta
from healthmon.lakehouse.feature_join import ResolvedLookup, join_features
from healthmon.lakehouse.paths import TableName

TS_KEY = "healthmon.timestampKeys"
SPEC_FILE = "feature_spec.json"
SPEC_VERSION = 1


def _as_list(v: str | list[str] | None) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


@dataclass
class FeatureLookup:
    """Which features to bring from ``table_name``, matched on ``lookup_key`` (the spine's
    columns, positionally matching the table's primary keys other than its timestamp key), and
    as of ``timestamp_lookup_key`` for time-series feature tables."""

    table_name: str
    lookup_key: str | list[str]
    feature_names: str | list[str] | None = None
    rename_outputs: dict[str, str] | None = None
    timestamp_lookup_key: str | None = None
    lookback_window: dt.timedelta | None = None
    default_values: dict[str, Any] | None = None

    def to_dict(self) -> dict:
        return {
            "table_name": self.table_name,
            "lookup_key": _as_list(self.lookup_key),
            "feature_names": _as_list(self.feature_names) if self.feature_names is not None else None,
            "rename_outputs": dict(self.rename_outputs or {}),
            "timestamp_lookup_key": self.timestamp_lookup_key,
            "lookback_window_seconds": self.lookback_window.total_seconds() if self.lookback_window else None,
            "default_values": dict(self.default_values or {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureLookup":
        lb = d.get("lookback_window_seconds")
        return cls(
            table_name=d["table_name"], lookup_key=d["lookup_key"], feature_names=d.get("feature_names"),
            rename_outputs=d.get("rename_outputs") or None, timestamp_lookup_key=d.get("timestamp_lookup_key"),
            lookback_window=dt.timedelta(seconds=lb) if lb is not None else None,
            default_values=d.get("default_values") or None,
        )


@dataclass(frozen=True)
class FeatureTable:
    name: str
    primary_keys: list[str]
    timestamp_keys: list[str]
    description: str | None
    features: list[str]
    path: str


@dataclass
class TrainingSet:
    """The spine joined with its feature lookups; ``load_df()`` materialises it (pandas)."""

    client: "FeatureEngineeringClient"
    df: pd.DataFrame
    feature_lookups: list[FeatureLookup]
    label: str | list[str] | None
    exclude_columns: list[str] = field(default_factory=list)
    _cache: pd.DataFrame | None = None

    def load_df(self) -> pd.DataFrame:
        if self._cache is None:
            joined = self.client._lookup(self.df, self.feature_lookups)
            drop = [c for c in self.exclude_columns if c in joined.columns]
            self._cache = joined.drop(columns=drop)
        return self._cache.copy()

    @property
    def feature_spec(self) -> dict:
        labels = _as_list(self.label)
        cols = [c for c in self.load_df().columns if c not in labels]
        return {
            "version": SPEC_VERSION,
            "feature_lookups": [fl.to_dict() for fl in self.feature_lookups],
            "model_input_columns": cols,
            "label": self.label,
            "exclude_columns": list(self.exclude_columns),
            "lookup_keys": sorted(
                {k for fl in self.feature_lookups for k in _as_list(fl.lookup_key)}
                | {fl.timestamp_lookup_key for fl in self.feature_lookups if fl.timestamp_lookup_key}
            ),
        }


class FeatureEngineeringClient:
    def __init__(self, lakehouse=None):
        if lakehouse is None:
            from healthmon.lakehouse import Lakehouse

            lakehouse = Lakehouse.from_env()
        self.lh = lakehouse

    # -- feature tables -------------------------------------------------------------------
    def create_table(
        self,
        name: str,
        primary_keys: str | list[str],
        timestamp_keys: str | list[str] | None = None,
        df: Any = None,
        schema: pa.Schema | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        partition_columns: list[str] | None = None,
    ) -> FeatureTable:
        """Create a feature table (primary keys include the timestamp keys, as in Databricks)."""
        tn = str(TableName.parse(name))
        pks = _as_list(primary_keys)
        tss = _as_list(timestamp_keys)
        if not pks:
            raise InvalidParameterError(f"create_table({tn}): primary_keys is required.")
        pks += [t for t in tss if t not in pks]
        if df is None and schema is None:
            raise InvalidParameterError(f"create_table({tn}): pass df or schema.")
        if self.lh.table_exists(tn):
            raise InvalidParameterError(
                f"Feature table {tn} already exists.", hint="use write_table(name, df, mode='merge')"
            )
        data = to_arrow(df) if df is not None else None
        if schema is not None:
            table_schema = schema
        else:
            assert data is not None  # df or schema was required above
            table_schema = data.schema
        missing = [k for k in pks if k not in table_schema.names]
        if missing:
            raise InvalidParameterError(
                f"create_table({tn}): key column(s) {', '.join(missing)} not in {', '.join(table_schema.names)}."
            )
        all_tags = dict(tags or {})
        self.lh.create_table(tn, table_schema if data is None else data.schema, primary_keys=pks,
                             comment=description, tags=all_tags or None, partition_by=partition_columns)
        if tss:
            self.lh.delta_table(tn).alter.set_table_properties({TS_KEY: ",".join(tss)}, raise_if_not_exists=False)
        if data is not None and data.num_rows:
            self.lh.write_table(tn, data, mode="merge")
        return self.get_table(tn)

    def get_table(self, name: str) -> FeatureTable:
        tn = str(TableName.parse(name))
        dtable = self.lh.delta_table(tn)
        meta = read_meta(dtable)
        tss = [c for c in meta.configuration.get(TS_KEY, "").split(",") if c]
        cols = pa.schema(dtable.schema().to_arrow()).names
        return FeatureTable(tn, meta.primary_keys, tss, meta.comment,
                            [c for c in cols if c not in meta.primary_keys], dtable.table_uri)

    def write_table(self, name: str, df: Any, mode: str = "merge") -> int:
        """Upsert ``df`` by the table's primary keys (``mode='merge'``) or replace it (``'overwrite'``)."""
        if mode not in ("merge", "overwrite"):
            raise InvalidParameterError(f"write_table mode must be 'merge' or 'overwrite', got {mode!r}.")
        tn = str(TableName.parse(name))
        self.lh.catalog.require_table(tn)
        return self.lh.write_table(tn, df, mode=mode)

    def read_table(self, name: str, as_of_version: int | None = None) -> pd.DataFrame:
        return self.lh.read_table(name, version=as_of_version).to_pandas()

    def drop_table(self, name: str) -> None:
        self.lh.drop_table(name)

    # -- lookups --------------------------------------------------------------------------
    def _resolve(self, lookup: FeatureLookup, spine_cols: list[str]) -> ResolvedLookup:
        table = self.get_table(lookup.table_name)
        keys = _as_list(lookup.lookup_key)
        table_keys = [k for k in table.primary_keys if k not in table.timestamp_keys]
        if len(keys) != len(table_keys):
            raise InvalidParameterError(
                f"FeatureLookup({table.name}): lookup_key {keys} must match the table's primary keys "
                f"{table_keys} (timestamp keys {table.timestamp_keys} are matched by timestamp_lookup_key)."
            )
        missing = [k for k in keys if k not in spine_cols]
        if lookup.timestamp_lookup_key and lookup.timestamp_lookup_key not in spine_cols:
            missing.append(lookup.timestamp_lookup_key)
        if missing:
            raise InvalidParameterError(
                f"FeatureLookup({table.name}): column(s) {', '.join(missing)} not in the DataFrame "
                f"(columns: {', '.join(spine_cols)})."
            )
        if lookup.timestamp_lookup_key and not table.timestamp_keys:
            raise InvalidParameterError(
                f"FeatureLookup({table.name}): timestamp_lookup_key given but the table has no timestamp_keys."
            )
        feats = _as_list(lookup.feature_names) if lookup.feature_names is not None else [
            f for f in table.features if f not in table.timestamp_keys
        ]
        unknown = [f for f in feats if f not in table.features]
        if unknown:
            raise InvalidParameterError(
                f"FeatureLookup({table.name}): unknown feature(s) {', '.join(unknown)}; "
                f"the table has {', '.join(table.features)}."
            )
        renames = lookup.rename_outputs or {}
        return ResolvedLookup(
            table_name=table.name, spine_keys=keys, table_keys=table_keys, features=feats,
            outputs=[renames.get(f, f) for f in feats],
            spine_timestamp=lookup.timestamp_lookup_key,
            table_timestamp=table.timestamp_keys[0] if lookup.timestamp_lookup_key else None,
            lookback_seconds=lookup.lookback_window.total_seconds() if lookup.lookback_window else None,
            defaults=dict(lookup.default_values or {}),
        )

    def _resolve_all(
        self, cols: list[str], lookups: list[FeatureLookup], skip_present: bool = False
    ) -> list[ResolvedLookup]:
        resolved = []
        seen = set(cols)
        for fl in lookups:
            r = self._resolve(fl, cols)
            if skip_present:
                # score_batch: values provided in the input override lookups (Databricks behaviour).
                keep = [(f, o) for f, o in zip(r.features, r.outputs) if o not in cols]
                r = ResolvedLookup(r.table_name, r.spine_keys, r.table_keys, [f for f, _ in keep], [o for _, o in keep],
                                   r.spine_timestamp, r.table_timestamp, r.lookback_seconds, r.defaults)
                if not r.features:
                    continue
            clash = [o for o in r.outputs if o in seen]
            if clash:
                raise InvalidParameterError(
                    f"Feature name(s) {', '.join(clash)} from {r.table_name} collide with existing columns; "
                    "use FeatureLookup(rename_outputs={...})."
                )
            seen.update(r.outputs)
            resolved.append(r)
        return resolved

    def _lookup_arrow(self, spine: pa.Table, lookups: list[FeatureLookup], skip_present: bool = False) -> pa.Table:
        resolved = []
        for r in self._resolve_all(list(spine.column_names), lookups, skip_present):
            dataset = self.lh.delta_table(r.table_name).to_pyarrow_dataset()
            needed = r.table_keys + ([r.table_timestamp] if r.table_timestamp else []) + r.features
            resolved.append((r, dataset.to_table(columns=list(dict.fromkeys(needed)))))
        return join_features(spine, resolved)

    def _lookup(self, df: Any, lookups: list[FeatureLookup], skip_present: bool = False) -> pd.DataFrame:
        return self._lookup_arrow(to_arrow(df), lookups, skip_present).to_pandas()

    def create_training_set(
        self,
        df: Any,
        feature_lookups: list[FeatureLookup],
        label: str | list[str] | None,
        exclude_columns: list[str] | None = None,
    ) -> TrainingSet:
        spine = df if isinstance(df, pd.DataFrame) else to_arrow(df).to_pandas()
        for lbl in _as_list(label):
            if lbl not in spine.columns:
                raise InvalidParameterError(f"create_training_set: label column {lbl!r} not in the DataFrame.")
        ts = TrainingSet(self, spine, list(feature_lookups), label, list(exclude_columns or []))
        # Validate lookups now (names, keys, collisions) rather than at load time.
        self._resolve_all(list(spine.columns), ts.feature_lookups)
        return ts

    # -- models ---------------------------------------------------------------------------
    def log_model(
        self,
        model: Any,
        artifact_path: str,
        *,
        flavor: Any,
        training_set: TrainingSet,
        registered_model_name: str | None = None,
        **kwargs: Any,
    ):
        """Log ``model`` wrapped in a pyfunc that carries the feature spec, so scoring needs only
        the lookup keys; optionally register it (``catalog.schema.model``)."""
        import mlflow

        from healthmon.lakehouse import registry

        registry.configure_mlflow()
        spec = training_set.feature_spec
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw_model"
            flavor.save_model(model, str(raw))
            spec_path = Path(tmp) / SPEC_FILE
            spec_path.write_text(json.dumps(spec, indent=1, default=str))
            kwargs.setdefault("pip_requirements", _requirements(flavor))
            info = mlflow.pyfunc.log_model(
                name=artifact_path,
                python_model=FeatureSpecModel(),
                artifacts={"raw_model": str(raw), "feature_spec": str(spec_path)},
                **kwargs,
            )
        if registered_model_name:
            mv = registry.register_model(info.model_uri, registered_model_name)
            info.registered_model_version = int(mv.version)
        return info

    def score_batch(self, model_uri: str, df: Any, result_type: str = "double") -> pd.DataFrame:
        """Look features up for ``df`` (keys only needed) and predict: keys + features + ``prediction``."""
        import mlflow

        from healthmon.lakehouse import registry

        registry.configure_mlflow()
        try:
            loaded = mlflow.pyfunc.load_model(model_uri)
        except Exception as exc:
            raise InvalidParameterError(f"Cannot load model {model_uri!r}: {str(exc).splitlines()[0]}") from None
        wrapper = loaded.unwrap_python_model() if hasattr(loaded, "unwrap_python_model") else None
        if not isinstance(wrapper, FeatureSpecModel):
            raise InvalidParameterError(
                f"Model {model_uri} was not logged with FeatureEngineeringClient.log_model (no feature spec)."
            )
        return wrapper.score(df, self)


def _requirements(flavor: Any) -> list[str]:
    # Explicit requirements: MLflow's inference imports the model in a subprocess (seconds).
    import importlib.metadata as md

    names = {"mlflow.sklearn": "scikit-learn", "mlflow.xgboost": "xgboost-cpu", "mlflow.lightgbm": "lightgbm"}
    reqs = ["mlflow", "pandas", "pyarrow", "deltalake", "duckdb"]
    pkg = names.get(getattr(flavor, "__name__", ""))
    if pkg:
        reqs.append(pkg)
    out = []
    for r in reqs:
        try:
            out.append(f"{r}=={md.version(r)}")
        except md.PackageNotFoundError:
            out.append(r)
    return out


if TYPE_CHECKING:
    from mlflow.pyfunc import PythonModel as _Base
else:
    try:
        import mlflow.pyfunc as _pyfunc

        _Base = _pyfunc.PythonModel
    except ImportError:  # pragma: no cover
        _Base = object


class FeatureSpecModel(_Base):
    """The pyfunc stored by ``log_model``: the raw model + the feature spec.

    ``predict`` takes the lookup keys (and optionally feature values, which override lookups)
    and returns predictions; ``score`` returns keys + features + prediction."""

    def load_context(self, context) -> None:
        import mlflow

        self.spec = json.loads(Path(context.artifacts["feature_spec"]).read_text())
        self.raw_model = mlflow.pyfunc.load_model(context.artifacts["raw_model"])

    @property
    def lookups(self) -> list[FeatureLookup]:
        return [FeatureLookup.from_dict(d) for d in self.spec["feature_lookups"]]

    def features(self, df: Any, client: FeatureEngineeringClient | None = None) -> pd.DataFrame:
        client = client or FeatureEngineeringClient()
        return client._lookup(df, self.lookups, skip_present=True)

    def score(self, df: Any, client: FeatureEngineeringClient | None = None) -> pd.DataFrame:
        full = self.features(df, client)
        cols = self.spec["model_input_columns"]
        missing = [c for c in cols if c not in full.columns]
        if missing:
            raise InvalidParameterError(
                f"score_batch: the input lacks column(s) {', '.join(missing)} that the model was trained on "
                "and that no feature lookup provides."
            )
        pred = self.raw_model.predict(full[cols])
        full["prediction"] = pred.to_numpy().ravel() if hasattr(pred, "to_numpy") else pred
        return full

    def predict(self, context, model_input, params=None):
        return self.score(model_input)["prediction"]
