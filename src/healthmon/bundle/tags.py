"""Tag keys and values normalised for the workspace's cloud, as the CLI's ``libs/tags``
(``ForCloud``, ``NormalizeKey``, ``NormalizeValue``): development mode applies it to its
``dev: <short_name>`` tag, the ``tags`` preset to the ``custom_tags`` of clusters.

The cloud is read from ``workspace.host`` the way the Databricks SDK's ``Config.IsAzure`` /
``IsGcp`` do; any other host, or none (the local workspace), is AWS — the SDK's default too.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlparse

AZURE_HOSTS = (".azuredatabricks.net", ".databricks.azure.cn", ".databricks.azure.us")
GCP_HOSTS = (".gcp.databricks.com",)
AWS_EXTRA = set(" +-=.:/@")
GCP_INNER = set("_-.")
AZURE_KEY_FORBIDDEN = set("<>*&%;\\/+?")


def cloud(host: str | None) -> str:
    name = (urlparse(host).hostname or "") if host and "://" in host else (host or "")
    if name.endswith(AZURE_HOSTS):
        return "azure"
    if name.endswith(GCP_HOSTS):
        return "gcp"
    return "aws"


def _strip_marks(s: str) -> str:
    """``josé`` → ``jose`` (the CLI's normalizeMarks: NFD, drop non-spacing marks, NFC)."""
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", s)
                                                if unicodedata.category(c) != "Mn"))


def _latin1(s: str) -> str:
    return "".join(c if ord(c) <= 0xFF else "_" for c in s)


def _letter_or_digit(c: str) -> bool:
    return unicodedata.category(c)[0] == "L" or unicodedata.category(c) == "Nd"


def normalize_value(value: str, host: str | None) -> str:
    """AWS: letters, digits, spaces and ``+-=.:/@``; Azure: any Latin-1 character (its forbidden
    characters ``<>*&%;\\/+?`` apply to keys only); GCP: letters, digits and ``_-.``, starting and
    ending with a letter or digit. Anything else becomes ``_``."""
    c = cloud(host)
    if c == "azure":
        return _latin1(value)
    s = _latin1(_strip_marks(value))
    if c == "aws":
        return "".join(ch if _letter_or_digit(ch) or ch.isspace() or ch in AWS_EXTRA else "_" for ch in s)
    s = "".join(ch if _letter_or_digit(ch) or ch in GCP_INNER else "_" for ch in s)
    start, end = 0, len(s)
    while start < end and not _letter_or_digit(s[start]):
        start += 1
    while end > start and not _letter_or_digit(s[end - 1]):
        end -= 1
    return s[start:end]


def normalize_key(key: str, host: str | None) -> str:
    """As ``normalize_value``, except that on Azure the characters ``<>*&%;\\/+?`` also become ``_``."""
    if cloud(host) == "azure":
        return "".join("_" if ch in AZURE_KEY_FORBIDDEN else ch for ch in _latin1(key))
    return normalize_value(key, host)
