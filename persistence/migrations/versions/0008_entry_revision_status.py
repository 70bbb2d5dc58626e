"""entry_revisions.status: a withdrawal, reinstatement or deletion is a revision

An entry's status (active, withdrawn, deleted) was a column of its current row only, so
a change of status left no revision behind and no reason. Each revision now states the
status it put the entry in; every revision stored so far was an active one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 04:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entry_revisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="active")
        )


def downgrade() -> None:
    with op.batch_alter_table("entry_revisions", schema=None) as batch_op:
        batch_op.drop_column("status")
