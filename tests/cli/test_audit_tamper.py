"""The tamper suite: every kind of stored object, edited, deleted, inserted, reordered or
rewritten behind the application's back in the database files, is found by ``mrv audit
verify``, which names it by kind and id; a rollback or a rewrite of the whole chain is
found against an earlier signed checkpoint.

One project is built once (plan in two versions, a period, tokens, an entry with two
revisions, a photo, readings in two batches through the gateway's pipeline); each case
tampers with a fresh copy of its data folder, as someone with the files would.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from gateway.importer import import_csv
from mrv.api.tokens import create_token
from mrv.cli.main import app
from persistence import audit
from persistence.devices import retire_device
from persistence.photos import add_photo
from persistence.records import change_entry_status, define_period, edit_entry
from tests.support.api import serve
from tests.support.api import token as api_token
from tests.support.paths import SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest

P = "th-solar-rooftops"
ENTRY_ID = "5b3f0c7a-8a1e-4f5e-9d7a-1b2c3d4e5f61"
WITHDRAWN_ID = "5b3f0c7a-8a1e-4f5e-9d7a-1b2c3d4e5f62"
CALIBRATION = {
    "device": "pv-a-meter",
    "calibrated_on": "2026-06-20",
    "certificate": "TISI-CAL-2026-0620-114",
    "result": "within_tolerance",
    "error_pct": 0.12,
}
runner = CliRunner()


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    project = ProjectUnderTest(home, SOLAR_PLAN.read_text())
    day = [
        (f"2026-06-01T{h:02d}:00:00Z", "pv-a-meter", "energy_export", 1000.0 + 10 * h, "kWh")
        for h in range(12)
    ]
    project.readings(day)
    project.readings(
        [
            (f"2026-06-02T{h:02d}:00:00Z", "pv-b-meter", "energy_export", 500.0 + 5 * h, "kWh")
            for h in range(6)
        ]
    )
    wrong_unit = (
        "time,site,device,seq,quantity,value,unit\n"
        "2026-06-03T00:00:00Z,rayong-a,pv-a-meter,500,energy_export,5,degC\n"
    )
    assert import_csv(project.processor, P, io.StringIO(wrong_unit)).quarantined
    project.entry("calibration_certificate", CALIBRATION, ENTRY_ID)
    project.entry("calibration_certificate", {**CALIBRATION, "device": "pv-b-meter"}, WITHDRAWN_ID)
    with project.db.session() as s, s.begin():
        edit_entry(s, ENTRY_ID, {**CALIBRATION, "error_pct": 0.15}, "typo", "field-test")
        change_entry_status(s, WITHDRAWN_ID, "withdrawn", "wrong meter", "field-test")
        define_period(s, P, date(2026, 1, 1), date(2026, 6, 30), "test")
        add_photo(s, P, jpeg((200, 30, 30)), "image/jpeg", "field-test")
        create_token(s, "verifier", [P], label="vera")
        create_token(s, "admin", [], label="root")
        retire_device(s, P, "koh-pyranometer", date(2026, 6, 30), "replaced", "op", checks=[])
    project.close()
    return home


@pytest.fixture
def home(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(pristine, copy)
    return copy


def verify(home: Path, *args: str) -> tuple[int, dict]:
    result = runner.invoke(
        app, ["audit", "verify", "--project", P, "--home", str(home), "--json", *args]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def sql(home: Path, statement: str, *params: object, db: str = "mrv.sqlite") -> None:
    with sqlite3.connect(home / db) as conn:
        if ";" in statement:
            conn.executescript(statement)
        else:
            conn.execute(statement, params)


def test_the_untouched_record_verifies(home: Path) -> None:
    code, verdict = verify(home)
    assert code == 0, verdict
    assert verdict["intact"] and verdict["changes"] == []
    assert verdict["checked"] == {
        "entries": 2,
        "plans": 2,
        "periods": 1,
        "tokens": 1,
        "photos": 1,
        "quarantine": 1,
        "readings": 18,
    }


def first_photo(home: Path) -> str:
    with sqlite3.connect(home / "mrv.sqlite") as conn:
        return conn.execute("SELECT sha256 FROM photos").fetchone()[0]


def quarantine_id(home: Path) -> str:
    with sqlite3.connect(home / "mrv.sqlite") as conn:
        return str(conn.execute("SELECT id FROM quarantine").fetchone()[0])


def token_id(home: Path, label: str) -> str:
    with sqlite3.connect(home / "mrv.sqlite") as conn:
        return str(
            conn.execute("SELECT id FROM api_tokens WHERE label = ?", (label,)).fetchone()[0]
        )


# (what is done, the tampering, the kind and id that must be named)
Tamper = Callable[[Path], None]
CASES: list[tuple[str, Tamper, str, Callable[[Path], str] | str]] = [
    (
        "a reading's value",
        lambda h: sql(
            h,
            "UPDATE readings SET value = value * 1.1 WHERE device = 'pv-a-meter' AND seq = 3",
            db="readings.sqlite",
        ),
        "readings",
        "*",
    ),
    (
        "a reading's time",
        lambda h: sql(
            h,
            "UPDATE readings SET time_ms = time_ms + 60000 WHERE device = 'pv-b-meter' AND seq = 2",
            db="readings.sqlite",
        ),
        "readings",
        "*",
    ),
    (
        "a reading deleted",
        lambda h: sql(
            h, "DELETE FROM readings WHERE device = 'pv-a-meter' AND seq = 12", db="readings.sqlite"
        ),
        "readings",
        "*",
    ),
    (
        "a reading inserted",
        lambda h: sql(
            h,
            "INSERT INTO readings (project, device, seq, quantity, site, time_ms, value, kind,"
            " interval_s, raw_value, raw_unit, historical, received_ms) SELECT project, device,"
            " 99, quantity, site, time_ms + 1, value, kind, interval_s, raw_value, raw_unit,"
            " historical, received_ms FROM readings WHERE device = 'pv-a-meter' LIMIT 1",
            db="readings.sqlite",
        ),
        "reading",
        "pv-a-meter/energy_export/99",
    ),
    (
        "an old revision of an entry",
        lambda h: sql(
            h,
            "UPDATE entry_revisions SET body = json_set(body, '$.error_pct', 0.01)"
            " WHERE revision = 1",
        ),
        "entry",
        ENTRY_ID,
    ),
    (
        "an entry's current body",
        lambda h: sql(h, "UPDATE entries SET body = json_set(body, '$.error_pct', 0.01)"),
        "entry",
        ENTRY_ID,
    ),
    (
        "a withdrawn entry made to count again",
        lambda h: sql(h, "UPDATE entries SET status = 'active' WHERE id = ?", WITHDRAWN_ID),
        "entry",
        WITHDRAWN_ID,
    ),
    (
        "an entry withdrawn behind the chain's back",
        lambda h: sql(h, "UPDATE entries SET status = 'withdrawn' WHERE id = ?", ENTRY_ID),
        "entry",
        ENTRY_ID,
    ),
    (
        "a withdrawal's revision rewritten as active",
        lambda h: sql(
            h,
            "UPDATE entry_revisions SET status = 'active' WHERE entry_id = ? AND revision = 2",
            WITHDRAWN_ID,
        ),
        "entry",
        WITHDRAWN_ID,
    ),
    (
        "an entry deleted",
        lambda h: [sql(h, "DELETE FROM entry_revisions"), sql(h, "DELETE FROM entries")],
        "entry",
        ENTRY_ID,
    ),
    (
        "an entry inserted",
        lambda h: sql(
            h,
            "INSERT INTO entries SELECT 'aaaaaaaa-0000-0000-0000-000000000000', project_id,"
            " entry_type, revision, body, author, recorded_at, gps_lat, gps_lon, gps_accuracy_m,"
            " status, body_sha256 FROM entries WHERE id = ?",
            ENTRY_ID,
        ),
        "entry",
        "aaaaaaaa-0000-0000-0000-000000000000",
    ),
    (
        "a plan file",
        lambda h: sql(
            h, "UPDATE plan_revisions SET source_text = source_text || ' ' WHERE plan_version = 1"
        ),
        "plan",
        "1",
    ),
    (
        "the parsed plan",
        lambda h: sql(h, "UPDATE projects SET plan = json_set(plan, '$.project.name', 'x')"),
        "plan",
        "2",
    ),
    (
        "a period's dates",
        lambda h: sql(h, "UPDATE monitoring_periods SET end_date = '2026-12-31'"),
        "period",
        "1",
    ),
    ("a period deleted", lambda h: sql(h, "DELETE FROM monitoring_periods"), "period", "1"),
    (
        "a device row",
        lambda h: sql(h, "UPDATE devices SET register_max = 1 WHERE id = 'pv-a-meter'"),
        "device",
        "pv-a-meter",
    ),
    (
        "a device deleted",
        lambda h: sql(h, "DELETE FROM devices WHERE id = 'pv-b-meter'"),
        "device",
        "pv-b-meter",
    ),
    (
        "a token's role",
        lambda h: sql(h, "UPDATE api_tokens SET role = 'admin' WHERE label = 'vera'"),
        "token",
        lambda h: token_id(h, "vera"),
    ),
    (
        "a token given this project",
        lambda h: sql(
            h, "UPDATE api_tokens SET projects = '[\"th-solar-rooftops\"]' WHERE label = 'root'"
        ),
        "token",
        lambda h: token_id(h, "root"),
    ),
    (
        "a quarantined message's reason",
        lambda h: sql(h, "UPDATE quarantine SET reason = 'schema'"),
        "quarantine",
        lambda h: quarantine_id(h),
    ),
    (
        "a quarantined message released by hand",
        lambda h: sql(h, "UPDATE quarantine SET status = 'released'"),
        "quarantine",
        lambda h: quarantine_id(h),
    ),
    (
        "a photo's bytes",
        lambda h: sql(h, "UPDATE photo_blobs SET content = ?", jpeg((0, 0, 0))),
        "photo",
        first_photo,
    ),
]


@pytest.mark.parametrize(("what", "tamper", "kind", "ident"), CASES, ids=[c[0] for c in CASES])
def test_tampering_is_named(home: Path, what: str, tamper: Tamper, kind: str, ident) -> None:
    expected_id = ident(home) if callable(ident) else ident
    tamper(home)
    code, verdict = verify(home)
    assert code == 1, verdict
    named = {(c["kind"], c["id"]) for c in verdict["changes"]}
    if expected_id == "*":
        assert kind in {k for k, _ in named}, verdict["changes"]
    else:
        assert (kind, expected_id) in named, verdict["changes"]


LINK_CASES: list[tuple[str, str]] = [
    ("a link's body", "UPDATE audit_log SET body = json_set(body, '$.x', 1) WHERE seq = 3"),
    ("a link's actor", "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"),
    ("a link deleted", "DELETE FROM audit_log WHERE seq = 3"),
    (
        "two links reordered",
        "UPDATE audit_log SET seq = -seq WHERE seq IN (3, 4);"
        " UPDATE audit_log SET seq = 7 + seq WHERE seq IN (-3, -4)",
    ),
    (
        "a link's time",
        "UPDATE audit_log SET recorded_at = '2020-01-01 00:00:00.000000' WHERE seq = 3",
    ),
]


@pytest.mark.parametrize(("what", "statement"), LINK_CASES, ids=[c[0] for c in LINK_CASES])
def test_a_broken_link_is_named(home: Path, what: str, statement: str) -> None:
    sql(home, statement.replace("WHERE seq", f"WHERE chain = '{P}' AND seq"))
    code, verdict = verify(home)
    assert code == 1 and verdict["broken_at"] == 3, verdict


def checkpoint(home: Path) -> Path:
    out = home.parent / "checkpoint.json"
    result = runner.invoke(
        app, ["audit", "checkpoint", "--project", P, "--home", str(home), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_a_rollback_is_found_against_a_checkpoint(home: Path) -> None:
    """The newest entry deleted with its link, and the chain's tip set back: the chain
    alone is intact again, the checkpoint taken before shows the rollback."""
    signed = checkpoint(home)
    with sqlite3.connect(home / "mrv.sqlite") as conn:
        (length,) = conn.execute("SELECT length FROM audit_chains WHERE chain = ?", (P,)).fetchone()
        newest = conn.execute(
            "SELECT seq, prev_hash, subject_kind FROM audit_log WHERE chain = ? ORDER BY seq DESC"
            " LIMIT 1",
            (P,),
        ).fetchone()
        conn.execute("DELETE FROM audit_log WHERE chain = ? AND seq = ?", (P, newest[0]))
        conn.execute(
            "UPDATE audit_chains SET length = ?, hash = ? WHERE chain = ?",
            (length - 1, newest[1], P),
        )
    code, verdict = verify(home, "--checkpoint", str(signed))
    assert code == 1
    assert any("truncated or rolled back" in p for p in verdict["checkpoint"]), verdict


def test_a_rewritten_chain_is_found_against_a_checkpoint(home: Path) -> None:
    """Someone with the database and this code rewrites an entry and every hash after
    it: the chain verifies, the objects match, and only the checkpoint tells."""
    from persistence.engine import Database
    from persistence.evidence import verify_project

    signed = checkpoint(home)
    sql(home, "UPDATE entries SET body = json_set(body, '$.error_pct', 0.01)")
    sql(home, "UPDATE entry_revisions SET body = json_set(body, '$.error_pct', 0.01)")
    db = Database(f"sqlite:///{home / 'mrv.sqlite'}")
    with db.session() as s, s.begin():
        prev = audit.GENESIS
        for link in list(audit.links(s, P)):
            if link.subject_kind == "entry":
                from persistence.claims import body_sha256
                from persistence.models import EntryRevision

                rev = s.get(EntryRevision, (link.subject_id, link.body["revision"]))
                link.body = {**link.body, "body_sha256": body_sha256(rev.body)}
            link.prev_hash = prev
            link.hash = audit.recomputed(link, prev)
            prev = link.hash
            s.flush()
        from persistence.models import AuditChain

        s.get(AuditChain, P).hash = prev
    with db.session() as s:
        assert verify_project(s, None, P).intact  # the forgery holds up on its own
    db.dispose()
    code, verdict = verify(home, "--checkpoint", str(signed))
    assert code == 1
    assert any("rewritten" in p for p in verdict["checkpoint"]), verdict


def test_a_forged_checkpoint_is_not_trusted(home: Path) -> None:
    signed = checkpoint(home)
    data = json.loads(signed.read_text())
    data["length"] = 1
    signed.write_text(json.dumps(data))
    code, verdict = verify(home, "--checkpoint", str(signed))
    assert code == 1 and "cannot be trusted" in verdict["checkpoint"][0]


def test_a_checkpoint_pins_a_given_key(home: Path) -> None:
    signed = checkpoint(home)
    other = "ed25519:" + "A" * 43 + "="
    code, verdict = verify(home, "--checkpoint", str(signed), "--key", other)
    assert code == 1 and "cannot be trusted" in verdict["checkpoint"][0]
    key = runner.invoke(app, ["audit", "key", "--home", str(home)]).stdout.strip()
    code, verdict = verify(home, "--checkpoint", str(signed), "--key", key)
    assert code == 0 and verdict["checkpoint"] == []


def test_the_key_file_is_private(home: Path) -> None:
    runner.invoke(app, ["audit", "key", "--home", str(home)])
    key = home / "keys" / "audit-ed25519.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (home / "keys").stat().st_mode & 0o077 == 0


def test_an_issued_report_embeds_a_checkpoint_that_verifies(home: Path) -> None:
    result = runner.invoke(
        app,
        [
            "report",
            "--project",
            P,
            "--start",
            "2026-06-01",
            "--end",
            "2026-06-30",
            "--format",
            "json",
            "--home",
            str(home),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    embedded = report["checkpoint"]
    with sqlite3.connect(home / "mrv.sqlite") as conn:
        (length,) = conn.execute("SELECT length FROM audit_chains WHERE chain = ?", (P,)).fetchone()
        issued = conn.execute(
            "SELECT seq, body FROM audit_log WHERE chain = ? AND action = 'report.issued'", (P,)
        ).fetchone()
    # computed at the chain before its own link, which records the checkpoint's length
    assert embedded["length"] == length - 1 == issued[0] - 1
    assert json.loads(issued[1])["checkpoint_length"] == embedded["length"]
    signed = home.parent / "from-report.json"
    signed.write_text(json.dumps(embedded))
    code, verdict = verify(home, "--checkpoint", str(signed))
    assert code == 0 and verdict["checkpoint"] == [], verdict


def test_a_release_is_claimed_and_verifies(home: Path) -> None:
    """Releasing quarantine (here: still refused, with its reason restated) is a link whose
    claim matches the row as it then stands; tampering with the row after it is found."""
    from gateway.processor import BatchProcessor
    from gateway.release import release
    from persistence.engine import Database
    from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore

    db = Database(f"sqlite:///{home / 'mrv.sqlite'}")
    store = SQLiteTimeSeriesStore(home / "readings.sqlite")
    try:
        outcomes = release(BatchProcessor(store, db), None, project=P, actor="op")
    finally:
        store.close()
        db.dispose()
    assert [o.released for o in outcomes] == [False]
    code, verdict = verify(home)
    assert code == 0, verdict
    sql(home, "UPDATE quarantine SET detail = 'nothing to see'")
    code, verdict = verify(home)
    assert code == 1 and verdict["changes"][0]["kind"] == "quarantine", verdict


API_KINDS = (
    "a reading's value",
    "an old revision of an entry",
    "a plan file",
    "a period's dates",
    "a device row",
    "a token's role",
)
API_CASES = [c for c in CASES if c[0] in API_KINDS]


@pytest.mark.parametrize(("what", "tamper", "kind", "ident"), API_CASES, ids=API_KINDS)
def test_the_api_names_the_same_tampering(
    home: Path, what: str, tamper: Tamper, kind: str, ident
) -> None:
    """``GET /audit/verify`` of a real ``mrv api`` over the tampered files gives the verdict
    ``mrv audit verify`` gives: not intact, naming the object."""
    auth = {"Authorization": f"Bearer {api_token(home, '--role', 'operator', '--project', P)}"}
    expected_id = ident(home) if callable(ident) else ident
    tamper(home)
    with serve(home) as (url, _):
        answer = httpx.get(f"{url}/v1/projects/{P}/audit/verify", headers=auth, timeout=60)
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert not verdict["intact"]
    named = {(c["kind"], c["id"]) for c in verdict["changes"]}
    if expected_id == "*":
        assert kind in {k for k, _ in named}, verdict["changes"]
    else:
        assert (kind, expected_id) in named, verdict["changes"]
