"""One module per check; each exposes ``check(bundle_state) -> list[Diagnostic]``. The CLI's
checks run in the validate phase, healthmon's own in the deploy phase (``mutators/validate.py``)."""
