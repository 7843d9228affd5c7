"""Changes announced before they reach Kubernetes (PENDING audit rows), update chains, and a heartbeat.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("uid", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("resource_version", sa.String(64), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("previous_resource_version", sa.String(64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("previous", sa.JSON(), nullable=True))
    op.create_index("ix_audit_events_outcome_time", "audit_events", ["outcome", "time"])
    # The PENDING row of a deletion now tells the watcher that the API is deleting the object.
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("deleting_since")
    heartbeat = op.create_table(
        "heartbeat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeat")),
    )
    op.bulk_insert(heartbeat, [{"id": 1, "beat_at": dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    op.drop_table("heartbeat")
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("deleting_since", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_audit_events_outcome_time", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        for column in ("previous", "previous_resource_version", "resource_version", "uid"):
            batch.drop_column(column)
