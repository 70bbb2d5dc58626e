"""The HTTP API's first slice through a real ``mrv api`` (uvicorn) on a free port: health,
OpenAPI, tokens per role and project, and monitoring reports streamed as files."""

from __future__ import annotations

import json
import time

import httpx
from sqlalchemy import text
from typer.testing import CliRunner

from tests.support.api import ENTRY, behind_the_api, run, serve, token

runner = CliRunner()


def test_health_and_openapi_need_no_token(server) -> None:
    url, _ = server
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/v1/projects/{project}/reports" in spec["paths"]
    assert "mrv_api_requests_total" in httpx.get(f"{url}/metrics").text
    reference = httpx.get(f"{url}/v1/catalogue").json()
    energy = next(q for q in reference["quantities"] if q["name"] == "energy_export")
    assert energy["units"][:2] == ["kWh", "MWh"] and energy["minimum"] == 0.0


def test_a_verifier_reads_its_project_and_nothing_else(server) -> None:
    url, home = server
    verifier = token(home, "--role", "verifier", "--project", "th-solar-rooftops", "--label", "TPE")
    auth = {"Authorization": f"Bearer {verifier}"}
    assert [p["id"] for p in httpx.get(f"{url}/v1/projects", headers=auth).json()] == [
        "th-solar-rooftops"
    ]
    query = {"start": "2026-06-01", "end": "2026-06-30"}
    r = httpx.get(
        f"{url}/v1/projects/th-solar-rooftops/reports", params=query, headers=auth, timeout=60
    )
    assert r.status_code == 200, r.text
    report = json.loads(r.content)
    assert report["emission_reductions_tco2"]["value"] == 60
    assert r.headers["x-inputs-sha256"] == report["inputs_sha256"]
    pdf = httpx.get(
        f"{url}/v1/projects/th-solar-rooftops/reports",
        params={**query, "format": "pdf"},
        headers=auth,
        timeout=60,
    )
    assert pdf.content.startswith(b"%PDF") and "attachment" in pdf.headers["content-disposition"]
    denied = httpx.get(f"{url}/v1/projects/id-mall-chillers/reports", params=query, headers=auth)
    assert denied.status_code == 403 and "does not grant" in denied.json()["error"]
    bad = httpx.get(
        f"{url}/v1/projects/th-solar-rooftops/reports",
        params={"start": "2026-06-30", "end": "2026-06-01"},
        headers=auth,
    )
    assert bad.status_code == 422 and bad.json()["error"].startswith("end:")


