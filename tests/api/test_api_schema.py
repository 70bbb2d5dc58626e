"""The API's OpenAPI document and its one error shape: every operation tagged, with a
stable operation id and its error answers declared with the error schema; files declared
with their real media types; and every error body, the framework's own included, is
``{"error", "field"}``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.config import Settings
from core.photos import MEDIA_TYPES as PHOTO_TYPES
from mrv.api.app import create_app
from tests.support.api import ENTRY, token
from verification.render import formats

ERROR_REF = "#/components/schemas/ErrorBody"
P = "th-solar-rooftops"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # The schema is built from the routes alone: no start-up, no stores.
    return create_app(Settings(home=tmp_path_factory.mktemp("home"))).openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]


def test_every_operation_is_tagged_with_a_stable_id(spec: dict[str, Any]) -> None:
    ids = []
    for method, path, op in operations(spec):
        assert op.get("tags"), f"{method} {path} has no tag"
        assert re.fullmatch(r"[a-z]+-[a-z]+", op.get("operationId", "")), (method, path)
        assert op["operationId"].split("-")[0] in {*op["tags"], "calibrations"}, op["operationId"]
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids)) >= 26
    # ids that clients may already use do not change
    assert {"entries-create", "entries-edit", "photos-upload", "reports-issue"} <= set(ids)


def test_every_error_answer_is_declared_with_the_one_schema(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        responses = op["responses"]
        for code, response in responses.items():
            if code.startswith("4"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, code)
        if op.get("security"):  # needs a token
            assert {"401", "429"} <= set(responses), (method, path)
        if path.startswith("/v1/projects/{project}"):
            assert {"403", "404", "422"} <= set(responses), (method, path)
        if "requestBody" in op:
            assert {"413", "422"} <= set(responses), (method, path)
            if "application/json" in op["requestBody"]["content"]:
                assert "400" in responses, (method, path)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "field"}


def test_every_json_answer_has_a_response_model(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        ok = next(r for code, r in op["responses"].items() if code.startswith("2"))
        content = ok["content"]
        if "application/json" in content:
            schema = content["application/json"]["schema"]
            assert (
                schema.get("$ref")
                or schema.get("items", {}).get("$ref")
                or (path.endswith("/reports"))
            ), (method, path, schema)


def test_files_are_declared_with_their_media_types(spec: dict[str, Any]) -> None:
    base = "/v1/projects/{project}"
    report = spec["paths"][f"{base}/reports"]["get"]["responses"]["200"]["content"]
    assert set(report) == set(formats.MEDIA_TYPES.values())
    assert report[formats.MEDIA_TYPES["pdf"]]["schema"]["format"] == "binary"
    photo = spec["paths"][base + "/photos/{sha256}"]["get"]["responses"]["200"]["content"]
    assert set(photo) == set(PHOTO_TYPES)
    upload = spec["paths"][f"{base}/photos"]["post"]["requestBody"]["content"]
    assert set(upload) == set(PHOTO_TYPES)
    readings = spec["paths"][f"{base}/readings"]["get"]["responses"]["200"]["content"]
    assert set(readings) == {"application/json", "text/csv; charset=utf-8"}
    assert report["application/zip"]["schema"]["format"] == "binary"  # the csv package
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert [t.split(";")[0] for t in metrics] == ["text/plain"]


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert isinstance(body["error"], str) and body["error"], body
    assert "field" in body and (body["field"] is None or isinstance(body["field"], str))
    assert "detail" not in body
    return body


def test_the_frameworks_own_errors_have_the_one_shape(server: tuple[str, Path]) -> None:
    url, home = server
    auth = {"Authorization": f"Bearer {token(home, '--role', 'admin')}"}
    entries = f"{url}/v1/projects/{P}/entries"

    unknown = error_of(httpx.get(f"{url}/v1/nowhere", headers=auth), 404)
    assert unknown["field"] is None and "/v1/nowhere" in unknown["error"]
    wrong = httpx.delete(f"{url}/v1/projects/{P}/readings", headers=auth)
    assert error_of(wrong, 405)["field"] is None and wrong.headers["allow"] == "GET"
    query = error_of(httpx.get(entries, params={"limit": "many"}, headers=auth), 422)
    assert query["field"] == "limit" and query["problems"][0]["field"] == "limit"
    broken = httpx.post(
        entries, content=b'{"id": ', headers={**auth, "Content-Type": "application/json"}
    )
    assert error_of(broken, 422)["field"] == "body"
    unreadable = httpx.post(
        entries, content=b'{"id": "\xff"}', headers={**auth, "Content-Type": "application/json"}
    )
    assert error_of(unreadable, 400)["field"] == "body"
    several = error_of(httpx.post(entries, json={"id": ENTRY["id"]}, headers=auth), 422)
    assert several["field"] == "type" and len(several["problems"]) == 3

    # our own refusals: the field when one is at fault, null when none is
    assert error_of(httpx.get(f"{url}/v1/projects"), 401)["field"] is None
    missing = httpx.get(f"{entries}/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=auth)
    assert error_of(missing, 404)["field"] == "id"
    reversed_days = {"start": "2026-06-30", "end": "2026-06-01"}
    report = httpx.get(f"{url}/v1/projects/{P}/reports", params=reversed_days, headers=auth)
    assert error_of(report, 422)["field"] == "end"
    huge = httpx.post(
        entries, content=b"x" * 1_100_000, headers={**auth, "Content-Type": "application/json"}
    )
    assert error_of(huge, 413)["field"] == "body"
