"""A resource key is letters, digits, ``_`` and ``-``. The CLI's validate accepts any key; its
deploy refuses another one (a Terraform resource name), and a reference
``${resources.<kind>.<key>.id}`` could not name it. A deploy check."""

from __future__ import annotations

import re

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.dyn import find, format_path
from healthmon.bundle.validate.base import BundleState

CHECK = "resource_keys"
RESOURCE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def check(state: BundleState) -> list[Diagnostic]:
    return [Diagnostic(ERROR, f"invalid resource key {path[-1]!r}: use letters, digits, '_' and '-' only", node.loc,
                       format_path(path), check=CHECK)
            for path, node in find(state.config, "resources.*.*")
            if isinstance(path[-1], str) and not RESOURCE_KEY.match(path[-1])]
