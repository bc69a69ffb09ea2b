"""Every referenced notebook / file exists ("Notebook not found"), relative to the YAML file
that declares it; a ``.py`` notebook without the Databricks source header gets a warning."""

from __future__ import annotations

from healthmon.bundle.diag import ERROR, WARNING, Diagnostic
from healthmon.bundle.validate.base import BundleState

CHECK = "notebooks"


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for path, ref in state.sources.items():
        rel = state.ctx.display(ref.local)
        if ref.kind == "notebook":
            if not ref.local.is_file():
                out.append(Diagnostic(
                    ERROR, f"Notebook not found: {rel} (notebook_path {ref.declared!r} is resolved relative to "
                           f"{ref.location.file}; looked for {ref.local} and its .py/.ipynb/.sql/.scala/.r variants)",
                    ref.location, path, check=CHECK))
            elif ref.local.suffix == ".py":
                with ref.local.open("r", encoding="utf-8", errors="replace") as fh:
                    head = fh.read(200).lstrip()
                if not head.startswith("# Databricks notebook source"):
                    out.append(Diagnostic(
                        WARNING, f"{rel} is used as a notebook but lacks the '# Databricks notebook source' header; "
                                 f"Databricks imports it as a plain file",
                        ref.location, path, check=CHECK))
        elif ref.kind == "directory":
            if not ref.local.is_dir():
                out.append(Diagnostic(ERROR, f"Directory not found: {rel} (declared as {ref.declared!r})",
                                      ref.location, path, check=CHECK))
        elif not ref.local.is_file():
            out.append(Diagnostic(
                ERROR, f"File not found: {rel} ({ref.declared!r} is resolved relative to {ref.location.file})",
                ref.location, path, check=CHECK))
    return out
