"""The API's readings in the one table shape: the CSV page is ``mrv readings export``'s
bytes, the JSON page its rows, and an API export imports back unchanged into another
home, whose API then serves the same bytes. The report's ``csv`` is a zip package."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from persistence import readings_table
from persistence.readings_table import NAMES
from tests.cli.test_readings_table import LOGGER, STORED, P
from tests.support.api import run, serve, token
from tests.support.paths import TEST_PLAN


def _home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    run("plan", "load", str(TEST_PLAN), home=home)
    return home


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    home = _home(tmp_path, "a")
    logger = tmp_path / "logger.csv"
    logger.write_text(LOGGER)
    run("readings", "import", "--project", P, str(logger), home=home)
    auth = {"Authorization": f"Bearer {token(home, '--role', 'verifier', '--project', P)}"}
    with serve(home) as (url, _):
        yield f"{url}/v1/projects/{P}/readings", home, auth


def _csv(url: str, auth: dict[str, str], **params: object) -> httpx.Response:
    answer = httpx.get(url, params={"format": "csv", **params}, headers=auth, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    return answer


def test_the_csv_page_is_the_cli_export_and_the_json_page_its_rows(served) -> None:
    url, home, auth = served
    page = _csv(url, auth, limit=10_000).text
    assert page == run("readings", "export", "--project", P, home=home)
    assert len(page.splitlines()) == 1 + STORED

    # page by page, each page a table of its own: the same rows
    rows, cursor = [], None
    while True:
        answer = _csv(url, auth, limit=3, **({"cursor": cursor} if cursor else {}))
        header, *part = list(csv.reader(io.StringIO(answer.text)))
        assert tuple(header) == NAMES
        rows += part
        cursor = answer.headers.get("x-next-cursor")
        if cursor is None:
            break
    assert rows == list(csv.reader(io.StringIO(page)))[1:]

    records = httpx.get(url, params={"limit": 10_000}, headers=auth).json()["readings"]
    assert all(list(r) == list(NAMES) for r in records)
    assert [[readings_table.csv_cell(v) for v in r.values()] for r in records] == rows


def test_an_api_export_imports_back_unchanged(served, tmp_path: Path) -> None:
    url, home, auth = served
    exported = _csv(url, auth, limit=10_000).content
    path = tmp_path / "api-export.csv"
    path.write_bytes(exported)

    out = run("readings", "import", "--project", P, str(path), home=home)
    assert "0 stored" in out and f"{STORED} duplicates" in out and "0 conflicts" in out
    assert _csv(url, auth, limit=10_000).content == exported

    other = _home(tmp_path, "b")
    assert f"{STORED} stored" in run("readings", "import", "--project", P, str(path), home=other)
    other_auth = {"Authorization": f"Bearer {token(other, '--role', 'verifier', '--project', P)}"}
    with serve(other) as (other_url, _):
        again = _csv(f"{other_url}/v1/projects/{P}/readings", other_auth, limit=10_000)
    assert again.content == exported


def test_the_openapi_reading_is_the_table(served) -> None:
    url, _, _ = served
    spec = httpx.get(url.split("/v1/")[0] + "/openapi.json").json()
    reading = spec["components"]["schemas"]["ReadingOut"]
    assert tuple(reading["properties"]) == NAMES
    assert reading["properties"]["time"]["format"] == "date-time"
    assert (
        reading["properties"]["value"]["description"] == readings_table.BY_NAME["value"].description
    )


def test_the_report_csv_is_a_zip_package(server) -> None:
    url, home = server
    auth = {
        "Authorization": f"Bearer {token(home, '--role', 'verifier', '--project', 'th-solar-rooftops')}"
    }
    answer = httpx.get(
        f"{url}/v1/projects/th-solar-rooftops/reports",
        params={"start": "2026-06-01", "end": "2026-06-30", "format": "csv"},
        headers=auth,
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    disposition = answer.headers["content-disposition"]
    assert disposition == 'attachment; filename="th-solar-rooftops_2026-06-01_2026-06-30.zip"'
    with zipfile.ZipFile(io.BytesIO(answer.content)) as z:
        package = json.loads(z.read("datapackage.json"))
        files = {r["path"]: z.read(r["path"]).decode() for r in package["resources"]}
    head = next(csv.DictReader(io.StringIO(files["report.csv"])))
    assert head["inputs_sha256"] == answer.headers["x-inputs-sha256"]
    totals = {r["item"]: r for r in csv.DictReader(io.StringIO(files["totals.csv"]))}
    assert totals["emission_reductions"]["value"] == "60.0"
