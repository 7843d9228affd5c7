"""Querying the audit trail: filters, newest-first order and keyset pages."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import msgspec
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.db.models import AuditEventRow
from service.errors import UnavailableError


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    user: str | None = None
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
    sessionmaker: async_sessionmaker[AsyncSession],
    where: AuditFilter,
    limit: int,
    after: Position | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - the bound is applied inside, around the whole query
) -> Sequence[AuditEventRow]:
    """Up to ``limit`` events matching ``where``, newest first, strictly after ``after``."""
    table = AuditEventRow
    query = select(table)
    for column, value in (
        (table.user, where.user),
        (table.namespace, where.namespace),
        (table.resource, where.resource),
        (table.name, where.name),
        (table.action, where.action),
        (table.outcome, where.outcome),
    ):
        if value is not None:
            query = query.where(column == value)
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
    try:
        async with asyncio.timeout(timeout), sessionmaker() as session:
            return (await session.scalars(query)).all()
    except TimeoutError:
        raise UnavailableError(f"the database did not answer the audit query within {timeout}s") from None
    except SQLAlchemyError as exc:
        raise UnavailableError(f"the audit query failed: {type(exc).__name__}") from None


async def get_audit_event(
    sessionmaker: async_sessionmaker[AsyncSession],
    event_id: int,
    timeout: float = 10.0,  # noqa: ASYNC109 - the bound is applied inside, around the whole query
) -> AuditEventRow | None:
    """One event by id, or None."""
    try:
        async with asyncio.timeout(timeout), sessionmaker() as session:
            return await session.get(AuditEventRow, event_id)
    except TimeoutError:
        raise UnavailableError(f"the database did not answer within {timeout}s") from None
    except SQLAlchemyError as exc:
        raise UnavailableError(f"the audit query failed: {type(exc).__name__}") from None
