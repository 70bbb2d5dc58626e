"""The API tests' server: a home with the solar and chiller plans and two readings, served
by a real ``mrv api`` on a free port, on each relational backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import prepare, serve


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[tuple[str, Path]]:
    home = tmp_path / "home"
    prepare(home, db_url, tmp_path)
    with serve(home) as (url, _):
        yield url, home
