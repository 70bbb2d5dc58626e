"""What each role can and cannot do, action by action, through a real ``mrv api``.

One table says which roles may take each action; every role is tried on every action,
so a permission that leaks (or one that goes missing) fails here by name.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import text

from tests.test_api import behind_the_api, server, token

__all__ = ["server"]

P = "th-solar-rooftops"
OTHER = "id-mall-chillers"
READERS = {"field", "verifier", "operator", "admin"}
WRITERS = {"field", "operator", "admin"}
OPERATORS = {"operator", "admin"}
NAME = {"field": "somchai.k", "verifier": "v.auditor", "operator": "ops.niran", "admin": "root"}


def reading(author: str, entry_id: str | None = None) -> dict[str, Any]:
    return {
        "id": entry_id or str(uuid.uuid4()),
        "type": "meter_reading",
        "author": author,
        "body": {
            "device": "pv-a-meter",
            "quantity": "energy_export",
            "time": "2026-06-10T08:00:00Z",
            "value": 60.5,
            "unit": "MWh",
        },
    }


def edit(author: str) -> dict[str, Any]:
    body = {**reading(author)["body"], "value": 60.6}
    return {"body": body, "reason": "misread the last digit", "author": author}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.parametrize("role", ["field", "verifier", "operator", "admin"])
def test_each_role_can_do_what_it_should_and_nothing_else(
    server: tuple[str, Path], role: str
) -> None:
    url, home = server
    grant = ["--project", P] if role != "admin" else []
    mine = {"Authorization": f"Bearer {token(home, '--role', role, *grant, '--label', NAME[role])}"}
    admin = {"Authorization": f"Bearer {token(home, '--role', 'admin', '--label', 'setup')}"}
    base = f"{url}/v1/projects/{P}"

    # Entries to edit: one of this role's person, one of someone else's.
    own_id, others_id = str(uuid.uuid4()), str(uuid.uuid4())
    for entry_id, author in ((own_id, NAME[role]), (others_id, "other.person")):
        made = httpx.post(f"{base}/entries", json=reading(author, entry_id), headers=admin)
        assert made.status_code == 201, made.text

    # (action, allowed roles, request, status when allowed)
    actions: list[tuple[str, set[str], tuple[str, str, dict[str, Any]], int]] = [
        ("read the plan", READERS, ("GET", "/plan", {}), 200),
        ("list devices", READERS, ("GET", "/devices", {}), 200),
        ("list entries", READERS, ("GET", "/entries", {}), 200),
        ("read an entry", READERS, ("GET", f"/entries/{own_id}", {}), 200),
        ("page readings", READERS, ("GET", "/readings", {}), 200),
        ("export readings", READERS, ("GET", "/readings", {"params": {"format": "csv"}}), 200),
        ("list quarantine", READERS, ("GET", "/quarantine", {}), 200),
        ("list events", READERS, ("GET", "/events", {}), 200),
        ("list periods", READERS, ("GET", "/periods", {}), 200),
        ("list photos", READERS, ("GET", "/photos", {}), 200),
        ("verify the audit chain", READERS, ("GET", "/audit/verify", {}), 200),
        ("read calibrations", READERS, ("GET", "/devices/pv-a-meter/calibrations", {}), 200),
        (
            "get a report",
            READERS,
            ("GET", "/reports", {"params": {"start": "2026-06-01", "end": "2026-06-30"}}),
            200,
        ),
        ("submit an entry", WRITERS, ("POST", "/entries", {"json": reading(NAME[role])}), 201),
        ("edit own entry", WRITERS, ("PUT", f"/entries/{own_id}", {"json": edit(NAME[role])}), 200),
        (
            "edit another's entry",
            OPERATORS,
            ("PUT", f"/entries/{others_id}", {"json": edit(NAME[role])}),
            200,
        ),
        (
            "upload a photo",
            WRITERS,
            ("POST", "/photos", {"content": jpeg(), "headers": {"Content-Type": "image/jpeg"}}),
            201,
        ),
        (
            "define a period",
            OPERATORS,
            ("POST", "/periods", {"json": {"start": "2026-01-01", "end": "2026-03-31"}}),
            201,
        ),
        (
            "register a device",
            OPERATORS,
            (
                "POST",
                "/devices",
                {
                    "json": {
                        "id": "pv-b2-meter",
                        "site": "rayong-b",
                        "type": "ac_energy_meter",
                        "serial": "SCH-PM5560-9001",
                        "quantities": ["energy_export"],
                        "max_permissible_error_pct": 0.5,
                        "register_max": 9999999.9,
                        "calibration": {"interval_months": 24, "last": "2026-06-01"},
                    }
                },
            ),
            201,
        ),
        (
            "record a calibration",
            OPERATORS,
            (
                "POST",
                "/devices/pv-b-meter/calibrations",
                {
                    "json": {
                        "id": str(uuid.uuid4()),
                        "author": NAME[role],
                        "calibrated_on": "2026-06-12",
                        "certificate": "CAL-2026-0612",
                        "result": "within_tolerance",
                        "error_pct": 0.1,
                    }
                },
            ),
            201,
        ),
        (
            "retire a device",
            OPERATORS,
            (
                "POST",
                "/devices/koh-pyranometer/retire",
                {"json": {"removed": "2026-06-30", "reason": "sensor replaced"}},
            ),
            200,
        ),
        (
            "release quarantine",
            OPERATORS,
            ("POST", "/quarantine/release", {"json": {"all": True}}),
            200,
        ),
    ]
    wrong: list[str] = []
    for name, allowed, (method, path, kwargs), ok in actions:
        extra = kwargs.pop("headers", {})
        answer = httpx.request(
            method, f"{base}{path}", headers={**mine, **extra}, timeout=60, **kwargs
        )
        expected = ok if role in allowed else 403
        if answer.status_code != expected:
            wrong.append(f"{name}: {answer.status_code} (expected {expected}) {answer.text[:200]}")
        elif expected == 403:
            assert answer.json()["error"], name  # a reason a person can read
    assert wrong == [], f"{role}: " + "; ".join(wrong)

    me = httpx.get(f"{url}/v1/me", headers=mine).json()
    assert me == {"role": role, "projects": [P] if role != "admin" else [], "label": NAME[role]}

    # Field staff write only under their own name.
    if role == "field":
        as_other = httpx.post(f"{base}/entries", json=reading("other.person"), headers=mine)
        assert as_other.status_code == 403 and as_other.json()["field"] == "author"

    # No role can change a stored reading: there is no such route.
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert httpx.request(method, f"{base}/readings", headers=mine).status_code == 405

    # Another project: only an admin sees it; a denial is in the audit chain.
    listed = [p["id"] for p in httpx.get(f"{url}/v1/projects", headers=mine).json()]
    assert listed == ([OTHER, P] if role == "admin" else [P])
    other = httpx.get(f"{url}/v1/projects/{OTHER}/plan", headers=mine)
    assert other.status_code == (200 if role == "admin" else 403)
    with behind_the_api(home) as conn:
        denials = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'api.denied'")
        ).scalar()
    assert denials == (0 if role == "admin" else 1)
