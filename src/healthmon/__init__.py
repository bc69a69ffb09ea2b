"""healthmon: the Databricks Health Monitor ML layer and a local, Databricks-compatible bundle and jobs runtime."""

__version__ = "0.1.0"