def test_missing_expired_and_revoked_tokens_are_refused(server) -> None:
    url, home = server
    assert httpx.get(f"{url}/v1/projects").status_code == 401
    assert (
        httpx.get(f"{url}/v1/projects", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    expired = token(
        home, "--role", "verifier", "--project", "th-solar-rooftops", "--expires", "0.00001"
    )
    time.sleep(1.5)
    assert (
        httpx.get(f"{url}/v1/projects", headers={"Authorization": f"Bearer {expired}"}).status_code
        == 401
    )
    admin = token(home, "--role", "admin")
    auth = {"Authorization": f"Bearer {admin}"}
    assert len(httpx.get(f"{url}/v1/projects", headers=auth).json()) == 2
    listing = run("token", "list", home=home)
    admin_id = next(line.split("│")[1].strip() for line in listing.splitlines() if "admin" in line)
    run("token", "revoke", admin_id, home=home)
    assert httpx.get(f"{url}/v1/projects", headers=auth).status_code == 401
    run("token", "create", "--role", "verifier", home=home, code=2)  # no project
    typo = run("token", "create", "--role", "verifier", "--project", "th-solar", home=home, code=2)
    assert "no project 'th-solar'" in typo
    nameless = run(
        "token", "create", "--role", "field", "--project", "th-solar-rooftops", home=home, code=2
    )
    assert "--label" in nameless


def test_field_entries_are_idempotent_validated_and_edited_with_a_reason(server) -> None:
    url, home = server
    field = {
        "Authorization": f"Bearer {token(home, '--role', 'field', '--project', 'th-solar-rooftops', '--label', 'somchai.k')}"
    }
    verifier = {
        "Authorization": f"Bearer {token(home, '--role', 'verifier', '--project', 'th-solar-rooftops')}"
    }
    entries = f"{url}/v1/projects/th-solar-rooftops/entries"
    first = httpx.post(entries, json=ENTRY, headers=field)
    assert first.status_code == 201, first.text
    again = httpx.post(entries, json=ENTRY, headers=field)  # a resend after a lost answer
    assert again.status_code == 200 and again.json()["id"] == ENTRY["id"]
    other = {**ENTRY, "body": {**ENTRY["body"], "error_pct": 0.3}}
    assert httpx.post(entries, json=other, headers=field).status_code == 409
    bad = {
        **ENTRY,
        "id": "5b3f0c7a-8a1e-4f5e-9d7a-1b2c3d4e5f62",
        "body": {**ENTRY["body"], "device": "pv-z"},
    }
    refused = httpx.post(entries, json=bad, headers=field)
    assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == "body.device"
    assert httpx.post(entries, json=ENTRY, headers=verifier).status_code == 403  # read-only
    one = f"{entries}/{ENTRY['id']}"
    edit = {
        "body": {**ENTRY["body"], "error_pct": 0.15},
        "reason": "typo on the certificate",
        "author": "somchai.k",
    }
    assert httpx.put(one, json={**edit, "reason": ""}, headers=field).status_code == 422
    edited = httpx.put(one, json=edit, headers=field)
    assert edited.status_code == 200 and edited.json()["revision"] == 2
    shown = httpx.get(one, headers=verifier).json()
    assert [h["reason"] for h in shown["history"]] == [None, "typo on the certificate"]
    listed = httpx.get(entries, params={"type": "calibration_certificate"}, headers=verifier)
    listed = listed.json()["entries"]
    unknown = httpx.get(entries, params={"type": "invoice"}, headers=verifier)
    assert unknown.status_code == 422 and unknown.json()["problems"][0]["field"] == "type"
    assert [e["id"] for e in listed] == [ENTRY["id"]]


def test_readings_page_by_cursor_and_the_audit_chain_verifies(server) -> None:
    url, home = server
    auth = {
        "Authorization": f"Bearer {token(home, '--role', 'verifier', '--project', 'th-solar-rooftops')}"
    }
    readings = f"{url}/v1/projects/th-solar-rooftops/readings"
    page = httpx.get(readings, params={"limit": 1}, headers=auth).json()
    assert [r["value"] for r in page["readings"]] == [0.0] and page["next_cursor"]
    rest = httpx.get(
        readings, params={"limit": 1, "cursor": page["next_cursor"]}, headers=auth
    ).json()
    assert [r["value"] for r in rest["readings"]] == [120_000.0] and rest["next_cursor"] is None
    csv_page = httpx.get(readings, params={"format": "csv"}, headers=auth)
    assert csv_page.text.splitlines()[0].startswith("time,project,site,device,seq,quantity")
    assert (
        httpx.get(readings, params={"cursor": "nonsense"}, headers=auth).json()["field"] == "cursor"
    )

    verify = f"{url}/v1/projects/th-solar-rooftops/audit/verify"
    verdict = httpx.get(verify, headers=auth).json()
    assert verdict["intact"] and verdict["length"] > 0
    # tamper with the chain behind the API's back: the first changed link is named
    with behind_the_api(home) as conn:
        conn.execute(
            text(
                "UPDATE audit_log SET actor = 'mallory' "
                "WHERE chain = 'th-solar-rooftops' AND seq = 2"
            )
        )
    broken = httpx.get(verify, headers=auth).json()
    assert broken["intact"] is False and broken["broken_at"] == 2
    assert broken["reason"] == "its content does not match its hash"


def test_operator_actions_reads_and_limits(server) -> None:
    url, home = server
    operator = {
        "Authorization": f"Bearer {token(home, '--role', 'operator', '--project', 'th-solar-rooftops')}"
    }
    verifier = {
        "Authorization": f"Bearer {token(home, '--role', 'verifier', '--project', 'th-solar-rooftops')}"
    }
    periods = f"{url}/v1/projects/th-solar-rooftops/periods"
    first = {"start": "2026-01-01", "end": "2026-06-30"}
    assert httpx.post(periods, json=first, headers=verifier).status_code == 403
    assert httpx.post(periods, json=first, headers=operator).json()["number"] == 1
    gap = httpx.post(periods, json={"start": "2026-08-01", "end": "2026-12-31"}, headers=operator)
    assert gap.status_code == 422 and gap.json()["field"] == "start"
    assert httpx.get(periods, headers=verifier).json() == [{"number": 1, **first}]
    assert (
        httpx.get(f"{url}/v1/projects/th-solar-rooftops/quarantine", headers=verifier).json() == []
    )
    events = httpx.get(f"{url}/v1/projects/th-solar-rooftops/events", headers=verifier)
    assert events.status_code == 200 and isinstance(events.json(), list)
    huge = httpx.post(
        f"{url}/v1/projects/th-solar-rooftops/entries",
        content=b"x" * 1_100_000,
        headers={**operator, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    # guessing tokens is slowed down
    for _ in range(5):
        assert (
            httpx.get(f"{url}/v1/projects", headers={"Authorization": "Bearer guess"}).status_code
            == 401
        )
    slowed = httpx.get(f"{url}/v1/projects", headers={"Authorization": "Bearer guess"})
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) > 0
    # each checked failure is in the security log (the throttled one was not checked)
    with behind_the_api(home) as conn:
        failed = conn.execute(
            text("SELECT count(*) FROM security_events WHERE kind = 'auth.failed'")
        ).scalar()
    assert failed == 5


def test_an_entry_changed_behind_the_apis_back_is_named(server) -> None:
    url, home = server
    field = {
        "Authorization": f"Bearer {token(home, '--role', 'field', '--project', 'th-solar-rooftops', '--label', 'somchai.k')}"
    }
    assert (
        httpx.post(
            f"{url}/v1/projects/th-solar-rooftops/entries", json=ENTRY, headers=field
        ).status_code
        == 201
    )
    verify = f"{url}/v1/projects/th-solar-rooftops/audit/verify"
    clean = httpx.get(verify, headers=field).json()
    assert clean["intact"] and clean["checked"]["entries"] == 1 and clean["changes"] == []
    with behind_the_api(home) as conn:
        body = conn.execute(
            text("SELECT body FROM entries WHERE id = :i"), {"i": ENTRY["id"]}
        ).scalar()
        body = json.loads(body) if isinstance(body, str) else body
        body["error_pct"] = 0.01
        conn.execute(
            text("UPDATE entries SET body = :b WHERE id = :i"),
            {"b": json.dumps(body), "i": ENTRY["id"]},
        )
    tampered = httpx.get(verify, headers=field).json()
    assert tampered["intact"] is False
    assert tampered["changes"] == [
        {"kind": "entry", "id": ENTRY["id"], "what": "its current body was changed"}
    ]


def resend_storm(url: str, auth: dict[str, str], clients: int, count: int) -> list[int]:
    """``clients`` parallel clients each send the same ``count`` meter readings, each in
    its own order; returns every answer's status code."""
    import random
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    entries = [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"read-{k}")),
            "type": "meter_reading",
            "author": "field-team",
            "body": {
                "device": "pv-a-meter",
                "quantity": "energy_export",
                "time": f"2026-06-{1 + k // 24:02d}T{k % 24:02d}:00:00Z",
                "value": 1000.0 + k,
                "unit": "kWh",
            },
        }
        for k in range(count)
    ]

    def client(n: int) -> list[int]:
        order = entries[:]
        random.Random(n).shuffle(order)
        with httpx.Client(base_url=url, headers=auth, timeout=60) as c:
            return [
                c.post("/v1/projects/th-solar-rooftops/entries", json=e).status_code for e in order
            ]

    with ThreadPoolExecutor(clients) as pool:
        return [code for result in pool.map(client, range(clients)) for code in result]


