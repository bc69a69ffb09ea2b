"""Page tokens and limits, as the Jobs API 2.1+ pages lists.

A page token is opaque to clients (base64url JSON of the next raw offset), so the server can
change how it pages without breaking them. ``next_page_token`` is omitted, not empty, on the last
page: the SDK's iterator stops on a missing key.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from healthmon.server.errors import invalid


@dataclass(frozen=True)
class Cursor:
    """Where a runs/list page starts: an offset (legacy), or keyset: the runs older than
    ``before`` (next pages), or the runs just newer than ``after`` (previous pages)."""

    offset: int = 0
    before: int | None = None
    after: int | None = None


def _encode(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def encode_token(offset: int) -> str:
    return _encode({"o": offset})


def _decode(token: str, kinds: tuple[str, ...]) -> tuple[str, int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        if not isinstance(payload, dict) or len(payload) != 1:
            raise ValueError
        ((kind, value),) = payload.items()
        if kind not in kinds or not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
            raise ValueError
        return kind, value
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        # Never echo the value: a confused client may have sent a credential.
        raise invalid("page_token is not a page token this server issued.") from None


def decode_token(token: str) -> int:
    """The offset in an offset page token (jobs/list)."""
    return _decode(token, ("o",))[1]


def resolve_cursor(offset: int | None, page_token: str | None) -> Cursor:
    """runs/list: a keyset token ({"b": run id} next, {"a": run id} previous), an offset
    token from an older server, or the ``offset`` parameter."""
    if page_token:
        kind, value = _decode(page_token, ("o", "b", "a"))
        return Cursor(offset=value) if kind == "o" else Cursor(before=value) if kind == "b" else Cursor(after=value)
    return Cursor(offset=resolve_offset(offset, None))


def keyset_page_fields(runs: list[dict], cursor: Cursor, more: bool) -> dict:
    """Paging fields of a runs/list page. ``more``: runs remain in the direction the page was
    read (older for a next page, newer for a previous page)."""
    if cursor.after is not None:
        # Going back: the run the cursor names is older than this page, so older runs exist.
        has_older, has_newer = bool(runs), more
    else:
        has_older, has_newer = more, cursor.before is not None or cursor.offset > 0
    fields: dict = {"has_more": has_older}
    if has_older and runs:
        fields["next_page_token"] = _encode({"b": runs[-1]["run_id"]})
    if has_newer and runs:
        fields["prev_page_token"] = _encode({"a": runs[0]["run_id"]})
    return fields


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
