"""Stores: the time-series store (SQLite, InfluxDB or PostgreSQL) and the relational store
(persistence)."""

from __future__ import annotations

from core.config import Settings
from persistence.stores.influx_ts import InfluxTimeSeriesStore
from persistence.stores.postgres_ts import PostgresTimeSeriesStore
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from persistence.stores.timeseries import TimeSeriesStore


def open_timeseries(settings: Settings) -> TimeSeriesStore:
    """The configured time-series backend (SQLite in MRV_HOME unless told otherwise)."""
    if settings.ts_backend == "influx":
        return InfluxTimeSeriesStore.from_settings(settings)
    if settings.ts_backend == "postgres":
        url = settings.effective_ts_postgres_url
        if url is None:  # Settings refuses this combination; kept for a hand-built one
            raise ValueError("MRV_TS_BACKEND=postgres needs MRV_TS_POSTGRES_URL")
        return PostgresTimeSeriesStore(url)

    return SQLiteTimeSeriesStore(
        settings.effective_ts_path, synchronous=settings.sqlite_synchronous
    )
