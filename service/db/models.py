"""Tables of the audit trail and the resource history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names make migrations reproducible on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit key.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class AuditEventRow(Base):
    """One create, update or delete attempted through the API: announced (PENDING), then settled.

    A change that reaches Kubernetes is written before the call (outcome PENDING, its id stamped on the object)
    and settled after it, by the request or, after a crash, by the reconciler.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    time: Mapped[dt.datetime]
    user: Mapped[str] = mapped_column(String(253), default="")
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    code: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    uid: Mapped[str] = mapped_column(String(64), default="")
    """The Kubernetes uid of the object changed (known once the change is settled, or before a delete)."""
    resource_version: Mapped[str] = mapped_column(String(64), default="")
    """The object's resourceVersion after the change."""
    previous_resource_version: Mapped[str] = mapped_column(String(64), default="")
    """The resourceVersion the change replaced (updates): successive updates of one object form a chain."""
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The spec the change replaced (updates), for "what changed"."""
    subresource: Mapped[str] = mapped_column(String(16), default="")
    """``status`` for a write of the object's status subresource (which changes only ``.status``), else empty."""
    groups: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    auth_method: Mapped[str] = mapped_column(String(16), default="")
    """How ``user`` was verified: token, oidc, proxy; none (``user`` is then the body's claim)."""
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(253), default="")
    requested_user: Mapped[str] = mapped_column(String(253), default="")
    """The body's ``user`` field, whatever the verified user is."""

    __table_args__ = (
        # The reconciler looks for unsettled changes.
        Index("ix_audit_events_outcome_time", "outcome", "time"),
        # Newest-first pages, alone or after one equality filter; `id` breaks ties in the page order.
        Index("ix_audit_events_time_id", "time", "id"),
        Index("ix_audit_events_user_time", "user", "time", "id"),
        Index("ix_audit_events_namespace_time", "namespace", "time", "id"),
        Index("ix_audit_events_name_time", "name", "time", "id"),
        Index("ix_audit_events_resource_time", "resource", "time", "id"),
        Index("ix_audit_events_source_ip_time", "source_ip", "time", "id"),
    )


class ResourceRow(Base):
    """The life of one resource created through the API (or first seen in the cluster)."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    uid: Mapped[str] = mapped_column(String(64), default="")
    user: Mapped[str] = mapped_column(String(253), default="")
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        Index("ix_resources_lookup", "resource", "namespace", "name", "deleted_at"),
        Index("ix_resources_deleted", "resource", "deleted_at"),
    )


class HeartbeatRow(Base):
    """One row the readiness check rewrites, to prove the database takes writes (not only reads)."""

    __tablename__ = "heartbeat"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beat_at: Mapped[dt.datetime]
