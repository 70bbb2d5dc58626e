"""Bad input through a real ``mrv api`` (issue 12, item 5): every attack and every careless
value answers a clear 4xx in the one shape ``{error, field}``, never a 500, and never
leaves a project whose reports fail."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import update

from persistence.models import Entry
from tests.support.api import ENTRY, behind_the_api, prepare, run, token

P = "th-solar-rooftops"
HUGE = str(2**70)
BIG_INT = 2**63


def _auth(home: Path, *args: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(home, *args)}"}


def _refused(answer: httpx.Response, field: str | None, status: int = 422) -> dict[str, Any]:
    """A 4xx in the one shape, naming ``field``."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    body = answer.json()
    assert set(body) <= {"error", "field", "problems"} and body["error"], body
    assert body["field"] == field, body
    return body


def _entry(**changes: Any) -> dict[str, Any]:
    body = {**ENTRY["body"], **changes.pop("body", {})}
    return {**ENTRY, "id": str(uuid.uuid4()), "body": body, **changes}


def _invoice(start: str, end: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "fuel_invoice",
        "author": "somchai.k",
        "body": {
            "invoice_number": "EGAT-2026-06",
            "period_start": start,
            "period_end": end,
            "value": 88.1,
            "unit": "MWh",
            "monitoring_point": "MP-A",
        },
    }


def _report(url: str, auth: dict[str, str], start: str, end: str) -> httpx.Response:
    return httpx.get(
        f"{url}/v1/projects/{P}/reports",
        params={"start": start, "end": end},
        headers=auth,
        timeout=120,
    )


def test_the_500_list_answers_4xx_and_reports_keep_working(server: tuple[str, Path]) -> None:
    """The issue's must-show: each request that answered 500 answers 4xx with
    ``{error, field}``; a future-dated calibration is refused; reports keep working."""
    url, home = server
    field = _auth(home, "--role", "field", "--project", P, "--label", "somchai.k")
    operator = _auth(home, "--role", "operator", "--project", P)
    base = f"{url}/v1/projects/{P}"

    # 1. a calibration certificate dated 9999-12-31, by a field token and by an operator
    future = _entry(body={"calibrated_on": "9999-12-31"})
    _refused(httpx.post(f"{base}/entries", json=future, headers=field), "body.calibrated_on")
    cal = {
        "id": str(uuid.uuid4()),
        "author": "lab",
        "calibrated_on": "9999-12-31",
        "certificate": "FAKE-1",
        "result": "within_tolerance",
        "error_pct": 0.1,
    }
    _refused(
        httpx.post(f"{base}/devices/pv-a-meter/calibrations", json=cal, headers=operator),
        "calibrated_on",
    )
    # ... and the day after tomorrow: also the future
    soon = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    soon_entry = _entry(body={"calibrated_on": soon})
    _refused(httpx.post(f"{base}/entries", json=soon_entry, headers=field), "body.calibrated_on")
    assert httpx.get(f"{base}/devices/pv-a-meter/calibrations", headers=field).status_code == 200

    # 2. invoices dated 0001 or 9999
    for start, end, at in [
        ("0001-01-01", "0001-01-31", "body.period_start"),
        ("2026-06-01", "9999-12-31", "body.period_end"),
        ("9999-01-01", "9999-12-31", "body.period_start"),
    ]:
        invoice = _invoice(start, end)
        _refused(httpx.post(f"{base}/entries", json=invoice, headers=field), at)

    # 3. recorded_at that overflows when converted to UTC, and timestamps out of sense
    for moment in ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"]:
        entry = _entry(recorded_at=moment)
        _refused(httpx.post(f"{base}/entries", json=entry, headers=field), "recorded_at")
    entry = _entry(recorded_at="1999-12-31T23:59:59Z")
    _refused(httpx.post(f"{base}/entries", json=entry, headers=field), "recorded_at")

    # 4. the readings cursor with huge integers
    readings = f"{base}/readings"
    for cursor in [f"{HUGE}~pv-a-meter~energy_export~1", f"0~pv-a-meter~energy_export~{HUGE}"]:
        answer = httpx.get(readings, params={"cursor": cursor}, headers=field)
        _refused(answer, "cursor")

    # 5. reports over years the product does not know
    _refused(_report(url, field, "0001-01-01", "0001-12-31"), "start")
    _refused(_report(url, field, "9999-12-01", "9999-12-20"), "start")
    _refused(_report(url, field, "2026-06-01", "9999-12-20"), "end")

    # 6. quarantine release with ids past 63 bits
    release = f"{base}/quarantine/release"
    for ids in ([BIG_INT], [2**64 + 5], [-1], [0]):
        _refused(httpx.post(release, json={"ids": ids}, headers=operator), "ids[0]")
    too_many = {"ids": list(range(1, 10_002))}
    _refused(httpx.post(release, json=too_many, headers=operator), "ids")

    # and the project's reports keep working
    assert httpx.post(f"{base}/entries", json=_entry(), headers=field).status_code == 201
    report = _report(url, field, "2026-06-01", "2026-06-30")
    assert report.status_code == 200, report.text
    # outside the crediting period (2026 to 2030) but inside the window: reported
    before = _report(url, field, "2025-01-01", "2025-12-31")
    assert before.status_code == 200, before.text


