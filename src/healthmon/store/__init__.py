"""The workspace database: jobs, deployments, runs, schedule fires, tokens.

One SQLAlchemy metadata (``Base``) shared by every table module; SQLite (WAL) by default,
PostgreSQL as a tested option. Import ``healthmon.store.db`` for the engine and sessions.
"""
