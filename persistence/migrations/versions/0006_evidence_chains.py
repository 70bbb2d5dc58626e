"""evidence chains: one audit chain per project with subjects, chain tips, security log

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:00:00

The one global chain becomes a chain per project (``*`` for links of no project):
every link gets its chain, its position and its subject, and is hashed again in the
new form. Denied requests leave the chain for the bounded security log. Plan and token
links are restated in the claim form that verification recomputes, as stored at the
upgrade. Readings batches of the old form named no project and stay in ``*``,
unchecked (the readings they covered show as stored without a link).
"""

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha(value: object) -> str:
    return hashlib.sha256(_canonical(value).encode()).hexdigest()


def _aware(moment: datetime | str | None) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | str | None) -> str | None:
    aware = _aware(moment)
    return aware.astimezone(UTC).isoformat(timespec="microseconds") if aware else None


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _hash(prev: str, link: dict[str, object]) -> str:
    material = _canonical(
        {
            "chain": link["chain"],
            "seq": link["seq"],
            "recorded_at": _iso(link["recorded_at"]),  # type: ignore[arg-type]
            "project": link["project_id"],
            "action": link["action"],
            "actor": link["actor"],
            "subject": [link["subject_kind"], link["subject_id"]]
            if link["subject_kind"]
            else None,
            "body": link["body"],
        }
    )
    return hashlib.sha256(f"{prev}\n{material}".encode()).hexdigest()


def _schema() -> None:
    op.create_table(
        "audit_chains",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("chain", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("subject_kind", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("subject_id", sa.String(length=128), nullable=True))


SUBJECTS = {  # action -> (subject kind, the body key naming it)
    "entry.add": ("entry", "id"),
    "entry.edit": ("entry", "id"),
    "photo.add": ("photo", "sha256"),
    "plan.load": ("plan", "plan_version"),
    "period.define": ("period", "number"),
    "device.register": ("device", "device"),
    "device.retire": ("device", "device"),
    "quarantine.release": ("quarantine", "id"),
    "token.created": ("token", "token_id"),
    "token.revoked": ("token", "token_id"),
    "report.issued": ("report", "content_sha256"),
}


def _device_digest(row: sa.Row) -> str:  # type: ignore[type-arg]
    return _sha(
        {
            "site": row.site_id,
            "type": row.type,
            "serial": row.serial,
            "quantities": _json(row.quantities),
            "register_max": row.register_max,
            "reference_temperature_c": row.reference_temperature_c,
            "reference_pressure_kpa": row.reference_pressure_kpa,
            "atmosphere_kpa": row.atmosphere_kpa,
            "expected_interval_s": row.expected_interval_s,
            "status": row.status,
            "record": _json(row.record),
        }
    )


def _restated(conn: sa.Connection, link: dict[str, object], last_plan: set[object]) -> object:
    """A plan or token link's body in the claim form, as stored now."""
    body = dict(link["body"])  # type: ignore[call-overload]
    if link["action"] == "plan.load":
        project = conn.execute(
            sa.text("SELECT plan, plan_version FROM projects WHERE id = :p"),
            {"p": link["project_id"]},
        ).one_or_none()
        current = link["id"] in last_plan and project is not None
        devices = conn.execute(
            sa.text("SELECT * FROM devices WHERE project_id = :p"), {"p": link["project_id"]}
        ).all()
        return {
            "plan_version": body["plan_version"],
            "source_sha256": body["plan_sha256"],  # the old form's digest was of the file
            "plan_sha256": _sha(_json(project.plan)) if current and project else None,
            "devices": {d.id: _device_digest(d) for d in devices} if current else {},
        }
    if str(link["action"]).startswith("token."):
        token = conn.execute(
            sa.text("SELECT * FROM api_tokens WHERE id = :i"), {"i": body["token_id"]}
        ).one_or_none()
        if token is None:
            return body
        projects = _json(token.projects)
        grant = {"token_sha256": token.token_sha256, "role": token.role, "projects": projects}
        life = {k: _iso(getattr(token, k)) for k in ("created_at", "expires_at", "revoked_at")}
        return {
            "token_id": token.id,
            "role": token.role,
            "projects": projects,
            "label": token.label,
            "sha256": _sha({**grant, "label": token.label, **life}),
        }
    return body


def _chains(conn: sa.Connection, row: dict[str, object]) -> list[str]:
    """A token's links go to each project it grants (``*`` for every project)."""
    if str(row["action"]).startswith("token."):
        projects = _json(
            conn.execute(
                sa.text("SELECT projects FROM api_tokens WHERE id = :i"),
                {"i": row["body"]["token_id"]},  # type: ignore[index]
            ).scalar()
        )
        return list(projects or []) or ["*"]  # type: ignore[call-overload]
    return [str(row["project_id"] or "*")]


def _write(conn: sa.Connection, link: dict[str, object], insert: bool) -> None:
    values = {k: link[k] for k in ("chain", "seq", "subject_kind", "subject_id", "prev_hash", "hash")}
    values["body"] = _canonical(link["body"])
    values["project_id"] = None if link["chain"] == "*" else link["chain"]
    if insert:
        values.update({k: link[k] for k in ("recorded_at", "action", "actor")})
        columns = ", ".join(values)
        conn.execute(
            sa.text(f"INSERT INTO audit_log ({columns}) VALUES (:{', :'.join(values)})"), values
        )
        return
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    conn.execute(
        sa.text(f"UPDATE audit_log SET {assignments} WHERE id = :id"), {**values, "id": link["id"]}
    )


def _to_security_log(conn: sa.Connection, row: dict[str, object]) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO security_events (recorded_at, kind, actor, project_id, detail)"
            " VALUES (:t, 'api.denied', :a, NULL, :d)"
        ),
        {"t": row["recorded_at"], "a": row["actor"], "d": _canonical(row["body"])},
    )
    conn.execute(sa.text("DELETE FROM audit_log WHERE id = :i"), {"i": row["id"]})


