"""The API's documentation pages, served without internet: Swagger UI (``/docs``) and
ReDoc (``/redoc``) load their scripts and styles from the API itself, never from a CDN.

FastAPI emits OpenAPI 3.1, which Swagger UI renders from version 5 on (the
``swagger-ui-bundle`` package carries 4.15 and refuses it). The files come from the
``fastapi-offline`` package (Swagger UI 5 and ReDoc 2, with their licence notices), which
is used for its files only: the application is still ours.
"""

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the documentation's files are served from.
DOCS_ASSETS = "/static/docs"
DOCS_FILES = Path(str(files("fastapi_offline") / "static"))
# Swagger UI checks a spec against swagger.io's validator unless told not to: a request
# leaving the machine, and a broken badge offline.
SWAGGER_PARAMETERS = {"validatorUrl": None, "displayOperationId": True}
# The pages may load from this server only. ReDoc's sidebar shows Redocly's logo from
# their CDN (hard-coded, hidden when it fails to load): the policy stops the browser from
# asking, so that reading the docs sends nothing off the machine. The inline scripts
# are the pages' own starters (FastAPI's templates); ReDoc searches in a blob: worker.
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    )
)


def _pinned(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page


def install(app: FastAPI) -> None:
    """Serve the assets and the two pages (the app is made with docs_url=None and
    redoc_url=None, so FastAPI's CDN pages are not there)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=DOCS_FILES), name="docs-assets")
    title = app.title
    openapi = app.openapi_url or "/openapi.json"
    redirect = app.swagger_ui_oauth2_redirect_url

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi}",
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=redirect,
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )
        return _pinned(page)

    if redirect:

        @app.get(redirect, include_in_schema=False)
        async def swagger_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi}",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        return _pinned(page)