def test_fifty_clients_resending_the_same_entries_store_each_once(server) -> None:
    """50 parallel clients each send the same 200 entries (in their own order) to a server
    with two worker processes: exactly 200 are stored, each resend answered with the
    stored entry, never a 500."""
    _, home = server
    auth = {
        "Authorization": f"Bearer {token(home, '--role', 'field', '--project', 'th-solar-rooftops', '--label', 'field-team')}"
    }
    with serve(home, workers=2) as (url, _):
        codes = resend_storm(url, auth, 50, 200)
        assert set(codes) <= {200, 201}, sorted(set(codes))
        assert codes.count(201) == 200
        # read back a page at a time: every entry once
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 64, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(
                f"{url}/v1/projects/th-solar-rooftops/entries", params=params, headers=auth
            ).json()
            seen += [e["id"] for e in page["entries"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 200


def test_two_workers_and_a_second_instance_share_one_store(server) -> None:
    """``mrv api --workers 2`` beside the fixture's own instance, on the same stores:
    clients spread over both servers still store each entry exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    import psutil

    url, home = server
    auth = {
        "Authorization": f"Bearer {token(home, '--role', 'field', '--project', 'th-solar-rooftops', '--label', 'field-team')}"
    }
    with serve(home, workers=2) as (url2, proc):
        deadline = time.monotonic() + 30
        while len(psutil.Process(proc.pid).children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(psutil.Process(proc.pid).children()) >= 2  # the two workers
        with ThreadPoolExecutor(2) as pool:  # both servers at once
            storms = [pool.submit(resend_storm, u, auth, 6, 40) for u in (url, url2)]
            codes = [code for storm in storms for code in storm.result()]
    assert set(codes) <= {200, 201}, sorted(set(codes))
    assert codes.count(201) == 40
    stored = httpx.get(f"{url}/v1/projects/th-solar-rooftops/entries", headers=auth).json()
    assert len(stored["entries"]) == 40 and stored["next_cursor"] is None
