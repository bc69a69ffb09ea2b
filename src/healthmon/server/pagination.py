"""Page tokens and limits, as the Jobs API 2.1+ pages lists.

A page token is opaque to clients (base64url JSON of the next raw offset), so the server can
change how it pages without breaking them. ``next_page_token`` is omitted, not empty, on the last
page: the SDK's iterator stops on a missing key.
"""

from __future__ import annotations

import base64
import binascii
import json

from healthmon.server.errors import invalid


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())["o"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        # Never echo the value: a confused client may have sent a credential.
        raise invalid("page_token is not a page token this server issued.") from None


def resolve_limit(limit: int | None, *, default: int, maximum: int, zero_means_max: bool = False) -> int:
    """Databricks' rules: negative is an error; above the maximum is capped; 0 means the default
    (or the maximum, for runs/list)."""
    if limit is None:
        return default
    if limit < 0:
        raise invalid(f"limit must be a non-negative integer (at most {maximum}), got {limit}.")
    if limit == 0:
        return maximum if zero_means_max else default
    return min(limit, maximum)


def resolve_offset(offset: int | None, page_token: str | None) -> int:
    if page_token:
        return decode_token(page_token)
    if offset is None:
        return 0
    if offset < 0:
        raise invalid(f"offset must be a non-negative integer, got {offset}.")
    return offset


def page_fields(start: int, next_offset: int, has_more: bool, limit: int) -> dict:
    fields: dict = {"has_more": has_more}
    if has_more:
        fields["next_page_token"] = encode_token(next_offset)
    if start > 0:
        fields["prev_page_token"] = encode_token(max(0, start - limit))
    return fields