def test_a_future_calibration_stored_behind_the_apis_back(server: tuple[str, Path]) -> None:
    """A certificate dated 9999-12-31 already in the store (accepted before the check):
    the calibrations route answers 200 with the next due date clamped, and the project's
    reports still compute."""
    url, home = server
    field = _auth(home, "--role", "field", "--project", P, "--label", "somchai.k")
    base = f"{url}/v1/projects/{P}"
    stored = _entry()
    assert httpx.post(f"{base}/entries", json=stored, headers=field).status_code == 201
    body = {**stored["body"], "calibrated_on": "9999-12-31"}
    with behind_the_api(home) as conn:
        conn.execute(update(Entry).where(Entry.id == stored["id"]).values(body=body))

    answer = httpx.get(f"{base}/devices/pv-a-meter/calibrations", headers=field)
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["calibrations"][-1]["date"] == "9999-12-31"
    assert listed["next_due"] == date.max.isoformat()
    report = _report(url, field, "2026-06-01", "2026-06-30")
    assert report.status_code == 200, report.text


def test_entry_times_are_checked_by_sense(server: tuple[str, Path]) -> None:
    url, home = server
    field = _auth(home, "--role", "field", "--project", P, "--label", "somchai.k")
    entries = f"{url}/v1/projects/{P}/entries"
    reading = {
        "device": "pv-a-meter",
        "quantity": "energy_export",
        "value": 120.5,
        "unit": "MWh",
    }
    ticket = {
        "ticket_number": "WB-1",
        "net_mass": {"value": 12.0, "unit": "t"},
        "material": "rice husk",
    }
    visit = {"items": {"meter seals intact": True}}
    cases = [
        ("meter_reading", {**reading, "time": "1999-12-31T23:59:59Z"}, "body.time"),
        ("meter_reading", {**reading, "time": "0001-01-01T00:00:00+23:59"}, "body.time"),
        ("meter_reading", {**reading, "time": "9999-12-31T23:59:59-23:59"}, "body.time"),
        ("meter_reading", {**reading, "time": "3000-01-01T00:00:00Z"}, "body.time"),
        ("weighbridge_ticket", {**ticket, "time": "1970-01-01T00:00:00Z"}, "body.time"),
        ("weighbridge_ticket", {**ticket, "time": "9999-12-31T00:00:00Z"}, "body.time"),
        (
            "site_visit_checklist",
            {**visit, "visited_at": "1900-01-01T00:00:00Z"},
            "body.visited_at",
        ),
        (
            "site_visit_checklist",
            {**visit, "visited_at": "0001-01-01T00:00:00+23:59"},
            "body.visited_at",
        ),
        (
            "calibration_certificate",
            {**ENTRY["body"], "calibrated_on": "1999-12-31"},
            "body.calibrated_on",
        ),
        (
            "calibration_certificate",
            {**ENTRY["body"], "calibrated_on": "0001-01-01"},
            "body.calibrated_on",
        ),
    ]
    for kind, body, at in cases:
        entry = {"id": str(uuid.uuid4()), "type": kind, "author": "somchai.k", "body": body}
        _refused(httpx.post(entries, json=entry, headers=field), at)

    # an edit is checked as a new entry is
    first = _entry()
    assert httpx.post(entries, json=first, headers=field).status_code == 201
    change = {
        "body": {**first["body"], "calibrated_on": "9999-12-31"},
        "reason": "typo",
        "author": "somchai.k",
    }
    _refused(
        httpx.put(f"{entries}/{first['id']}", json=change, headers=field), "body.calibrated_on"
    )
    overflow = {**change, "body": {**first["body"], "calibrated_on": "2026-06-21"}}
    overflow["base_revision"] = BIG_INT
    _refused(httpx.put(f"{entries}/{first['id']}", json=overflow, headers=field), "base_revision")
    # inside the windows, entries are taken
    invoice = _invoice("2026-06-01", "2026-06-30")
    assert httpx.post(entries, json=invoice, headers=field).status_code == 201


