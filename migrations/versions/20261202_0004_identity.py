"""Verified identities in the audit trail: groups, how the user was verified, where the call came from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("groups", "auth_method", "source_ip", "user_agent", "requested_user")


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("groups", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("auth_method", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("source_ip", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("user_agent", sa.String(253), nullable=False, server_default=""))
        batch.add_column(sa.Column("requested_user", sa.String(253), nullable=False, server_default=""))
    # Rows written before identities were verified: their user is what the body claimed.
    op.execute("UPDATE audit_events SET requested_user = \"user\", auth_method = 'none'")
    op.create_index("ix_audit_events_source_ip_time", "audit_events", ["source_ip", "time", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_source_ip_time", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
