"""Quarantine keeps a message's raw bytes once and refers to them from each problem, with
a cap on the rows of one message; on SQLite and a real PostgreSQL. The migration from
the schema that kept the bytes in every row (0006) moves them, once per digest."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import func, inspect, select, text
from typer.testing import CliRunner

from mrv.cli import app
from persistence.engine import Database, alembic_config, make_engine
from persistence.models import QuarantineEntry, QuarantineMessage
from persistence.repo import (
    MAX_DETAIL,
    MAX_ITEM_ROWS,
    NOTE_ITEM,
    NOTE_REASON,
    QuarantineItem,
    payload_digest,
    quarantine_counts,
    quarantine_rows,
    record_outcome,
)
from verification.bundle import Period, _tables

TOPIC = "mrv/v1/p/s/d/readings"


def problems(payload: bytes, n: int, reason: str = "unit_dimension") -> list[QuarantineItem]:
    return [
        QuarantineItem(
            topic=TOPIC,
            payload=payload,
            received_ms=1_790_000_000_000,
            reason=reason,
            detail=f"readings[{j}].unit: 'kg' is not an energy" + "!" * 3000,
            item=f"readings[{j}]",
            field=f"readings[{j}].unit",
            project="p",
            device="d",
            seq=7,
        )
        for j in range(n)
    ]


def rows_of(db: Database, digest: str) -> list[QuarantineEntry]:
    with db.session() as s:
        query = select(QuarantineEntry).where(QuarantineEntry.digest == digest)
        return list(s.scalars(query.order_by(QuarantineEntry.id)))


def test_raw_bytes_once_rows_refer_to_them_and_redelivery_adds_nothing(db_url):
    db = Database(db_url)
    payload = b'{"device":"d","seq":7}' + b" " * 100_000  # room for every row
    items = problems(payload, 3) + problems(payload, 3)  # the same parts twice in a batch
    for _ in range(3):  # redelivered after a crash
        with db.session() as s, s.begin():
            record_outcome(s, items, [], {}, "test")
    digest = payload_digest(TOPIC, payload)
    with db.session() as s:
        raws = list(s.scalars(select(QuarantineMessage)))
    assert [(r.digest, bytes(r.payload), r.topic, r.size_bytes) for r in raws] == [
        (digest, payload, TOPIC, len(payload))
    ]
    rows = rows_of(db, digest)
    assert [r.item for r in rows] == ["readings[0]", "readings[1]", "readings[2]"]
    assert all(len(r.detail) <= MAX_DETAIL and r.elements == 1 for r in rows)
    db.dispose()


def test_a_message_with_many_problems_is_capped_and_its_note_counts_the_rest(db_url):
    db = Database(db_url)
    payload = b"[" + b"1," * 2_000 + b"1]"
    with db.session() as s, s.begin():
        record_outcome(s, problems(payload, 5_000), [], {}, "test")
    rows = rows_of(db, payload_digest(TOPIC, payload))
    itemised, note = rows[:-1], rows[-1]
    assert 1 <= len(itemised) < MAX_ITEM_ROWS
    assert (note.item, note.reason, note.field) == (NOTE_ITEM, NOTE_REASON, None)
    assert len(itemised) + note.elements == 5_000
    assert note.detail.startswith(f"{note.elements} more problems")
    assert "unit_dimension" in note.detail and "not stored" in note.detail
    with db.session() as s:
        assert quarantine_counts(s) == {
            ("p", "unit_dimension"): len(itemised),
            ("p", NOTE_REASON): note.elements,
        }
    db.dispose()


def test_at_most_max_item_rows_however_large_the_message():
    payload = b"x" * 10_000_000
    raws, rows = quarantine_rows(problems(payload, MAX_ITEM_ROWS + 5))
    assert len(raws) == 1 and len(rows) == MAX_ITEM_ROWS + 1
    assert rows[-1]["elements"] == 5


def test_row_cost_estimate_holds_on_sqlite(tmp_path: Path):
    """The cap is computed from an estimate of each row's bytes: check it against what
    SQLite really takes (pages before and after, checkpointed)."""
    from persistence.repo import _row_cost

    url = f"sqlite:///{tmp_path / 'q.sqlite'}"
    db = Database(url)

    def pages() -> int:
        con = sqlite3.connect(tmp_path / "q.sqlite")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        n = con.execute("PRAGMA page_count").fetchone()[0] * 4096
        con.close()
        return int(n)

    payload = b"y" * 5_000_000
    raws, rows = quarantine_rows(problems(payload, 1_000))
    assert len(rows) == 1_000
    before = pages()
    with db.engine.begin() as conn:
        conn.execute(QuarantineMessage.__table__.insert(), raws)
    mid = pages()
    with db.engine.begin() as conn:
        conn.execute(QuarantineEntry.__table__.insert(), rows)
    after = pages()
    estimated = sum(_row_cost(r) for r in rows)
    print(f"raw {mid - before} B for {len(payload)}; rows {after - mid} B, estimated {estimated}")
    assert mid - before <= len(payload) * 1.01 + 8192
    assert after - mid <= 1.25 * estimated
    db.dispose()


# --- the migration from 0006 -----------------------------------------------------------


OLD_ROWS = [
    # digest, item, payload: two parts of one message, and another message
    ("a" * 64, "readings[0]", b"first message"),
    ("a" * 64, "readings[1]", b"first message"),
    ("b" * 64, "message", b"\xff\xfe second"),
]


def test_migration_from_0006_moves_payloads_once_per_digest(db_url):
    command.upgrade(alembic_config(db_url), "0006")
    engine = make_engine(db_url)
    when = datetime(2026, 11, 30, 12, tzinfo=UTC)
    with engine.begin() as conn:
        for digest, item, payload in OLD_ROWS:
            conn.execute(
                text(
                    "INSERT INTO quarantine (digest, item, received_at, topic, payload, reason,"
                    " detail, field, project_id, device_id, seq, status) VALUES (:d, :i, :w,"
                    " :t, :p, 'schema', 'bad', NULL, 'p', 'd', 1, 'open')"
                ),
                {"d": digest, "i": item, "w": when, "t": TOPIC, "p": payload},
            )
    engine.dispose()
    db = Database(db_url)  # upgrades to head
    with db.session() as s:
        raws = {m.digest: m for m in s.scalars(select(QuarantineMessage))}
        entries = list(s.scalars(select(QuarantineEntry).order_by(QuarantineEntry.id)))
        count = s.scalar(select(func.count()).select_from(QuarantineEntry))
    assert {d: (bytes(m.payload), m.size_bytes, m.topic) for d, m in raws.items()} == {
        "a" * 64: (b"first message", 13, TOPIC),
        "b" * 64: (b"\xff\xfe second", 9, TOPIC),
    }
    assert count == 3
    assert [(e.digest, e.item, e.elements, e.status) for e in entries] == [
        (d, i, 1, "open") for d, i, _ in OLD_ROWS
    ]
    columns = {c["name"] for c in inspect(db.engine).get_columns("quarantine")}
    assert "payload" not in columns and "elements" in columns
    # new rows refer to the moved messages like any others
    db.dispose()
    command.downgrade(alembic_config(db_url), "0006")
    engine = make_engine(db_url)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT item, payload FROM quarantine ORDER BY id")).all()
    engine.dispose()
    assert [(i, bytes(p)) for i, p in back] == [(i, p) for _, i, p in OLD_ROWS]


def test_the_cli_lists_each_entry_with_its_message_payload(tmp_path: Path):
    """`mrv quarantine list --format jsonl` shows the raw payload beside every entry, as
    when each row held its own copy."""
    db = Database(f"sqlite:///{tmp_path / 'mrv.sqlite'}")
    bad = b'{"device":"d","seq":7,"time":"2026-11-01T00:00:00Z"}\xff'
    with db.session() as s, s.begin():
        record_outcome(s, problems(bad, 2) + problems(b"\x00\x01", 1), [], {}, "test")
    db.dispose()
    out = CliRunner().invoke(
        app, ["quarantine", "list", "--format", "jsonl"], env={"MRV_HOME": str(tmp_path)}
    )
    assert out.exit_code == 0, out.output
    listed = [json.loads(line) for line in out.output.splitlines()]
    assert [(e["item"], e["payload"]) for e in listed] == [
        ("readings[0]", bad.decode("utf-8", "backslashreplace")),
        ("readings[1]", bad.decode("utf-8", "backslashreplace")),
        ("readings[0]", "\x00\x01"),
    ]


def test_the_evidence_bundle_carries_each_quarantined_message_once(tmp_path: Path):
    """The bundle's quarantine.jsonl lists the entries; quarantine_messages.jsonl holds
    their raw bytes, once per message."""
    db = Database(f"sqlite:///{tmp_path / 'mrv.sqlite'}")
    other = [QuarantineItem(TOPIC, b"elsewhere", 1_790_000_000_000, "schema", "x", project="q")]
    with db.session() as s, s.begin():
        record_outcome(s, problems(b"\xffbad", 3) + other, [], {}, "test")
    with db.session() as s:
        files = _tables(
            s, "p", Period(1, datetime(2026, 1, 1).date(), datetime(2026, 12, 31).date())
        )
    db.dispose()
    entries = [json.loads(line) for line in files["quarantine.jsonl"].splitlines()]
    raws = [json.loads(line) for line in files["quarantine_messages.jsonl"].splitlines()]
    assert len(entries) == 3 and "payload" not in entries[0]
    assert [(r["digest"], base64.b64decode(r["payload"])) for r in raws] == [
        (payload_digest(TOPIC, b"\xffbad"), b"\xffbad")
    ]
