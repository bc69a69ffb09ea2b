"""Browser UI (placeholder until the pages land)."""


def install(app) -> None:
    return None
