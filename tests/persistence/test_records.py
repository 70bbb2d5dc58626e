"""Verification inputs on SQLite and a real PostgreSQL: monitoring periods, field entries
(idempotent on the client's id, checked against the plan, edited with a reason and
history), calibration records from the plan and certificates, and the CLI over them."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.entries import (
    CalibrationCertificate,
    EntryIn,
    MeterReading,
    canonical_value,
    validate_against_plan,
)
from core.errors import problems_from
from core.plans.schema import MonitoringPlan
from mrv.cli import app
from persistence.engine import Database
from persistence.evidence import verify_project
from persistence.models import AuditEntry, Base, Entry, EntryRevision
from persistence.records import (
    CalibrationRecord,
    Conflict,
    EntryRejected,
    NotFound,
    RecordError,
    add_entry,
    calibration_records,
    define_period,
    edit_entry,
    entries_for,
    entry_history,
    get_entry,
    list_periods,
)
from persistence.repo import load_plan
from tests.support.paths import PLANS, SOLAR_PLAN
from verification.plan_check import load_plan_file, validate_plan_text

PROJECT = "th-solar-rooftops"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _plan_text() -> str:
    """The solar example with a calibration history on pv-a-meter."""
    data = yaml.safe_load(SOLAR_PLAN.read_text())
    pv_a = next(d for d in data["devices"] if d["id"] == "pv-a-meter")
    pv_a["calibration"]["history"] = [
        # given out of order: the plan keeps them sorted
        {"date": "2025-12-15", "result": "within_tolerance", "error_pct": 0.1},
        {
            "date": "2023-12-10",
            "result": "out_of_tolerance",
            "error_pct": -0.9,
            "certificate": "OLD-1",
        },
    ]
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def plan() -> MonitoringPlan:
    loaded, problems = validate_plan_text(_plan_text())
    assert not problems and loaded is not None
    return loaded


@pytest.fixture
def db(db_url: str, plan: MonitoringPlan):
    database = Database(db_url)
    with database.session() as s, s.begin():
        load_plan(s, plan, _plan_text(), actor="test")
    yield database
    database.dispose()


def _audit_actions(database: Database) -> list[str]:
    with database.session() as s:
        return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def _reading(**overrides: Any) -> dict[str, Any]:
    body = {
        "device": "pv-a-meter",
        "quantity": "energy_export",
        "time": "2026-02-01T08:00:00+07:00",
        "value": 1234.5,
        "unit": "MWh",
    }
    body.update(overrides)
    return body


def _entry(entry_type: str = "meter_reading", body: dict[str, Any] | None = None, **kw: Any):
    return EntryIn.model_validate(
        {
            "id": kw.pop("id", str(uuid.uuid4())),
            "type": entry_type,
            "body": body if body is not None else _reading(),
            "author": kw.pop("author", "somchai"),
            **kw,
        }
    )


def _certificate(device: str, on: str, error_pct: float, **kw: Any) -> EntryIn:
    body = {
        "device": device,
        "calibrated_on": on,
        "certificate": kw.pop("certificate", f"CERT-{device}-{on}"),
        "result": "within_tolerance" if abs(error_pct) <= 0.5 else "out_of_tolerance",
        "error_pct": error_pct,
    }
    return _entry("calibration_certificate", body, **kw)


def test_migration_matches_the_models(db_url):
    database = Database(db_url)
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    database.dispose()
    assert diff == []


# --- periods ----------------------------------------------------------------------------


def test_periods_are_contiguous_inside_the_crediting_period(db):
    def define(start: str, end: str):
        with db.session() as s, s.begin():
            return define_period(
                s, PROJECT, date.fromisoformat(start), date.fromisoformat(end), "op"
            )

    def refused(start: str, end: str) -> RecordError:
        with pytest.raises(RecordError) as caught:
            define(start, end)
        return caught.value

    error = refused("2026-02-01", "2026-06-30")
    assert error.field == "start" and "crediting period's start, 2026-01-01" in error.message
    error = refused("2025-12-01", "2026-06-30")
    assert error.field == "start" and "outside the crediting period" in error.message
    error = refused("2026-01-01", "2031-01-31")
    assert error.field == "end" and "outside the crediting period" in error.message
    error = refused("2026-03-01", "2026-02-01")
    assert error.field == "end" and "before the start" in error.message

    first = define("2026-01-01", "2026-06-30")
    assert (first.number, first.start, first.end, first.actor) == (
        1,
        date(2026, 1, 1),
        date(2026, 6, 30),
        "op",
    )
    error = refused("2026-06-01", "2026-09-30")
    assert error.field == "start" and "overlaps period 1" in error.message
    assert "starts on 2026-07-01" in error.message
    error = refused("2026-07-05", "2026-12-31")
    assert error.field == "start" and "gap after period 1" in error.message
    # any length, as long as it follows on (a short second period, as in the Palau case)
    second = define("2026-07-01", "2026-07-01")
    third = define("2026-07-02", "2030-12-31")
    assert (second.number, third.number) == (2, 3)
    # defining an existing period again is a no-op (a re-run script), not an overlap
    assert define("2026-07-01", "2026-07-01") == second

    with db.session() as s:
        periods = list_periods(s, PROJECT)
        assert list_periods(s, "other-project") == []
        assert verify_project(s, None, PROJECT).intact
    assert [(p.number, p.start, p.end) for p in periods] == [
        (1, date(2026, 1, 1), date(2026, 6, 30)),
        (2, date(2026, 7, 1), date(2026, 7, 1)),
        (3, date(2026, 7, 2), date(2030, 12, 31)),
    ]
    assert _audit_actions(db).count("period.define") == 3

    with db.session() as s, s.begin(), pytest.raises(NotFound) as caught:
        define_period(s, "nowhere", date(2026, 1, 1), date(2026, 6, 30), "op")
    assert caught.value.field == "project"


def test_concurrent_period_definitions_do_not_overlap(db):
    outcomes: list[object] = []

    def define(end: date) -> None:
        try:
            with db.session() as s, s.begin():
                outcomes.append(define_period(s, PROJECT, date(2026, 1, 1), end, "op"))
        except RecordError as exc:
            outcomes.append(exc)

    threads = [
        threading.Thread(target=define, args=(date(2026, 3, 1) + timedelta(days=i),))
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not isinstance(o, RecordError) for o in outcomes) == 1
    assert all(o.field == "start" for o in outcomes if isinstance(o, RecordError))
    with db.session() as s:
        assert len(list_periods(s, PROJECT)) == 1


# --- entries ----------------------------------------------------------------------------


def test_entry_is_idempotent_on_its_id_and_conflicts_on_other_content(db, plan):
    entry = _entry(gps={"lat": 12.681, "lon": 101.278, "accuracy_m": 8.0})
    with db.session() as s, s.begin():
        stored, created = add_entry(s, PROJECT, entry, plan)
    assert created and stored.revision == 1 and stored.id == entry.id
    assert isinstance(stored.body, MeterReading) and stored.body.value == 1234.5
    assert stored.gps is not None and stored.gps.accuracy_m == 8.0

    # the same entry again (a resend after a lost answer): stored once, not audited twice
    resend = EntryIn.model_validate(json.loads(entry.model_dump_json()))
    with db.session() as s, s.begin():
        again, created = add_entry(s, PROJECT, resend)  # the stored plan this time
    assert not created and again == stored

    with db.session() as s, s.begin(), pytest.raises(Conflict) as caught:
        add_entry(s, PROJECT, _entry(body=_reading(value=1300.0), id=str(entry.id)), plan)
    assert caught.value.field == "id" and "different body" in caught.value.message
    certificate = _certificate("pv-a-meter", "2026-06-01", 0.1, id=str(entry.id))
    with db.session() as s, s.begin(), pytest.raises(Conflict):
        add_entry(s, PROJECT, certificate, plan)

    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Entry)) == 1
        assert s.scalar(select(func.count()).select_from(EntryRevision)) == 1
        assert verify_project(s, None, PROJECT).intact
    assert _audit_actions(db).count("entry.add") == 1


def test_concurrent_resends_store_one_entry(db, plan):
    entry = _entry()
    created: list[bool] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with db.session() as s, s.begin():
                created.append(add_entry(s, PROJECT, entry, plan)[1])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(created) == [False, False, False, True]


@pytest.mark.parametrize(
    ("entry_type", "body", "field", "words"),
    [
        ("meter_reading", _reading(device="pv-z"), "body.device", "not a device of project"),
        ("meter_reading", _reading(unit="m3"), "body.unit", "expected"),
        ("meter_reading", _reading(unit="florbs"), "body.unit", "unknown unit"),
        ("meter_reading", _reading(value=-5.0, unit="kWh"), "body.value", "plausible range"),
        # a unit slip: 1.2e9 kWh typed as MWh is above what the register can show
        ("meter_reading", _reading(value=1.2e6), "body.value", "register_max"),
        ("meter_reading", _reading(quantity="irradiance"), "body.quantity", "does not measure"),
        ("meter_reading", _reading(quantity="sunshine"), "body.quantity", "unknown quantity"),
        ("meter_reading", _reading(time="2025-06-01T00:00:00Z"), "body.time", "installed on"),
        (
            "fuel_invoice",
            {
                "invoice_number": "INV-7",
                "period_start": "2026-01-01",
                "period_end": "2026-01-31",
                "value": 48804.719,
                "unit": "MWh",
                "monitoring_point": "MP-Z",
            },
            "body.monitoring_point",
            "not a monitoring point",
        ),
        (
            "fuel_invoice",
            {
                "invoice_number": "INV-8",
                "period_start": "2026-01-01",
                "period_end": "2026-01-31",
                "value": 12.0,
                "unit": "tCO2/MWh",
                "parameter": "EF_grid",
            },
            "body.parameter",
            "option A",
        ),
        (
            "weighbridge_ticket",
            {
                "ticket_number": "W-1",
                "time": "2026-03-01T10:00:00Z",
                "net_mass": {"value": 12.5, "unit": "L"},
                "material": "diesel",
            },
            "body.net_mass.unit",
            "expected",
        ),
        (
            "calibration_certificate",
            {
                "device": "pv-q",
                "calibrated_on": "2026-06-01",
                "certificate": "C-1",
                "result": "within_tolerance",
                "error_pct": 0.1,
            },
            "body.device",
            "not a device",
        ),
        (
            "site_visit_checklist",
            {"visited_at": "2026-03-01T10:00:00Z", "site": "mars", "items": {"seal": True}},
            "body.site",
            "not a site",
        ),
    ],
)
def test_entry_checked_against_the_plan_names_the_field(db, plan, entry_type, body, field, words):
    entry = _entry(entry_type, body)
    with db.session() as s, s.begin(), pytest.raises(EntryRejected) as caught:
        add_entry(s, PROJECT, entry, plan, now=NOW)
    assert caught.value.field == field, caught.value.problems
    assert words in caught.value.message
    assert str(caught.value).startswith(f"{field}: ")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Entry)) == 0


def test_valid_entries_of_every_type(db, plan):
    bodies = {
        "meter_reading": _reading(),
        "fuel_invoice": {
            "invoice_number": "EGAT-2026-01",
            "supplier": "EGAT",
            "period_start": "2026-01-01",
            "period_end": "2026-01-31",
            "value": 48804.719,
            "unit": "kWh",
            "parameter": "EG_grid",
            "monitoring_point": "MP-A",
        },
        "calibration_certificate": {
            "device": "pv-b-meter",
            "calibrated_on": "2026-06-01",
            "certificate": "CAL-26-0001",
            "result": "out_of_tolerance",
            "error_pct": 0.8,
            "tolerance_pct": 0.5,
        },
        "weighbridge_ticket": {
            "ticket_number": "W-77",
            "time": "2026-03-01T10:00:00+07:00",
            "net_mass": {"value": 12.5, "unit": "t"},
            "material": "diesel",
        },
        "site_visit_checklist": {
            "visited_at": "2026-03-02T09:30:00+07:00",
            "site": "koh-site",
            "items": {"meter seal intact": True, "display readable": False},
            "notes": "display faded; photo taken",
        },
    }
    with db.session() as s, s.begin():
        for i, (entry_type, body) in enumerate(bodies.items()):
            recorded = datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(hours=i)
            add_entry(s, PROJECT, _entry(entry_type, body, recorded_at=recorded.isoformat()), plan)
    with db.session() as s:
        everything = entries_for(s, PROJECT)
        certificates = entries_for(s, PROJECT, ["calibration_certificate"])
    assert [e.type for e in everything] == list(bodies)  # in the order recorded
    assert [type(e.body).__name__ for e in everything] == [
        "MeterReading",
        "FuelInvoice",
        "CalibrationCertificate",
        "WeighbridgeTicket",
        "SiteVisitChecklist",
    ]
    assert [e.body for e in certificates] == [
        CalibrationCertificate.model_validate(bodies["calibration_certificate"])
    ]


def test_schema_problems_name_the_field():
    with pytest.raises(ValidationError) as caught:
        EntryIn.model_validate(
            {
                "id": "not-a-uuid",
                "type": "meter_reading",
                "author": "",
                "body": _reading(time="2026-02-01T08:00:00", colour="red"),
            }
        )
    problems = {p.field: p.message for p in problems_from(caught.value)}
    assert set(problems) == {"id", "author", "body.time", "body.colour"}
    assert problems["body.colour"] == "unknown key 'colour'"
    assert "timezone" in problems["body.time"]

    with pytest.raises(ValidationError) as caught:
        _entry(
            "calibration_certificate",
            {
                "device": "pv-a-meter",
                "calibrated_on": "2026-06-01",
                "certificate": "C-1",
                "result": "within_tolerance",
                "error_pct": 0.8,
                "tolerance_pct": 0.5,
            },
        )
    [problem] = problems_from(caught.value)
    assert problem.field == "body.tolerance_pct" and "exceeds" in problem.message

    with pytest.raises(ValidationError) as caught:
        _entry(
            "fuel_invoice",
            {
                "invoice_number": "I",
                "period_start": "2026-02-01",
                "period_end": "2026-01-31",
                "value": 1.0,
                "unit": "L",
            },
        )
    [problem] = problems_from(caught.value)
    assert problem.field == "body.period_end"


def test_future_times_are_refused(plan):
    entry = _entry(body=_reading(time="2026-11-27T00:00:00Z"))
    problems = validate_against_plan(entry, plan, now=NOW)
    assert [p.field for p in problems] == ["body.time"]
    assert validate_against_plan(entry, plan, now=NOW + timedelta(days=2)) == []


def test_manual_gas_reading_is_converted_like_the_meters_own():
    landfill = load_plan_file(PLANS / "landfill-gas-flare.yaml")
    # this meter reports plain m3 at 20 °C: 1000 m3 is 931.78 Nm3, as at the gateway
    entry = _entry(
        body=_reading(device="flare-flowmeter", quantity="gas_volume_normal", unit="m3", value=1000)
    )
    assert validate_against_plan(entry, landfill, now=NOW) == []
    assert isinstance(entry.body, MeterReading)
    assert canonical_value(entry.body, landfill) == pytest.approx(1000 * 273.15 / 293.15)
    # a gauge pressure read by hand counts the meter's stated atmosphere (95.2 kPa)
    gauge = _entry(body=_reading(device="gas-pt", quantity="gas_pressure", unit="kPag", value=2))
    assert isinstance(gauge.body, MeterReading)
    assert canonical_value(gauge.body, landfill) == pytest.approx(97.2)


def test_edit_needs_a_reason_and_keeps_history(db, plan):
    entry = _entry(recorded_at="2026-02-01T09:00:00+07:00")
    with db.session() as s, s.begin():
        add_entry(s, PROJECT, entry, plan)

    with db.session() as s, s.begin(), pytest.raises(RecordError) as caught:
        edit_entry(s, entry.id, _reading(value=1243.5), "  ", "supervisor")
    assert caught.value.field == "reason"

    with db.session() as s, s.begin():
        edited = edit_entry(
            s, entry.id, _reading(value=1243.5), "digits swapped", "supervisor", base_revision=1
        )
    assert edited.revision == 2 and isinstance(edited.body, MeterReading)
    assert edited.body.value == 1243.5
    assert edited.author == "somchai"  # the entry's author stays; the editor is in history
    assert edited.recorded_at == datetime(2026, 2, 1, 2, tzinfo=UTC)

    # a resend of the same edit adds nothing; a stale edit is a conflict, not an overwrite
    with db.session() as s, s.begin():
        assert edit_entry(s, str(entry.id), _reading(value=1243.5), "again", "x").revision == 2
    with db.session() as s, s.begin(), pytest.raises(Conflict) as caught:
        edit_entry(s, entry.id, _reading(value=1250.0), "late", "x", base_revision=1)
    assert caught.value.field == "revision"
    # an edit is checked like a new entry
    with db.session() as s, s.begin(), pytest.raises(EntryRejected) as rejected:
        edit_entry(s, entry.id, _reading(unit="m3"), "unit", "x")
    assert rejected.value.field == "body.unit"
    with db.session() as s, s.begin(), pytest.raises(EntryRejected) as rejected:
        edit_entry(s, entry.id, {**_reading(), "colour": "red"}, "key", "x")
    assert rejected.value.field == "body.colour"
    with db.session() as s, s.begin(), pytest.raises(NotFound):
        edit_entry(s, uuid.uuid4(), _reading(), "reason", "x")

    # a late resend of the original creation is still recognised
    with db.session() as s, s.begin():
        stored, created = add_entry(s, PROJECT, entry, plan)
    assert not created and stored.revision == 2

    with db.session() as s:
        history = entry_history(s, entry.id)
        current = get_entry(s, entry.id)
        assert verify_project(s, None, PROJECT).intact
    assert [(h.revision, h.reason, h.author) for h in history] == [
        (1, None, "somchai"),
        (2, "digits swapped", "supervisor"),
    ]
    assert [h.body.value for h in history] == [1234.5, 1243.5]  # type: ignore[union-attr]
    assert current == edited
    assert _audit_actions(db)[-2:] == ["entry.add", "entry.edit"]
    with db.session() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
    assert last.body["reason"] == "digits swapped" and last.body["revision"] == 2
    assert last.body["body_sha256"] == edited.body_sha256


# --- calibration records ----------------------------------------------------------------


def test_calibration_records_merge_plan_and_certificates(db, plan):
    entries = [
        # added out of date order on purpose
        _certificate("pv-b-meter", "2026-06-01", 0.12, certificate="CAL-26-B2"),
        _certificate("pv-b-meter", "2025-12-10", -0.3, certificate="CAL-25-B1"),
        _certificate("pv-a-meter", "2025-12-15", 0.1, certificate="CAL-2025-0412-copy"),
        _certificate("pv-a-meter", "2026-11-01", 0.7, certificate="CAL-26-A"),
    ]
    with db.session() as s, s.begin():
        for entry in entries:
            add_entry(s, PROJECT, entry, plan)
    # an edited certificate counts at its current revision
    corrected = {**entries[3].body.model_dump(mode="json"), "error_pct": 0.75}
    with db.session() as s, s.begin():
        edit_entry(s, entries[3].id, corrected, "error misread", "lab")
    with db.session() as s:
        records = calibration_records(s, PROJECT, plan)
        assert calibration_records(s, PROJECT) == records  # from the stored plan

    def src(entry: EntryIn) -> str:
        return f"entry:{entry.id}"

    assert records["pv-a-meter"] == [
        CalibrationRecord(
            "pv-a-meter", date(2023, 12, 10), "out_of_tolerance", -0.9, "OLD-1", "plan"
        ),
        # history says what the plan's last calibration found; its certificate is the plan's
        CalibrationRecord(
            "pv-a-meter", date(2025, 12, 15), "within_tolerance", 0.1, "CAL-2025-0412", "plan"
        ),
        CalibrationRecord(
            "pv-a-meter",
            date(2025, 12, 15),
            "within_tolerance",
            0.1,
            "CAL-2025-0412-copy",
            src(entries[2]),
        ),
        CalibrationRecord(
            "pv-a-meter", date(2026, 11, 1), "out_of_tolerance", 0.75, "CAL-26-A", src(entries[3])
        ),
    ]
    # the plan's bare "last" (assumed error 0) gives way to a certificate of the same day
    assert records["pv-b-meter"] == [
        CalibrationRecord(
            "pv-b-meter", date(2025, 12, 10), "within_tolerance", -0.3, "CAL-25-B1", src(entries[1])
        ),
        CalibrationRecord(
            "pv-b-meter", date(2026, 6, 1), "within_tolerance", 0.12, "CAL-26-B2", src(entries[0])
        ),
    ]
    assert records["pv-koh-meter"] == [
        CalibrationRecord("pv-koh-meter", date(2025, 12, 1), "within_tolerance", 0.0, None, "plan")
    ]
    assert records["koh-pyranometer"] == []


def test_plan_calibration_history_is_checked():
    data = yaml.safe_load(_plan_text())
    pv_a = next(d for d in data["devices"] if d["id"] == "pv-a-meter")
    pv_a["calibration"]["last"] = "2024-01-01"  # before the newest history event
    _, problems = validate_plan_text(yaml.safe_dump(data, sort_keys=False))
    assert [p.path for p in problems] == ["devices[0].calibration"]
    assert "before the latest calibration in history" in problems[0].message


# --- CLI --------------------------------------------------------------------------------

runner = CliRunner()


def _cli(*args: str, env: dict[str, str], code: int = 0) -> str:
    result = runner.invoke(app, list(args), env={**env, "COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {"MRV_HOME": str(tmp_path / "home"), "MRV_DATABASE_URL": db_url}
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(_plan_text())
    _cli("plan", "load", str(plan_file), env=env)
    return env


def test_cli_periods(cli_env):
    out = _cli(
        "periods",
        "define",
        "--project",
        PROJECT,
        "--start",
        "2026-01-01",
        "--end",
        "2026-12-31",
        env=cli_env,
    )
    assert "period 1 of th-solar-rooftops: 2026-01-01 to 2026-12-31 (365 days)" in out
    out = _cli(
        "periods",
        "define",
        "--project",
        PROJECT,
        "--start",
        "2027-01-05",
        "--end",
        "2027-12-31",
        env=cli_env,
        code=1,
    )
    assert "--start: 2027-01-05 leaves a gap after period 1" in out
    out = _cli(
        "periods",
        "define",
        "--project",
        PROJECT,
        "--start",
        "2027-01-01",
        "--end",
        "soon",
        env=cli_env,
        code=2,
    )
    assert "not a date" in out
    _cli(
        "periods",
        "define",
        "--project",
        PROJECT,
        "--start",
        "2027-01-01",
        "--end",
        "2027-12-31",
        env=cli_env,
    )
    listed = _cli("periods", "list", "--project", PROJECT, "--format", "jsonl", env=cli_env)
    rows = [json.loads(line) for line in listed.splitlines()]
    assert [(r["number"], r["start"], r["end"]) for r in rows] == [
        (1, "2026-01-01", "2026-12-31"),
        (2, "2027-01-01", "2027-12-31"),
    ]
    table = _cli("periods", "list", "--project", PROJECT, env=cli_env)
    assert "2027-12-31" in table and "365" in table


def test_cli_entries(cli_env, tmp_path: Path):
    good = [
        {
            "id": "9b2f6a52-3c1e-4d8e-9a4b-0c2d1e3f4a5b",
            "type": "meter_reading",
            "author": "somchai",
            "gps": {"lat": 12.681, "lon": 101.278, "accuracy_m": 8},
            "body": _reading(),
        },
        {
            "id": "1d0c3a44-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "type": "calibration_certificate",
            "body": {
                "device": "pv-b-meter",
                "calibrated_on": "2026-06-01",
                "certificate": "CAL-26-1",
                "result": "within_tolerance",
                "error_pct": 0.12,
            },
        },
    ]
    source = tmp_path / "entries.yaml"
    source.write_text(yaml.safe_dump(good, sort_keys=False))
    out = _cli("entries", "add", str(source), "--project", PROJECT, "--author", "lab", env=cli_env)
    assert "created 9b2f6a52-3c1e-4d8e-9a4b-0c2d1e3f4a5b meter_reading" in out
    assert "2 created, 0 existing, 0 rejected" in out
    out = _cli("entries", "add", str(source), "--project", PROJECT, "--author", "lab", env=cli_env)
    assert "0 created, 2 existing, 0 rejected" in out

    # one envelope in a JSON file; a list with problems: each names its item and field
    single = tmp_path / "one.json"
    single.write_text(
        json.dumps(
            {
                "id": str(uuid.uuid4()),
                "type": "weighbridge_ticket",
                "author": "gate",
                "body": {
                    "ticket_number": "W-1",
                    "time": "2026-03-01T10:00:00Z",
                    "net_mass": {"value": 12.5, "unit": "t"},
                    "material": "diesel",
                },
            }
        )
    )
    assert "1 created" in _cli("entries", "add", str(single), "--project", PROJECT, env=cli_env)
    bad_id = str(uuid.uuid4())
    broken = [
        {**good[0], "body": _reading(value=1300.0)},  # same id, other body
        {"id": bad_id, "type": "meter_reading", "author": "a", "body": _reading(device="pv-z")},
        {"id": "nope", "type": "meter_reading", "author": "a", "body": _reading(unit="kg")},
        {
            "id": str(uuid.uuid4()),
            "type": "meter_reading",
            "author": "a",
            "body": _reading(unit="kg"),
        },
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(broken))
    out = _cli("entries", "add", str(bad), "--project", PROJECT, env=cli_env, code=1)
    assert f"bad.yaml: [0] {good[0]['id']}: id: entry {good[0]['id']} is already stored" in out
    assert f"bad.yaml: [1] {bad_id}: body.device: 'pv-z' is not a device of project" in out
    assert "bad.yaml: [2] nope: id: Input should be a valid UUID" in out
    assert "bad.yaml: [3]" in out and "body.unit: unit 'kg'" in out
    assert "0 created, 0 existing, 4 rejected" in out
    not_yaml = tmp_path / "x.yaml"
    not_yaml.write_text("- [unclosed")
    assert "not valid YAML" in _cli(
        "entries", "add", str(not_yaml), "--project", PROJECT, env=cli_env, code=1
    )
    out = _cli("entries", "add", str(single), "--project", "nowhere", env=cli_env, code=1)
    assert "--project: unknown project 'nowhere'" in out

    listed = _cli("entries", "list", "--project", PROJECT, "--format", "jsonl", env=cli_env)
    records = [json.loads(line) for line in listed.splitlines()]
    assert sorted(r["type"] for r in records) == [
        "calibration_certificate",
        "meter_reading",
        "weighbridge_ticket",
    ]
    reading = next(r for r in records if r["type"] == "meter_reading")
    assert reading["author"] == "somchai" and reading["gps"]["accuracy_m"] == 8
    certificate = next(r for r in records if r["type"] == "calibration_certificate")
    assert certificate["author"] == "lab"  # --author fills in only where none is named
    only = _cli(
        "entries", "list", "--project", PROJECT, "--type", "weighbridge_ticket", env=cli_env
    )
    assert "W-1: 12.5 t diesel" in only and "meter_reading" not in only
    assert "is not one of" in _cli(
        "entries", "list", "--project", PROJECT, "--type", "selfie", env=cli_env, code=2
    )
