"""What each role can and cannot do, action by action, through a real ``mrv api``.

One table says which roles may take each action; every role is tried on every action,
so a permission that leaks (or one that goes missing) fails here by name.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import text

from tests.support.api import behind_the_api, prepare, serve, token
from tests.support.services import db_counter

P = "th-solar-rooftops"
OTHER = "id-mall-chillers"
READERS = {"field", "verifier", "operator", "admin"}
WRITERS = {"field", "operator", "admin"}
OPERATORS = {"operator", "admin"}
SHADE = {"field": 10, "verifier": 60, "operator": 110, "admin": 160}  # a photo each
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


def jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, shade, 30)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One server per store for the four roles: each role's test makes its own entries,
    devices and periods, so they do not depend on each other or on their order."""
    tmp = tmp_path_factory.mktemp("roles")
    if request.param == "sqlite":
        db = f"sqlite:///{tmp / 'mrv.sqlite'}"
    else:
        db = request.getfixturevalue("pg_server").create_database(f"mrv_roles_{next(db_counter)}")
    home = tmp / "home"
    prepare(home, db, tmp)
    with serve(home) as (url, _):
        yield url, home


def next_period(base: str, admin: dict[str, str]) -> dict[str, str]:
    """The month after the last defined period (January 2026 if none)."""
    from datetime import date, timedelta

    defined = httpx.get(f"{base}/periods", headers=admin).json()
    start = (
        date.fromisoformat(defined[-1]["end"]) + timedelta(days=1) if defined else date(2026, 1, 1)
    )
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return {"start": start.isoformat(), "end": end.isoformat()}


RETIRE = {"field": "pv-koh-meter", "verifier": "pv-koh-meter", "operator": "koh-pyranometer",
          "admin": "pv-koh-meter"}  # fmt: skip


@pytest.mark.parametrize("role", ["field", "verifier", "operator", "admin"])
def test_each_role_can_do_what_it_should_and_nothing_else(shared: Any, role: str) -> None:
    url, home = shared
    grant = ["--project", P] if role != "admin" else []
    mine = {"Authorization": f"Bearer {token(home, '--role', role, *grant, '--label', NAME[role])}"}
    admin = {"Authorization": f"Bearer {token(home, '--role', 'admin', '--label', 'setup')}"}
    base = f"{url}/v1/projects/{P}"

    # Entries to edit: one of this role's person, one of someone else's.
    own_id, others_id = str(uuid.uuid4()), str(uuid.uuid4())
    for entry_id, author in ((own_id, NAME[role]), (others_id, "other.person")):
        made = httpx.post(f"{base}/entries", json=reading(author, entry_id), headers=admin)
        assert made.status_code == 201, made.text

    # A period to bundle the evidence of (the first role's run defines it).
    if not httpx.get(f"{base}/periods", headers=admin).json():
        defined = httpx.post(f"{base}/periods", json=next_period(base, admin), headers=admin)
        assert defined.status_code == 201, defined.text

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
        ("get an evidence bundle", READERS - {"field"}, ("GET", "/periods/1/bundle", {}), 200),
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
            (
                "POST",
                "/photos",
                {"content": jpeg(SHADE[role]), "headers": {"Content-Type": "image/jpeg"}},
            ),
            201,
        ),
        (
            "define a period",
            OPERATORS,
            ("POST", "/periods", {"json": next_period(base, admin)}),
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
                        "id": f"pv-b2-{role}",
                        "site": "rayong-b",
                        "type": "ac_energy_meter",
                        "serial": f"SCH-PM5560-{role}",
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
                f"/devices/{RETIRE[role]}/retire",
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

    # Another project: only an admin sees it; a denial is in the security log (not the
    # evidence chain, which no token may grow at will).
    with behind_the_api(home) as conn:
        denied_before = conn.execute(
            text("SELECT count(*) FROM security_events WHERE kind = 'api.denied'")
        ).scalar()
        links_before = conn.execute(text("SELECT count(*) FROM audit_log")).scalar()
    listed = [p["id"] for p in httpx.get(f"{url}/v1/projects", headers=mine).json()]
    assert listed == ([OTHER, P] if role == "admin" else [P])
    other = httpx.get(f"{url}/v1/projects/{OTHER}/plan", headers=mine)
    assert other.status_code == (200 if role == "admin" else 403)
    with behind_the_api(home) as conn:
        denials = conn.execute(
            text("SELECT count(*) FROM security_events WHERE kind = 'api.denied'")
        ).scalar()
        links = conn.execute(text("SELECT count(*) FROM audit_log")).scalar()
    assert denials == denied_before + (0 if role == "admin" else 1)
    assert links == links_before
