"""JSON text columns: one encoder for every row the stores write (sorted keys, orjson's speed).

orjson is ~10x faster than the standard library on the settings snapshots of large jobs; what it
refuses (values beyond JSON, integers beyond 64 bits, text with unpaired UTF-16 surrogates) goes
through the standard encoder with the ``str()`` fallback the stores always had."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# A Python str holds code points, so a surrogate in one is always unpaired (JSON's "\ud800"
# escape, argv bytes decoded with surrogateescape): it has no UTF-8 form.
_SURROGATE = re.compile("[\ud800-\udfff]")


def unpaired_surrogate(value: Any, path: str = "") -> str | None:
    """Where in a JSON value (``tasks[0].task_key``; ``""`` for the value itself) a string or an
    object key holds an unpaired surrogate, which no UTF-8 text can store; None when none does."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and _SURROGATE.search(key):
                    return _SURROGATE.sub("\ufffd", child_path)
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


def dumps_sorted(value: Any) -> str:
    """JSON with sorted keys. Unpaired surrogates (input layers refuse them; a task's output may
    still hold one) become U+FFFD, so every stored row stays readable."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
        return _SURROGATE.sub("\ufffd", text)


def loads(text: str | bytes | None) -> Any:
    """The value of a JSON column (None for an empty one). A row an older encoder wrote with an
    unpaired surrogate escape (which orjson refuses) is read with U+FFFD in its place."""
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return orjson.loads(dumps_sorted(json.loads(text)))
