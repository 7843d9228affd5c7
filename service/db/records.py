"""Reading and writing the audit trail and the resource history.

Every public method runs in its own short transaction bounded by a timeout: a failure record must survive the
failed request that produced it, and a hung database must become a 503, not a hung request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import load_only

from service.db.models import AuditEventRow, ResourceRow
from service.errors import UnavailableError
from service.metrics import DB_ERRORS


class Action(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class Outcome(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class Resource(enum.StrEnum):
    COMPUTE_TEMPLATES = "computeTemplates"
    CLUSTERS = "clusters"
    JOBS = "jobs"
    SERVICES = "services"


# How long a flagged deletion is left to its API call; after that (say the replica died) anyone may close it.
DELETE_IN_FLIGHT = dt.timedelta(seconds=60)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


class Records:
    """The service's SQL records."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], timeout: float = 10.0) -> None:
        self._sessionmaker = sessionmaker
        self._timeout = timeout

    @asynccontextmanager
    async def _transaction(self, operation: str) -> AsyncIterator[AsyncSession]:
        try:
            async with asyncio.timeout(self._timeout), self._sessionmaker() as session, session.begin():
                yield session
        except TimeoutError:
            DB_ERRORS.labels(operation=operation).inc()
            raise UnavailableError(
                f"the database did not answer within {self._timeout}s ({operation})"
            ) from None
        except (SQLAlchemyError, OSError) as exc:
            DB_ERRORS.labels(operation=operation).inc()
            raise UnavailableError(f"the database failed ({operation}): {type(exc).__name__}") from None

    async def ping(self) -> None:
        async with self._transaction("ping") as session:
            await session.execute(text("SELECT 1"))

    async def success(
        self,
        *,
        action: Action,
        resource: Resource,
        namespace: str,
        name: str,
        user: str,
        spec: dict[str, Any] | None,
        uid: str = "",
        status: dict[str, Any] | None = None,
        created_at: dt.datetime | None = None,
        request_id: str = "",
        time: dt.datetime | None = None,
    ) -> ResourceRow:
        """Record a successful change and update the resource's history row, in one transaction."""
        now = time or utcnow()
        async with self._transaction("record_success") as session:
            session.add(
                _event(now, action, resource, namespace, name, user, spec, Outcome.SUCCESS, 0, "", request_id)
            )
            row = await _live_row(session, resource, namespace, name)
            if action is Action.DELETE and row is None and uid:
                # The watcher may have seen the deletion first and closed the row already.
                row = await _row_by_uid(session, resource, uid)
            if action is Action.CREATE or row is None:
                if row is not None:  # a stale live row (deleted outside the API): close it first
                    row.deleted_at = now
                row = ResourceRow(
                    resource=resource,
                    namespace=namespace,
                    name=name,
                    uid=uid,
                    user=user,
                    created_at=created_at or now,
                    spec=spec,
                )
                session.add(row)
            if action is Action.UPDATE:
                row.spec = spec
                row.updated_at = now
                row.uid = uid or row.uid
            if action is Action.DELETE:
                row.deleted_at = row.deleted_at or now
                row.status = status or row.status
                if spec is not None:
                    row.spec = spec
        return row

    async def failure(
        self,
        *,
        action: Action,
        resource: Resource,
        namespace: str,
        name: str,
        user: str,
        spec: dict[str, Any] | None,
        code: int,
        message: str,
        request_id: str = "",
    ) -> None:
        """Record a failed attempt, in a transaction of its own."""
        async with self._transaction("record_failure") as session:
            session.add(
                _event(
                    utcnow(),
                    action,
                    resource,
                    namespace,
                    name,
                    user,
                    spec,
                    Outcome.FAILURE,
                    code,
                    message,
                    request_id,
                )
            )

    async def live(self, resource: Resource, namespace: str | None) -> dict[tuple[str, str], ResourceRow]:
        """Live history rows by (namespace, name), without their (large) spec and status."""
        query = (
            select(ResourceRow)
            .options(
                load_only(
                    ResourceRow.namespace,
                    ResourceRow.name,
                    ResourceRow.uid,
                    ResourceRow.user,
                    ResourceRow.created_at,
                    ResourceRow.deleted_at,
                )
            )
            .where(ResourceRow.resource == resource, ResourceRow.deleted_at.is_(None))
        )
        if namespace is not None:
            query = query.where(ResourceRow.namespace == namespace)
        async with self._transaction("list_live") as session:
            rows = (await session.scalars(query)).all()
        return {(row.namespace, row.name): row for row in rows}

    async def get_live(self, resource: Resource, namespace: str, name: str) -> ResourceRow | None:
        async with self._transaction("get_live") as session:
            return await _live_row(session, resource, namespace, name)

    async def deleted(
        self, resource: Resource, namespace: str | None, after_id: int = 0, limit: int = 0
    ) -> Sequence[ResourceRow]:
        """Rows of deleted resources in a stable order (by id), after ``after_id``, at most ``limit``."""
        query = select(ResourceRow).where(
            ResourceRow.resource == resource, ResourceRow.deleted_at.is_not(None), ResourceRow.id > after_id
        )
        if namespace is not None:
            query = query.where(ResourceRow.namespace == namespace)
        query = query.order_by(ResourceRow.id)
        if limit > 0:
            query = query.limit(limit)
        async with self._transaction("list_deleted") as session:
            return (await session.scalars(query)).all()

    async def begin_delete(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        uid: str,
        user: str,
        created_at: dt.datetime | None,
        spec: dict[str, Any] | None,
    ) -> None:
        """Flag the live row (adopting a resource created outside the API) before deleting it in Kubernetes."""
        async with self._transaction("begin_delete") as session:
            row = await _live_row(session, resource, namespace, name, for_update=True)
            if row is None:
                row = ResourceRow(
                    resource=resource,
                    namespace=namespace,
                    name=name,
                    uid=uid,
                    user=user,
                    created_at=created_at or utcnow(),
                    spec=spec,
                )
                session.add(row)
            row.deleting_since = utcnow()

    async def end_delete(self, resource: Resource, namespace: str, name: str) -> None:
        """Clear the flag of a deletion that Kubernetes refused."""
        async with self._transaction("end_delete") as session:
            row = await _live_row(session, resource, namespace, name)
            if row is not None:
                row.deleting_since = None

    async def mark_gone(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        status: dict[str, Any] | None,
        uid: str = "",
        created_before: dt.datetime | None = None,
    ) -> bool:
        """Close the live row of a resource that disappeared without an API call, and audit that.

        Returns False when there was nothing to close (unknown, already closed, or a newer object of that name).
        """
        async with self._transaction("mark_gone") as session:
            row = await _live_row(session, resource, namespace, name, for_update=True)
            if row is None or (uid and row.uid and row.uid != uid):
                return False
            if created_before is not None and as_utc(row.created_at) >= created_before:
                return False  # too young to judge: its object may have been created after the caller looked
            now = utcnow()
            if row.deleting_since is not None and now - as_utc(row.deleting_since) < DELETE_IN_FLIGHT:
                return False  # an API call is deleting it and records that itself

            row.deleted_at = now
            if status is not None:
                row.status = status
            session.add(
                _event(
                    now,
                    Action.DELETE,
                    resource,
                    namespace,
                    name,
                    "",
                    None,
                    Outcome.SUCCESS,
                    0,
                    "deleted outside the API (noticed by the service)",
                    "",
                )
            )
            return True

    async def prune(self, before: dt.datetime) -> int:
        """Delete audit rows and closed history older than ``before``; returns the number of rows removed."""
        async with self._transaction("prune") as session:
            events = await session.execute(delete(AuditEventRow).where(AuditEventRow.time < before))
            history = await session.execute(
                delete(ResourceRow).where(
                    ResourceRow.deleted_at.is_not(None), ResourceRow.deleted_at < before
                )
            )
        return int(getattr(events, "rowcount", 0) or 0) + int(getattr(history, "rowcount", 0) or 0)

    async def touch_status(
        self, resource: Resource, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        """Remember the last status seen, so history can show it after an outside deletion."""
        async with self._transaction("touch_status") as session:
            await session.execute(
                update(ResourceRow)
                .where(
                    ResourceRow.resource == resource,
                    ResourceRow.namespace == namespace,
                    ResourceRow.name == name,
                    ResourceRow.deleted_at.is_(None),
                )
                .values(status=status)
            )


async def _live_row(
    session: AsyncSession, resource: Resource, namespace: str, name: str, for_update: bool = False
) -> ResourceRow | None:
    query = (
        select(ResourceRow)
        .where(
            ResourceRow.resource == resource,
            ResourceRow.namespace == namespace,
            ResourceRow.name == name,
            ResourceRow.deleted_at.is_(None),
        )
        .order_by(ResourceRow.id.desc())
        .limit(1)
    )
    if for_update:
        # Replicas watching the same deletion must not both close the row and audit it twice.
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def _row_by_uid(session: AsyncSession, resource: Resource, uid: str) -> ResourceRow | None:
    query = (
        select(ResourceRow)
        .where(ResourceRow.resource == resource, ResourceRow.uid == uid)
        .order_by(ResourceRow.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


def _event(
    time: dt.datetime,
    action: Action,
    resource: Resource,
    namespace: str,
    name: str,
    user: str,
    spec: dict[str, Any] | None,
    outcome: Outcome,
    code: int,
    message: str,
    request_id: str,
) -> AuditEventRow:
    return AuditEventRow(
        time=time,
        user=user,
        action=action,
        resource=resource,
        namespace=namespace,
        name=name,
        spec=spec,
        outcome=outcome,
        code=code,
        message=message,
        request_id=request_id,
    )
