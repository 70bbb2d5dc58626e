"""Operator actions through a real ``mrv api``: register and retire devices (new plan
versions), record calibrations, release quarantined messages; each audited."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import text

from tests.support.api import behind_the_api, run, token

PROJECT = "th-solar-rooftops"
NEW_METER = {
    "id": "pv-a2-meter",
    "site": "rayong-a",
    "type": "ac_energy_meter",
    "serial": "LG-E650-220311",
    "quantities": ["energy_export"],
    "max_permissible_error_pct": 0.5,
    "register_max": 99999999.9,
    "calibration": {"interval_months": 24, "last": "2026-05-02"},
    "installed": "2026-05-03",
    "expected_interval_s": 900,
}


def test_operators_register_retire_calibrate_and_release(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    url, home = server
    operator = {
        "Authorization": f"Bearer {token(home, '--role', 'operator', '--project', PROJECT)}"
    }
    base = f"{url}/v1/projects/{PROJECT}"
    before = httpx.get(f"{base}/plan", headers=operator).json()

    # readings of a meter not registered yet are quarantined, not lost
    logger = tmp_path / "new-meter.csv"
    logger.write_text(
        "time,site,device,seq,quantity,value,unit\n"
        "2026-06-01T00:00:00Z,rayong-a,pv-a2-meter,1,energy_export,10,MWh\n"
        "2026-06-02T00:00:00Z,rayong-a,pv-a2-meter,2,energy_export,14,MWh\n"
    )
    run("readings", "import", "--project", PROJECT, str(logger), home=home)
    held = httpx.get(f"{base}/quarantine", params={"status": "open"}, headers=operator).json()
    assert len(held) == 2 and {q["field"] for q in held} == {"device"}

    # register: checked as part of the whole plan, which gains a version
    bad = httpx.post(f"{base}/devices", json={**NEW_METER, "site": "nowhere"}, headers=operator)
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "site", bad.text
    made = httpx.post(f"{base}/devices", json=NEW_METER, headers=operator)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "active"
    again = httpx.post(f"{base}/devices", json=NEW_METER, headers=operator)
    assert again.status_code == 409 and again.json()["field"] == "id"
    after = httpx.get(f"{base}/plan", headers=operator).json()
    assert after["version"] == before["version"] + 1
    assert "pv-a2-meter" in [d["id"] for d in after["plan"]["devices"]]
    assert [v["version"] for v in after["versions"]] == [before["version"], after["version"]]
    old = httpx.get(f"{base}/plan", params={"version": before["version"]}, headers=operator)
    assert "pv-a2-meter" not in [d["id"] for d in old.json()["plan"]["devices"]]

    # release: both readings now go through, once, and are served
    freed = httpx.post(f"{base}/quarantine/release", json={"all": True}, headers=operator).json()
    assert (freed["released"], freed["kept"]) == (2, 0)
    again_freed = httpx.post(f"{base}/quarantine/release", json={"all": True}, headers=operator)
    assert again_freed.json()["released"] == 0  # nothing open is left to release
    stored = httpx.get(
        f"{base}/readings", params={"device": "pv-a2-meter"}, headers=operator
    ).json()["readings"]
    assert [r["value"] for r in stored] == [10_000.0, 14_000.0]
    no_choice = httpx.post(f"{base}/quarantine/release", json={}, headers=operator)
    assert no_choice.status_code == 422 and no_choice.json()["field"] == "ids"

    # calibrations: recorded as certificate entries; the device's record shows them
    calibration = {
        "id": "0b6a3e4e-3c1d-4d55-9a61-7d2f8f0e9a10",
        "author": "ops.niran",
        "calibrated_on": "2026-06-15",
        "certificate": "TISI-CAL-2026-0615-007",
        "result": "within_tolerance",
        "error_pct": -0.2,
        "tolerance_pct": 0.5,
    }
    recorded = httpx.post(
        f"{base}/devices/pv-a2-meter/calibrations", json=calibration, headers=operator
    )
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["type"] == "calibration_certificate"
    resent = httpx.post(
        f"{base}/devices/pv-a2-meter/calibrations", json=calibration, headers=operator
    )
    assert resent.status_code == 200
    contradicts = {**calibration, "id": "0b6a3e4e-3c1d-4d55-9a61-7d2f8f0e9a11", "error_pct": 2.0}
    refused = httpx.post(
        f"{base}/devices/pv-a2-meter/calibrations", json=contradicts, headers=operator
    )
    assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == (
        "tolerance_pct"
    )
    record = httpx.get(f"{base}/devices/pv-a2-meter/calibrations", headers=operator).json()
    assert [(c["date"], c["source"]) for c in record["calibrations"]] == [
        ("2026-05-02", "plan"),
        ("2026-06-15", f"entry:{calibration['id']}"),
    ]
    assert record["next_due"] == "2028-06-15"

    # retire: a reason is required; later manual readings of it are refused
    retire = f"{base}/devices/pv-a2-meter/retire"
    assert httpx.post(retire, json={"removed": "2026-06-30"}, headers=operator).status_code == 422
    early = httpx.post(
        retire, json={"removed": "2026-05-01", "reason": "replaced"}, headers=operator
    )
    assert early.status_code == 422 and early.json()["field"] == "removed"
    done = httpx.post(
        retire,
        json={"removed": "2026-06-30", "reason": "replaced after a lightning strike"},
        headers=operator,
    )
    assert done.status_code == 200 and done.json()["status"] == "retired", done.text
    assert (
        httpx.post(
            retire, json={"removed": "2026-07-30", "reason": "again"}, headers=operator
        ).status_code
        == 409
    )
    late = httpx.post(
        f"{base}/entries",
        json={
            "id": "0b6a3e4e-3c1d-4d55-9a61-7d2f8f0e9a12",
            "type": "meter_reading",
            "author": "ops.niran",
            "body": {
                "device": "pv-a2-meter",
                "quantity": "energy_export",
                "time": "2026-07-02T08:00:00Z",
                "value": 20,
                "unit": "MWh",
            },
        },
        headers=operator,
    )
    assert late.status_code == 422 and late.json()["problems"][0]["field"] == "body.time"
    listed = {d["id"]: d for d in httpx.get(f"{base}/devices", headers=operator).json()}
    assert listed["pv-a2-meter"]["removed"] == "2026-06-30"

    # every action is in the audit chain, which still verifies
    with behind_the_api(home) as conn:
        actions = list(conn.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars())
    for action in ("device.register", "quarantine.release", "entry.add", "device.retire"):
        assert action in actions
    assert httpx.get(f"{base}/audit/verify", headers=operator).json()["intact"]
