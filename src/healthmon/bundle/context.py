"""What the loading pipeline knows besides the configuration itself."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LoadContext:
    root: Path  # bundle root (directory of databricks.yml), absolute
    user_name: str  # workspace.current_user.userName
    target: str | None = None  # -t; None = the default target
    variables: dict[str, str] = field(default_factory=dict)  # --var name=value
    # The ``--var`` flags as given, in order (``initialize_variables`` checks them like the CLI:
    # a flag without ``=``, a name given twice); ``variables`` holds the first value per name.
    variable_flags: tuple[str, ...] = ()
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    # Filled while parsing: a mapping value's location -> its key's location.
    key_locations: dict = field(default_factory=dict, compare=False)
    # Filled while parsing: the locations of values that carry a YAML anchor (``&name``).
    anchored: set = field(default_factory=set, compare=False)

    def display(self, path: Path) -> str:
        """How a file is named in locations: relative to the bundle root when inside it."""
        # Paths built from the (resolved) root need no resolve(); it costs a stat per component.
        text = os.path.normpath(os.fspath(path))
        root = os.fspath(self.root)
        if text == root:
            return "."
        if text.startswith(root + os.sep):
            return text[len(root) + 1:].replace(os.sep, "/")
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            return str(path)

    def source(self, display: str) -> Path:
        """The inverse of ``display``: the file a location names."""
        p = Path(display)
        return p if p.is_absolute() else self.root / p