def test_operator_dates_are_checked_by_sense(server: tuple[str, Path]) -> None:
    url, home = server
    operator = _auth(home, "--role", "operator", "--project", P)
    base = f"{url}/v1/projects/{P}"
    for removed in ["9999-12-31", "0001-01-01"]:
        retire = {"removed": removed, "reason": "replaced"}
        answer = httpx.post(f"{base}/devices/pv-b-meter/retire", json=retire, headers=operator)
        _refused(answer, "removed")
    for start, end, at in [
        ("0001-01-01", "0001-12-31", "start"),
        ("2026-01-01", "9999-12-31", "end"),
    ]:
        answer = httpx.post(f"{base}/periods", json={"start": start, "end": end}, headers=operator)
        _refused(answer, at)


#: Extreme values for each kind of parameter.
EXTREMES: dict[str, list[str]] = {
    "int": [HUGE, str(BIG_INT), "-1", "0", "-" + HUGE, "1e400", "nan"],
    "date": ["0001-01-01", "9999-12-31", "2026-02-30", "x" * 10_000],
    "datetime": [
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        HUGE,
        "-" + HUGE,
        "x" * 10_000,
    ],
    "string": ["x" * 10_000, "\x00", "é" * 300, "../../etc/passwd", "~~~"],
    "cursor": [
        f"{HUGE}~a~b~1",
        f"-{HUGE}~a~b~1",
        f"0~a~b~{HUGE}",
        f"0~a~b~-{HUGE}",
        "0~" + "a" * 200 + "~b~1",
        "0~a~b~1~2",
        "x" * 10_000,
    ],
}


def _kind(name: str, schema: dict[str, Any]) -> str:
    if name == "cursor" and schema.get("type") == "string":
        return "cursor"
    options = schema.get("anyOf", [schema])
    for option in options:
        if option.get("type") == "integer" or option.get("type") == "number":
            return "int"
        if option.get("format") == "date":
            return "date"
        if option.get("format") == "date-time":
            return "datetime"
    return "string"


def test_extreme_parameters_never_answer_5xx(server: tuple[str, Path]) -> None:
    """Every GET route with parameters (photos aside: another's), each parameter in turn
    at its extremes: a 4xx in the one shape naming the parameter, or a 200; never 5xx."""
    url, home = server
    admin = _auth(home, "--role", "admin")
    spec = httpx.get(f"{url}/openapi.json").json()
    ordinary = {
        "project": P,
        "device": "pv-a-meter",
        "entry_id": ENTRY["id"],
        "start": "2026-06-01",
        "end": "2026-06-30",
    }
    tried, wrong = 0, []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or "/photos" in path or not get.get("parameters"):
            continue
        params = get["parameters"]
        for param in params:
            name, where = param["name"], param["in"]
            for value in EXTREMES[_kind(name, param.get("schema", {}))]:
                values = {p["name"]: ordinary.get(p["name"]) for p in params if p["required"]}
                values[name] = value
                route = path
                query = {}
                for key, given in values.items():
                    if "{" + key + "}" in route:
                        route = route.replace("{" + key + "}", quote(str(given), safe=""))
                    elif given is not None:
                        query[key] = given
                answer = httpx.get(f"{url}{route}", params=query, headers=admin, timeout=120)
                tried += 1
                what = f"GET {path} ({where} {name}={value[:40]!r})"
                if answer.status_code >= 500:
                    wrong.append((what, answer.status_code, answer.text[:200]))
                elif answer.status_code >= 400:
                    body = answer.json()
                    # a refused query parameter is named as the client wrote it
                    named = where != "query" or answer.status_code != 422 or body["field"] == name
                    if not set(body) >= {"error", "field"} or not named:
                        wrong.append((what, answer.status_code, body))
    assert not wrong, "\n".join(map(str, wrong))
    assert tried > 100


