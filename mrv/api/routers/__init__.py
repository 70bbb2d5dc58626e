"""The API's routes, one module per resource, each an ``APIRouter`` with its tag.

Every operation has a stable ``operation_id`` (``<resource>-<action>``) that clients and
generated SDKs can rely on across versions, and declares the error answers it can give
with the one error schema (``mrv.api.errors``).
"""

from fastapi import APIRouter

from mrv.api.routers import (
    audit,
    bundles,
    catalogue,
    devices,
    entries,
    events,
    health,
    me,
    periods,
    photos,
    plans,
    portal,
    projects,
    quarantine,
    readings,
    reports,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    me.router,
    catalogue.router,
    projects.router,
    plans.router,
    entries.router,
    photos.router,
    readings.router,
    reports.router,
    quarantine.router,
    events.router,
    devices.router,
    periods.router,
    audit.router,
    bundles.router,
    portal.router,
)