def _rechain(conn: sa.Connection) -> None:
    rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM audit_log ORDER BY id"))]
    last_plan: dict[object, object] = {}
    for row in rows:
        row["body"] = _json(row["body"])
        if row["action"] == "plan.load":
            last_plan[row["project_id"]] = row["id"]
    tips: dict[str, tuple[int, str]] = {}
    for row in rows:
        if row["action"] == "api.denied":
            _to_security_log(conn, row)
            continue
        kind, key = SUBJECTS.get(str(row["action"]), (None, None))
        row["body"] = _restated(conn, row, set(last_plan.values()))
        named = row["body"].get(key) if kind and key else None
        subject_id = str(named)[: 32 if kind == "report" else 128] if named is not None else None
        for i, chain in enumerate(_chains(conn, row)):
            length, prev = tips.get(chain, (0, GENESIS))
            link = {
                **row,
                "chain": chain,
                "seq": length + 1,
                "project_id": None if chain == "*" else chain,
                "subject_kind": kind if subject_id else None,
                "subject_id": subject_id,
                "prev_hash": prev,
            }
            link["hash"] = _hash(prev, link)
            _write(conn, link, insert=i > 0)
            tips[chain] = (length + 1, str(link["hash"]))
    for chain, (length, digest) in tips.items():
        conn.execute(
            sa.text("INSERT INTO audit_chains (chain, length, hash) VALUES (:c, :l, :h)"),
            {"c": chain, "l": length, "h": digest},
        )


def upgrade() -> None:
    _schema()
    _rechain(op.get_bind())
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("chain", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint("uq_audit_chain_seq", ["chain", "seq"])
        batch.create_index("ix_audit_subject", ["chain", "subject_kind", "subject_id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_subject")
        batch.drop_constraint("uq_audit_chain_seq", type_="unique")
        batch.drop_column("subject_id")
        batch.drop_column("subject_kind")
        batch.drop_column("seq")
        batch.drop_column("chain")
    op.drop_table("security_events")
    op.drop_table("audit_chains")
