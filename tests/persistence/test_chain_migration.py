"""Migration 0006 turns the one global chain of earlier versions into a chain per project
that verifies, on SQLite and PostgreSQL: a database is built with today's code, taken
back to 0005 and its chain rewritten in the old form (global, old bodies, old hashes,
denials in it), then upgraded again."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

from alembic import command
from sqlalchemy import text

from core.digests import canonical_json
from mrv.api.tokens import create_token, revoke_token
from persistence import audit
from persistence.engine import Database, alembic_config
from persistence.evidence import verify_project
from persistence.records import define_period
from persistence.repo import load_plan
from tests.support.paths import SOLAR_PLAN
from verification.plan_check import load_plan_file

P = "th-solar-rooftops"


def _old_body(conn, row) -> dict:
    """A link's body as versions before 0006 wrote it."""
    body = row.body if isinstance(row.body, dict) else json.loads(row.body)
    if row.action == "plan.load":
        return {
            "plan_sha256": body["source_sha256"],
            "plan_version": body["plan_version"],
            "devices": sorted(body["devices"]),
        }
    if row.action == "token.created":
        return {k: body[k] for k in ("token_id", "role", "projects", "label")}
    if row.action == "token.revoked":
        return {"token_id": body["token_id"]}
    return body


def _to_old_chain(conn) -> None:
    rows = conn.execute(text("SELECT * FROM audit_log ORDER BY id")).all()
    seen_tokens: set[tuple[str, int]] = set()
    conn.execute(text("DELETE FROM audit_log"))
    prev = "0" * 64
    links = [(r, _old_body(conn, r)) for r in rows]
    links.append((None, {"project": P, "role": "verifier"}))  # a denial, as it was logged
    for row, body in links:
        action = row.action if row else "api.denied"
        if action.startswith("token."):  # once, in the global chain, not per project
            key = (action, body["token_id"])
            if key in seen_tokens:
                continue
            seen_tokens.add(key)
        project = None if action.startswith("token.") or action == "api.denied" else P
        when = datetime(2026, 11, 1, tzinfo=UTC) if row is None else row.recorded_at
        if isinstance(when, str):  # SQLite through plain SQL
            when = datetime.fromisoformat(when)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        material = canonical_json(
            {
                "recorded_at": when.astimezone(UTC).isoformat(timespec="microseconds"),
                "project": project,
                "action": action,
                "actor": "t",
                "body": body,
            }
        )
        digest = hashlib.sha256(f"{prev}\n{material}".encode()).hexdigest()
        conn.execute(
            text(
                "INSERT INTO audit_log (recorded_at, project_id, action, actor, body, prev_hash,"
                " hash) VALUES (:t, :p, :a, 't', :b, :prev, :h)"
            ),
            {
                "t": when,
                "p": project,
                "a": action,
                "b": json.dumps(body),
                "prev": prev,
                "h": digest,
            },
        )
        prev = digest
    conn.execute(text("UPDATE audit_head SET hash = :h, length = :n"), {"h": prev, "n": len(links)})


def test_an_old_global_chain_becomes_chains_that_verify(db_url) -> None:
    db = Database(db_url)
    with db.session() as s, s.begin():
        load_plan(s, load_plan_file(SOLAR_PLAN), SOLAR_PLAN.read_text(), actor="t")
        define_period(s, P, date(2026, 1, 1), date(2026, 6, 30), "t")
        _, info = create_token(s, "verifier", [P], label="vera")
        create_token(s, "admin", [], label="root")
        revoke_token(s, info.id)
    db.dispose()
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0005")
    db = Database(db_url, run_migrations=False)
    with db.engine.begin() as conn:
        _to_old_chain(conn)
    db.dispose()

    db = Database(db_url)  # upgrades to the newest migration
    with db.session() as s:
        evidence = verify_project(s, None, P)
        assert evidence.intact, (evidence.chain, evidence.changes)
        assert evidence.checked == {
            "entries": 0,
            "plans": 1,
            "periods": 1,
            "tokens": 1,
            "photos": 0,
            "quarantine": 0,
        }
        assert audit.verify(s, audit.INSTALLATION).intact  # the admin token's links
        kinds = s.execute(text("SELECT kind FROM security_events")).scalars().all()
        assert kinds == ["api.denied"]
        denied = s.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'api.denied'")
        ).scalar()
        assert denied == 0
    db.dispose()
