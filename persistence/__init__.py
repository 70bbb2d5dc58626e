"""Persistence: the relational store (``models``, Alembic ``migrations``, ``engine``,
repositories in ``repo``, ``records``, ``devices``, ``photos``), the time-series stores
(``stores``: SQLite, InfluxDB) and the audit hash chain (``audit``).

It imports the core only (import-linter, pyproject.toml)."""
