"""The FastAPI application: assembled from the routers (``mrv.api.routers``), the body
limits, the request counter and the one error shape; its stores are opened at start-up
and closed at shutdown (``mrv.api.deps.ApiState``)."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter, Gauge
from starlette.middleware.base import RequestResponseEndpoint

from core.config import Settings
from mrv.api import docs, errors, pages
from mrv.api.deps import ApiState
from mrv.api.limits import BodyLimit
from mrv.api.routers import ROUTERS

REQUESTS = Counter("mrv_api_requests_total", "API requests", ["route", "status"])
AUTH_CLIENTS = Gauge("mrv_api_auth_clients", "Clients the failed-login limiter remembers")


async def count(request: Request, call_next: RequestResponseEndpoint) -> Response:
    """Count each request by its route's path template (not the path: bounded labels)."""
    response = await call_next(request)
    route = request.scope.get("route")
    REQUESTS.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
    return response


def lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open the stores when the application starts (in each worker), close them at the end."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        app.state.api = state = ApiState.open(settings)
        AUTH_CLIENTS.set_function(lambda: len(state.limiter))
        try:
            yield
        finally:
            app.state.api.close()

    return run


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="jcm-mrv",
        description="Monitoring reports and evidence for JCM projects.",
        version="0.1.0",
        lifespan=lifespan(settings),
        # /docs and /redoc come from mrv.api.docs, with their files served here (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodyLimit)
    app.middleware("http")(count)
    errors.install(app)
    pages.install(app)  # then the same errors as pages under /portal
    docs.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
