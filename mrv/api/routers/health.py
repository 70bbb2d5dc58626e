"""The service itself: is it up, and its Prometheus counters. No token needed."""

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mrv.api.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/health", operation_id="service-health")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/metrics",
    operation_id="service-metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    """The Prometheus counters, in its text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
