"""Stores: the time-series store (SQLite or InfluxDB) and the relational store (persistence)."""

from __future__ import annotations

from core.config import Settings
from persistence.stores.influx_ts import InfluxTimeSeriesStore
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from persistence.stores.timeseries import TimeSeriesStore


def open_timeseries(settings: Settings) -> TimeSeriesStore:
    """The configured time-series backend (SQLite in MRV_HOME unless told otherwise)."""
    if settings.ts_backend == "influx":
        return InfluxTimeSeriesStore.from_settings(settings)

    return SQLiteTimeSeriesStore(
        settings.effective_ts_path, synchronous=settings.sqlite_synchronous
    )
