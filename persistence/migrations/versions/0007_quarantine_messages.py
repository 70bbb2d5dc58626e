"""quarantine_messages: a quarantined message's raw bytes once, its problems refer to them

Until now every quarantine row held the whole raw payload, once per bad element of the
message: a 136 KB message with many bad readings wrote 68 MB. The bytes move to
``quarantine_messages`` (one row per digest, sha256(topic NUL payload), the digest the
rows already carry), and the rows get ``elements``: how many problems a row stands for
(1, or the count of the note that closes a capped message).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantine_messages",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    # One raw message per digest: the bytes of its first row (all rows of a digest hold
    # the same bytes, the digest being their hash with the topic).
    op.execute(
        "INSERT INTO quarantine_messages (digest, topic, payload, size_bytes, received_at) "
        "SELECT q.digest, q.topic, q.payload, length(q.payload), q.received_at "
        "FROM quarantine q WHERE q.id IN (SELECT min(id) FROM quarantine GROUP BY digest)"
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_column("payload")
        batch_op.add_column(
            sa.Column("elements", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.create_foreign_key(
            "fk_quarantine_digest", "quarantine_messages", ["digest"], ["digest"]
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE quarantine SET payload = (SELECT m.payload FROM quarantine_messages m "
        "WHERE m.digest = quarantine.digest)"
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_constraint("fk_quarantine_digest", type_="foreignkey")
        batch_op.drop_column("elements")
        batch_op.alter_column("payload", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table("quarantine_messages")
