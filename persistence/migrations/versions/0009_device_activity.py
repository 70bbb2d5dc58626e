"""device_activity: when each device's last message arrived

A device is offline when it has been silent for longer than its plan allows
(``offline_after_s``) or when its last will said so. The gateway records, per device and
batch, the receive time of the newest message on the device's readings topic.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_activity",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("last_message_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "device_id"),
    )


def downgrade() -> None:
    op.drop_table("device_activity")
