"""The 25 Health Monitor models: one ``ModelSpec`` contract and the ``MODELS`` registry."""

from healthmon.ml.models.registry import DOMAINS, MODELS
from healthmon.ml.models.spec import TABLE_KEYS, ModelSpec
from healthmon.ml.models.targets import Target

__all__ = ["DOMAINS", "MODELS", "TABLE_KEYS", "ModelSpec", "Target", "get_spec"]


def get_spec(model_name: str) -> ModelSpec:
    from healthmon.errors import NotFoundError

    try:
        return MODELS[model_name]
    except KeyError:
        raise NotFoundError(f"Unknown model {model_name!r}: expected one of {', '.join(sorted(MODELS))}.") from None