def test_the_cli_refuses_the_same(tmp_path: Path, db_url: str) -> None:
    """``mrv entries add`` and ``mrv report`` check the same windows as the API."""
    home = tmp_path / "home"
    prepare(home, db_url, tmp_path)
    entries = tmp_path / "entries.json"
    future = _entry(body={"calibrated_on": "9999-12-31"})
    invoice = _invoice("0001-01-01", "0001-01-31")
    overflow = _entry(recorded_at="0001-01-01T00:00:00+23:59")
    entries.write_text(json.dumps([future, invoice, overflow]))
    out = run("entries", "add", "--project", P, str(entries), home=home, code=1)
    assert "body.calibrated_on: 9999-12-31 is in the future" in out
    assert "body.period_start: 0001-01-01 is outside the crediting period" in out
    assert "recorded_at:" in out and "no time in UTC" in out
    assert "0 created, 0 existing, 3 rejected" in out

    period = ("--project", P, "-q")
    out = run("report", *period, "--start", "0001-01-01", "--end", "2026-06-30", home=home, code=2)
    assert "--start" in out and "before 2000-01-01" in out
    out = run("report", *period, "--start", "2026-06-01", "--end", "9999-12-20", home=home, code=2)
    assert "--end" in out and "9999-12-20" in out
    # outside the crediting period, inside the window: reported as before
    run("report", *period, "--start", "2025-01-01", "--end", "2025-12-31", home=home)


def test_text_a_store_cannot_hold_is_refused(server: tuple[str, Path]) -> None:
    """A NUL character (which PostgreSQL's text cannot hold) in a name, a reason or a
    device record, and a device calibrated in the future: 422 naming the field."""
    url, home = server
    admin = _auth(home, "--role", "admin")
    base = f"{url}/v1/projects/{P}"
    nul = "a\x00b"
    entry = _entry(author=nul)
    _refused(httpx.post(f"{base}/entries", json=entry, headers=admin), "author")
    cal = {
        "id": str(uuid.uuid4()),
        "author": nul,
        "calibrated_on": "2026-06-01",
        "certificate": "C-1",
        "result": "within_tolerance",
        "error_pct": 0.1,
    }
    answer = httpx.post(f"{base}/devices/pv-a-meter/calibrations", json=cal, headers=admin)
    _refused(answer, "author")
    retire = {"removed": "2026-06-30", "reason": nul}
    answer = httpx.post(f"{base}/devices/pv-b-meter/retire", json=retire, headers=admin)
    _refused(answer, "reason")
    stored = _entry()
    assert httpx.post(f"{base}/entries", json=stored, headers=admin).status_code == 201
    change = {"body": {**stored["body"], "certificate": "C-2"}, "reason": nul, "author": "lab"}
    answer = httpx.put(f"{base}/entries/{stored['id']}", json=change, headers=admin)
    _refused(answer, "reason")
    device = {
        "id": "pv-a9",
        "site": "rayong-a",
        "type": "ac_energy_meter",
        "serial": nul,
        "quantities": ["energy_export"],
        "register_max": 1e9,
        "max_permissible_error_pct": 0.5,
    }
    _refused(httpx.post(f"{base}/devices", json=device, headers=admin), "serial")
    future = {
        **device,
        "serial": "S-1",
        "calibration": {"interval_months": 12, "last": "9999-12-31"},
    }
    _refused(httpx.post(f"{base}/devices", json=future, headers=admin), "calibration.last")
    fine = {**future, "calibration": {"interval_months": 12, "last": "2026-05-02"}}
    assert httpx.post(f"{base}/devices", json=fine, headers=admin).status_code == 201
