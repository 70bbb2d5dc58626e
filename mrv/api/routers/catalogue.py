"""Reference data for clients: the quantities and their units."""

from functools import cache

from fastapi import APIRouter

from core.catalogue import catalogue
from mrv.api.schemas import Catalogue

router = APIRouter(tags=["catalogue"])


@cache
def _catalogue() -> Catalogue:
    # The same for the life of the process: built from the code's own tables.
    return Catalogue.model_validate(catalogue())


@router.get("/v1/catalogue", operation_id="catalogue-read")
def reference_data() -> Catalogue:
    """Quantities (canonical unit, plausible range, units to pick from) and groups of
    interconvertible units: what a client needs to build entry forms offline."""
    return _catalogue()
