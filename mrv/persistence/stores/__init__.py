"""Stores: the time-series store (SQLite or InfluxDB) and the relational store (mrv.persistence)."""

from __future__ import annotations

from mrv.core.config import Settings
from mrv.persistence.stores.influx_ts import InfluxTimeSeriesStore
from mrv.persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from mrv.persistence.stores.timeseries import TimeSeriesStore


def open_timeseries(settings: Settings) -> TimeSeriesStore:
    """The configured time-series backend (SQLite in MRV_HOME unless told otherwise)."""
    if settings.ts_backend == "influx":
        return InfluxTimeSeriesStore.from_settings(settings)

    return SQLiteTimeSeriesStore(
        settings.effective_ts_path, synchronous=settings.sqlite_synchronous
    )
