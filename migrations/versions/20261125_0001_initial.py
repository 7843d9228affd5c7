"""Audit events and resource history.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(253), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_time_id", "audit_events", ["time", "id"])
    op.create_index("ix_audit_events_user_time", "audit_events", ["user", "time", "id"])
    op.create_index("ix_audit_events_namespace_time", "audit_events", ["namespace", "time", "id"])
    op.create_index("ix_audit_events_name_time", "audit_events", ["name", "time", "id"])
    op.create_index("ix_audit_events_resource_time", "audit_events", ["resource", "time", "id"])
    op.create_table(
        "resources",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("user", sa.String(253), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=True),
        sa.Column("status", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
    )
    op.create_index("ix_resources_lookup", "resources", ["resource", "namespace", "name", "deleted_at"])
    op.create_index("ix_resources_deleted", "resources", ["resource", "deleted_at"])


def downgrade() -> None:
    op.drop_index("ix_resources_deleted", table_name="resources")
    op.drop_index("ix_resources_lookup", table_name="resources")
    op.drop_table("resources")
    for index in ("resource", "name", "namespace", "user"):
        op.drop_index(f"ix_audit_events_{index}_time", table_name="audit_events")
    op.drop_index("ix_audit_events_time_id", table_name="audit_events")
    op.drop_table("audit_events")
