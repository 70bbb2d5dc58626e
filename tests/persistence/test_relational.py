"""The relational store on SQLite and a real PostgreSQL: migrations, plans, idempotent
quarantine and events, and the audit hash chain (including tampering and concurrency)."""

from __future__ import annotations

import threading

from sqlalchemy import select, text

from persistence import audit
from persistence.engine import Database
from persistence.models import AuditEntry, Device, Event, QuarantineEntry
from persistence.repo import EventItem, QuarantineItem, load_plan, load_registry, record_outcome
from tests.support.paths import SOLAR_PLAN
from verification.plan_check import load_plan_file


def test_migrations_are_idempotent_and_plan_loads(db_url):
    db = Database(db_url)
    Database(db_url).dispose()  # a second upgrade is a no-op
    plan = load_plan_file(SOLAR_PLAN)
    with db.session() as s, s.begin():
        load_plan(s, plan, SOLAR_PLAN.read_text(), actor="test")
    with db.session() as s, s.begin():  # loading the same plan again updates in place
        load_plan(s, plan, SOLAR_PLAN.read_text(), actor="test")
    with db.session() as s:
        registry = load_registry(s)
        devices = s.scalars(select(Device)).all()
    assert len(devices) == 4
    info = registry.get("th-solar-rooftops", "pv-a-meter")
    assert info is not None and info.site == "rayong-a" and info.register_max == 99999999.9
    db.dispose()


def test_quarantine_and_events_are_idempotent(db_url):
    db = Database(db_url)
    item = QuarantineItem(
        topic="mrv/v1/p/s/d/readings",
        payload=b"\xff",
        received_ms=1_790_000_000_000,
        reason="not_utf8",
        detail="payload is not UTF-8",
        project="p",
        device="d",
    )
    event = EventItem("p", "d", "energy_export", 1_790_000_000_000, "reset", {"value": 1.0})
    for _ in range(3):  # a batch redelivered after a crash
        with db.session() as s, s.begin():
            record_outcome(s, [item], [event], {}, "test")
    with db.session() as s:
        assert len(s.scalars(select(QuarantineEntry)).all()) == 1
        assert len(s.scalars(select(Event)).all()) == 1
    db.dispose()


def test_audit_chain_verifies_and_finds_tampering(db_url):
    db = Database(db_url)
    for i in range(5):
        with db.session() as s, s.begin():
            audit.append(s, action="test", actor="t", body={"i": i}, project_id="p")
    with db.session() as s:
        verdict = audit.verify(s, "p")
    assert verdict.intact and verdict.length == 5
    with db.session() as s, s.begin():
        third = s.scalars(select(AuditEntry).where(AuditEntry.seq == 3)).one()
        # behind the application's back: change the body of an old entry
        s.execute(
            text("UPDATE audit_log SET body = :b WHERE id = :id"),
            {"b": '{"i": 99}', "id": third.id},
        )
    with db.session() as s:
        verdict = audit.verify(s, "p")
    assert not verdict.intact
    assert verdict.broken_at == 3 and verdict.length == 2
    assert verdict.reason == "its content does not match its hash"
    db.dispose()


def test_concurrent_appends_keep_one_chain(db_url):
    db = Database(db_url)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with db.session() as s, s.begin():
                    audit.append(s, action="test", actor=f"w{n}", body={"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with db.session() as s:
        verdict = audit.verify(s, audit.INSTALLATION)
    assert verdict.intact and verdict.length == 60
    db.dispose()
