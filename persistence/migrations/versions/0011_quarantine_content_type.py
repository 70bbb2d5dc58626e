"""quarantine_messages.content_type: MQTT 5's content type as published

A SenML pack may be known only by its content type (application/senml+json); a release
must decode the quarantined message as it was first decoded.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine_messages") as batch:
        batch.add_column(sa.Column("content_type", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quarantine_messages") as batch:
        batch.drop_column("content_type")
