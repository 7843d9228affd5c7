"""Querying the audit trail: filters, newest-first order and keyset pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec
from sqlalchemy import and_, or_, select

from service.db.models import AuditEventRow
from service.db.session import Database


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    user: str | None = None
    requested_user: str | None = None
    auth_method: str | None = None
    source_ip: str | None = None
    namespaces: tuple[str, ...] | None = None
    """Only these namespaces (the ones a caller may read); None: no such limit."""
    namespace: str | None = None
    resource: str | None = None
    name: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class Position(msgspec.Struct, frozen=True):
    """Where the previous page ended: the (time, id) of its last row."""

    time: dt.datetime
    id: int


async def query_audit(
    db: Database, where: AuditFilter, limit: int, after: Position | None = None
) -> Sequence[AuditEventRow]:
    """Up to ``limit`` events matching ``where``, newest first, strictly after ``after``."""
    table = AuditEventRow
    query = select(table)
    for column, value in (
        (table.user, where.user),
        (table.requested_user, where.requested_user),
        (table.auth_method, where.auth_method),
        (table.source_ip, where.source_ip),
        (table.namespace, where.namespace),
        (table.resource, where.resource),
        (table.name, where.name),
        (table.action, where.action),
        (table.outcome, where.outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.namespaces is not None:
        query = query.where(table.namespace.in_(where.namespaces))
    if where.since is not None:
        query = query.where(table.time >= where.since)
    if where.until is not None:
        query = query.where(table.time < where.until)
    if after is not None:
        # The redundant `time <= t` gives both databases an index range to start from; the OR alone makes them
        # scan from the newest row.
        query = query.where(
            table.time <= after.time,
            or_(table.time < after.time, and_(table.time == after.time, table.id < after.id)),
        )
    query = query.order_by(table.time.desc(), table.id.desc()).limit(limit)
    async with db.transaction("audit_query") as session:
        return (await session.scalars(query)).all()


async def get_audit_event(db: Database, event_id: int) -> AuditEventRow | None:
    """One event by id, or None."""
    async with db.transaction("audit_get") as session:
        return await session.get(AuditEventRow, event_id)
