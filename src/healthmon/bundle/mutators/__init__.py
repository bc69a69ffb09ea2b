"""One pure transformation per module, applied in order by ``healthmon.bundle.loader``."""
