"""The API tests' server: a home with the solar and chiller plans and two readings, served
by a real ``mrv api`` on a free port, on each relational backend; a headless chromium for
the browser tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.api import prepare, serve
from tests.support.browser import launch, screenshot


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[tuple[str, Path]]:
    home = tmp_path / "home"
    prepare(home, db_url, tmp_path)
    with serve(home) as (url, _):
        yield url, home


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, one per test module (tests.support.browser)."""
    with sync_playwright() as pw:
        launched = launch(pw)
        yield launched
        launched.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``shot(page, name, full_page=True)``: a screenshot into this test's artifacts
    folder."""
    return lambda page, name, full_page=True: screenshot(page, request.node.nodeid, name, full_page)
