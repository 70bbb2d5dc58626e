"""``mrv audit adopt``: what an upgraded store holds without a link (readings stored
before per-project chains, an entry, a period) is put into the chain as it is, marked
adopted with a reason; afterwards it verifies and any change to it is found. Nothing is
adopted while anything has changed."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.importer import import_csv
from mrv.cli.main import app
from persistence.stores.timeseries import ReadingRow
from tests.support.paths import SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest

P = "th-solar-rooftops"
ENTRY_ID = "5b3f0c7a-8a1e-4f5e-9d7a-1b2c3d4e5f61"
OLD_ENTRY = "0ld0c7a0-8a1e-4f5e-9d7a-1b2c3d4e5f61".replace("l", "1")
runner = CliRunner()


def old_reading(seq: int, value: float) -> ReadingRow:
    time_ms = 1_780_000_000_000 + seq * 3_600_000
    return ReadingRow(
        P, "rayong-a", "pv-a-meter", seq, "energy_export", time_ms, value,
        "register", None, value, "kWh", False, time_ms,
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A store as an upgrade leaves it: readings, an entry and a period with no link."""
    home = tmp_path / "home"
    home.mkdir()
    project = ProjectUnderTest(home, SOLAR_PLAN.read_text())
    project.readings([("2026-06-01T00:00:00Z", "pv-a-meter", "energy_export", 10.0, "kWh")])
    project.store.insert([old_reading(100 + i, 1000.0 + i) for i in range(30)])
    project.entry(
        "calibration_certificate",
        {
            "device": "pv-a-meter",
            "calibrated_on": "2026-06-20",
            "certificate": "TISI-CAL-2026-0620-114",
            "result": "within_tolerance",
            "error_pct": 0.12,
        },
        ENTRY_ID,
    )
    wrong_unit = (
        "time,site,device,seq,quantity,value,unit\n"
        "2026-06-03T00:00:00Z,rayong-a,pv-a-meter,500,energy_export,5,degC\n"
    )
    assert import_csv(project.processor, P, io.StringIO(wrong_unit)).quarantined
    project.close()
    with sqlite3.connect(home / "mrv.sqlite") as conn:  # written before chains covered them
        conn.execute(
            "INSERT INTO quarantine (digest, item, received_at, topic, reason, detail, field,"
            " project_id, device_id, seq, status, elements) SELECT digest, 'old', received_at,"
            " topic, reason, detail, field, project_id, device_id, seq, status, elements"
            " FROM quarantine"
        )
        conn.execute(
            "INSERT INTO entries SELECT ?, project_id, entry_type, revision, body, author,"
            " recorded_at, gps_lat, gps_lon, gps_accuracy_m, status, body_sha256 FROM entries",
            (OLD_ENTRY,),
        )
        conn.execute(
            "INSERT INTO entry_revisions (entry_id, revision, body, reason, author,"
            " recorded_at, status) SELECT ?, revision, body, reason, author, recorded_at,"
            " status FROM entry_revisions WHERE entry_id = ?",
            (OLD_ENTRY, ENTRY_ID),
        )
        conn.execute(
            "INSERT INTO monitoring_periods (project_id, number, start_date, end_date,"
            " defined_at, actor) VALUES (?, 1, '2026-01-01', '2026-06-30',"
            " '2026-07-01 00:00:00', 'old')",
            (P,),
        )
    return home


def mrv(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--home", str(home)], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def verdict(home: Path) -> tuple[int, dict]:
    code, out = mrv(home, "audit", "verify", "--project", P, "--json")
    return code, json.loads(out)


def unlinked(found: dict) -> set[tuple[str, str]]:
    assert all("without a link" in c["what"] for c in found["changes"]), found["changes"]
    return {(c["kind"], c["id"]) for c in found["changes"]}


def test_unlinked_objects_are_adopted_then_verified(home: Path) -> None:
    code, found = verdict(home)
    assert code == 1
    named = unlinked(found)
    assert ("entry", OLD_ENTRY) in named and ("period", "1") in named
    assert ("reading", "pv-a-meter/energy_export/100") in named
    assert ("reading", "*") in named  # 30 unlinked readings: 20 named, then a count
    assert "quarantine" in {kind for kind, _ in named}

    code, out = mrv(home, "audit", "adopt", "--project", P, "--actor", "ops", "--reason", "v1 data")
    assert code == 0, out
    assert "adopted 30 readings, 1 entries, 1 periods, 1 quarantine" in out
    code, found = verdict(home)
    assert code == 0 and found["intact"], found
    code, out = mrv(home, "audit", "adopt", "--project", P, "--actor", "ops", "--reason", "again")
    assert code == 0 and "nothing adopted" in out

    with sqlite3.connect(home / "mrv.sqlite") as conn:
        adopted = conn.execute(
            "SELECT action, actor, body FROM audit_log WHERE action LIKE '%.adopt'"
        ).fetchall()
    kinds = {a for a, _, _ in adopted}
    assert kinds == {"readings.adopt", "entry.adopt", "period.adopt", "quarantine.adopt"}
    assert all(actor == "ops" and json.loads(b)["reason"] == "v1 data" for _, actor, b in adopted)

    with sqlite3.connect(home / "readings.sqlite") as conn:  # an adopted reading, changed
        conn.execute("UPDATE readings SET value = 1 WHERE seq = 105")
    code, found = verdict(home)
    assert code == 1
    assert any(c["kind"] == "readings" and "batch changed" in c["what"] for c in found["changes"])


def test_nothing_is_adopted_while_something_changed(home: Path) -> None:
    with sqlite3.connect(home / "mrv.sqlite") as conn:
        conn.execute("UPDATE entries SET body = json_set(body, '$.error_pct', 9) WHERE id = ?",
                     (ENTRY_ID,))  # fmt: skip
        before = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    code, out = mrv(home, "audit", "adopt", "--project", P, "--actor", "ops", "--reason", "x")
    assert code == 1 and "nothing adopted" in out and ENTRY_ID in out
    with sqlite3.connect(home / "mrv.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == before
    code, out = mrv(home, "audit", "adopt", "--project", P, "--actor", " ", "--reason", "x")
    assert code == 2
