"""A batch's audit link is written before its readings (so that a kill between the two is
repaired by the broker's redelivery). Two links may therefore claim the same readings:
after a kill between link and insert, and when two gateways race on one redelivered
message. Neither is tampering, and verification must say the evidence is intact."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from core.wire import readings_topic
from gateway.decode import Inbound
from gateway.processor import BatchProcessor, Unavailable
from persistence.evidence import verify_project
from persistence.models import AuditEntry
from persistence.stores.timeseries import ReadingRow, StoreUnavailable, TimeSeriesStore
from tests.support.paths import SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest

P = "th-solar-rooftops"
TOPIC = readings_topic(P, "rayong-a", "pv-a-meter")


class Interposed:
    """The real store, with something made to happen just before one insert (a crash, or
    another gateway getting there first)."""

    def __init__(self, store: TimeSeriesStore, before_insert: Callable[[], None]) -> None:
        self._store = store
        self._before = before_insert

    def insert(self, rows: Sequence[ReadingRow]) -> int:
        before, self._before = self._before, lambda: None
        before()
        return self._store.insert(rows)

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def messages() -> list[Inbound]:
    """Twelve hourly register readings, as the device publishes them."""
    return [
        Inbound(
            TOPIC,
            json.dumps(
                {
                    "device": "pv-a-meter",
                    "seq": h + 1,
                    "time": f"2026-06-01T{h:02d}:00:00Z",
                    "readings": [{"quantity": "energy_export", "value": 100 + h, "unit": "kWh"}],
                }
            ).encode(),
            received_ms=1_780_300_000_000,
        )
        for h in range(12)
    ]


def batch_links(project: ProjectUnderTest) -> list[AuditEntry]:
    with project.db.session() as s:
        query = select(AuditEntry).where(AuditEntry.action == "readings.batch")
        return list(s.scalars(query))


def assert_intact(project: ProjectUnderTest) -> None:
    with project.db.session() as s:
        evidence = verify_project(s, project.store, P)
    assert evidence.intact, evidence.changes
    assert evidence.checked["readings"] == 12


@pytest.fixture
def project(tmp_path: Path):
    p = ProjectUnderTest(tmp_path, SOLAR_PLAN.read_text())
    yield p
    p.close()


def test_a_kill_between_the_link_and_the_readings_then_a_redelivery(project) -> None:
    def crash() -> None:
        raise StoreUnavailable("killed")

    gateway = BatchProcessor(Interposed(project.store, crash), project.db)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        gateway.process(messages())
    assert len(batch_links(project)) == 1 and project.store.count(P) == 0
    assert gateway.process(messages()).stored == 12  # the broker redelivers
    assert len(batch_links(project)) == 2
    assert_intact(project)


def test_two_gateways_race_on_one_redelivered_message(project) -> None:
    other = BatchProcessor(project.store, project.db, actor="gateway-b")
    raced = BatchProcessor(
        Interposed(project.store, lambda: other.process(messages())),  # type: ignore[arg-type]
        project.db,
    )
    result = raced.process(messages())
    assert result.stored == 0 and result.duplicates == 12
    assert project.store.count(P) == 12 and len(batch_links(project)) == 2
    assert_intact(project)


def test_a_reading_deleted_from_a_twice_claimed_batch_is_still_found(project) -> None:
    test_a_kill_between_the_link_and_the_readings_then_a_redelivery(project)
    project.store._conn.execute("DELETE FROM readings WHERE seq = 5")  # type: ignore[attr-defined]
    project.store._conn.commit()  # type: ignore[attr-defined]
    with project.db.session() as s:
        evidence = verify_project(s, project.store, P)
    assert not evidence.intact
    assert [c.what for c in evidence.changes if c.kind == "readings"] == [
        "batch changed: 11 stored of 12, digest differs"
    ] * 2
