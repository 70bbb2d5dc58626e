"""Releasing a capped message: its raw bytes are re-processed once, every itemised row and
the note that counts the rest are judged, and nothing is dropped on the way."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from core.wire import readings_topic
from gateway.decode import Inbound
from gateway.processor import BatchProcessor
from gateway.release import release
from persistence.engine import Database
from persistence.models import QuarantineEntry
from persistence.repo import NOTE_REASON, load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import TEST_PLAN
from verification.plan_check import load_plan_file, validate_plan_text

P = "test-proj"
EM9 = readings_topic(P, "s1", "em9")
N = 1500


def backfill() -> bytes:
    items = [
        {
            "device": "em9",
            "seq": k,
            "time": f"2026-11-01T{k // 60 // 60:02d}:{k // 60 % 60:02d}:{k % 60:02d}Z",
            "readings": [{"quantity": "energy_export", "value": float(k), "unit": "kWh"}],
        }
        for k in range(N)
    ]
    return json.dumps(items, separators=(",", ":")).encode()


def entries(db: Database) -> list[QuarantineEntry]:
    with db.session() as s:
        return list(s.scalars(select(QuarantineEntry).order_by(QuarantineEntry.id)))


def test_a_capped_message_is_released_whole_once_its_device_is_registered(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'mrv.sqlite'}")
    with db.session() as s, s.begin():
        load_plan(s, load_plan_file(TEST_PLAN), TEST_PLAN.read_text(), actor="test")
    store = SQLiteTimeSeriesStore(tmp_path / "readings.sqlite")
    processor = BatchProcessor(store, db)
    result = processor.process([Inbound(EM9, backfill(), 1_790_000_000_000)])
    assert dict(result.quarantined) == {"unknown_device": N}
    rows = entries(db)
    note = rows[-1]
    assert note.reason == NOTE_REASON and len(rows) - 1 + note.elements == N
    assert len(rows) < N  # capped

    # still unknown: every row stays open, the note still counts the rest
    outcomes = release(processor, None)
    assert len(outcomes) == len(rows) and not any(o.released for o in outcomes)
    kept = entries(db)
    assert [(r.status, r.elements) for r in kept] == [("open", r.elements) for r in rows]
    assert kept[-1].detail.startswith(f"{note.elements} more problems")
    assert store.count() == 0

    text = "plan_version: 2\n" + TEST_PLAN.read_text().replace(
        "  - id: fm-us",
        "  - {id: em9, site: s1, type: meter, serial: EM-9, quantities: [energy_export],"
        " accuracy_class: '1', register_max: 99999.9}\n  - id: fm-us",
    )
    plan, problems = validate_plan_text(text)
    assert not problems and plan is not None
    with db.session() as s, s.begin():
        load_plan(s, plan, text, actor="test")
    outcomes = release(processor, None)
    assert len(outcomes) == len(rows) and all(o.released for o in outcomes)
    assert {r.status for r in entries(db)} == {"released"}
    assert store.count() == N  # the note's elements too: the whole message went through
    store.close()
    db.dispose()
