"""One module per validation check; each exposes ``check(bundle_state) -> list[Diagnostic]``."""
