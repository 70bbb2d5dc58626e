"""The API's documentation in a real browser with the network closed: Swagger UI and
ReDoc load every file from the API itself (no CDN) and list the operations."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import serve
from tests.support.browser import offline_page, policy_refusals

#: Operation ids the pages must list: one per kind of caller.
OPERATIONS = ("entries-list", "reports-issue", "evidence-bundle", "periods-list")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("docs-home")
    with serve(home) as (url, _):
        yield url


def test_docs_page_names_no_other_host(api_url):
    html = httpx.get(f"{api_url}/docs").text
    assert "/static/docs/swagger-ui-bundle.js" in html
    for page in ("/docs", "/redoc"):
        answer = httpx.get(f"{api_url}{page}")
        assert "cdn." not in answer.text and "googleapis" not in answer.text, page
        assert "default-src 'self'" in answer.headers["content-security-policy"]
    js = httpx.get(f"{api_url}/static/docs/swagger-ui-bundle.js")
    assert js.status_code == 200 and 'PACKAGE_VERSION:"5.' in js.text  # Swagger UI 5


def test_swagger_ui_lists_the_operations_offline(browser, api_url, shot):
    with offline_page(browser, viewport={"width": 1280, "height": 900}) as (page, guard):
        page.goto(f"{api_url}/docs")
        page.locator(".opblock").first.wait_for(timeout=30_000)
        listed = page.locator(".opblock-summary-operation-id").all_inner_texts()
        errors = page.locator(".errors-wrapper, .loading-container .errors").all_inner_texts()
        shot(page, "docs", full_page=False)
        refused = policy_refusals(page)
    assert guard.blocked == []
    assert refused == []
    assert errors == []
    for operation in OPERATIONS:
        assert operation in listed
    assert page.url.endswith("/docs")


def test_redoc_lists_the_operations_offline(browser, api_url, shot):
    with offline_page(browser, viewport={"width": 1280, "height": 900}) as (page, guard):
        page.goto(f"{api_url}/redoc")
        page.locator("[data-section-id^='operation/']").first.wait_for(timeout=30_000)
        sections = page.locator("[data-section-id^='operation/']").evaluate_all(
            "els => els.map(e => e.getAttribute('data-section-id'))"
        )
        shot(page, "redoc", full_page=False)
        refused = policy_refusals(page)
    assert guard.blocked == []
    # ReDoc's one hard-coded outside file, its maker's logo, is refused by the page's
    # policy before any request leaves (mrv.api.docs.POLICY); nothing else is.
    assert refused == ["img-src https://cdn.redoc.ly/redoc/logo-mini.svg"]
    for operation in OPERATIONS:
        assert f"operation/{operation}" in sections


def test_the_assets_are_served_with_their_types(api_url):
    for name, kind in (
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "javascript"),
    ):
        answer = httpx.get(f"{api_url}/static/docs/{name}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"]
    missing = httpx.get(f"{api_url}/static/docs/../../etc/passwd")
    assert missing.status_code == 404
