"""Stores: the time-series store (SQLite or InfluxDB) and the relational store (mrv.db)."""

from __future__ import annotations

from mrv.config import Settings
from mrv.stores.timeseries import TimeSeriesStore


def open_timeseries(settings: Settings) -> TimeSeriesStore:
    """The configured time-series backend (SQLite in MRV_HOME unless told otherwise)."""
    if settings.ts_backend == "influx":
        from mrv.stores.influx_ts import InfluxTimeSeriesStore

        return InfluxTimeSeriesStore.from_settings(settings)
    from mrv.stores.sqlite_ts import SQLiteTimeSeriesStore

    return SQLiteTimeSeriesStore(
        settings.effective_ts_path, synchronous=settings.sqlite_synchronous
    )
