"""message_receipts: first receipt times of time-less messages, per gateway session

Readings of a payload without times (ThingsBoard without ``ts``, SenML without times)
are dated on receipt. A redelivery after a gateway kill (same session and packet id,
MQTT DUP set) gets its first receipt time back from here, so it is a duplicate, not a
second reading at a later time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 08:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_receipts",
        sa.Column("session_id", sa.String(length=160), nullable=False),
        sa.Column("packet_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "packet_id", "digest"),
    )
    op.create_index(
        "ix_message_receipts_received_ms", "message_receipts", ["received_ms"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_message_receipts_received_ms", table_name="message_receipts")
    op.drop_table("message_receipts")
