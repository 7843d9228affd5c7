"""The audit trail and the history of every resource: each write is one short transaction of its own.

A change through the API is *announced* (an audit row in state PENDING) before Kubernetes is asked and *settled*
after (SUCCESS with the history row updated in the same transaction, or FAILURE). A refused request (bad input,
no permission) is one FAILURE row. Deletions nobody announced (kubectl, the operator, TTLs) are recorded by
``mark_gone``, which leaves alone any object whose deletion an API call has announced, so each deletion is
audited exactly once, also with several replicas and the watcher racing the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from service.db.models import AuditEventRow, HeartbeatRow, ResourceRow
from service.db.prepared import Statements
from service.db.session import Database
from service.vocabulary import KIND_OF, Action, Outcome, Resource

NAME_COLUMN = 253
SHORT_COLUMN = 64
OUTSIDE_MESSAGE = "deleted outside the API (noticed by the service)"

AUDIT: Table = AuditEventRow.__table__  # type: ignore[assignment]
HISTORY: Table = ResourceRow.__table__  # type: ignore[assignment]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def fit(value: str, size: int = NAME_COLUMN) -> str:
    """``value`` made storable in a column of ``size``: NULs (PostgreSQL refuses them) dropped, cut to size."""
    value = value.replace("\x00", "")
    return value if len(value) <= size else value[: size - 3] + "..."


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One change asked of the API: who wants to do what to which resource."""

    action: Action
    resource: Resource
    namespace: str
    name: str
    user: str = ""
    spec: dict[str, Any] | None = None
    request_id: str = ""
    groups: tuple[str, ...] = ()
    auth_method: str = ""
    """How ``user`` was verified (``token``, ``oidc``, ``proxy``), or ``none``: then ``user`` is what the body said."""
    source_ip: str = ""
    user_agent: str = ""
    requested_user: str = ""
    """The body's ``user`` field, kept apart from the verified ``user``."""
    subresource: str = ""
    """``status`` for a write of the status subresource: it changes the status, never the spec or metadata."""


class Observed(msgspec.Struct, frozen=True, kw_only=True):
    """What Kubernetes said about the object after (or, for a delete, before) the change."""

    uid: str = ""
    resource_version: str = ""
    created_at: dt.datetime | None = None
    """The object's creationTimestamp (for objects created outside the API, which get a history row late)."""
    owner: str = ""
    """The ``ray.io/user`` label, the only record of who made an object created outside the API."""
    spec: dict[str, Any] | None = None
    """The object's spec in API form, for history rows of objects created outside the API."""
    status: dict[str, Any] | None = None


class Records:
    """The service's SQL records."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def ping(self) -> None:
        """Prove the database takes writes: rewrite the heartbeat row (a read-only database fails here)."""
        async with self.db.transaction("heartbeat", write=True) as session:
            await session.execute(update(HeartbeatRow).where(HeartbeatRow.id == 1).values(beat_at=utcnow()))

    # -- changes -------------------------------------------------------------------------------------------------

    async def refuse(self, change: Change, code: int, message: str) -> None:
        """Record an attempt refused before it reached Kubernetes."""
        async with self.db.transaction("record_refusal", write=True) as session:
            session.add(_row(change, Outcome.FAILURE, code=code, message=message))

    async def announce(
        self, change: Change, *, uid: str = "", previous_resource_version: str = "", previous: Any = None
    ) -> int:
        """Write the PENDING row of a change about to be sent to Kubernetes; returns its id (the intent id)."""
        values = _values(change, Outcome.PENDING, uid=uid)
        values["previous_resource_version"] = fit(previous_resource_version, SHORT_COLUMN)
        values["previous"] = previous
        # Every API change passes here and through ``succeed``: Core statements, as the ORM's unit of work costs
        # more than the statements themselves.
        row = _present(values)

        def write(connection: Statements) -> int:
            return int(connection.execute(_ANNOUNCE, row).scalar_one())

        return await self.db.run("announce", write, write=True)

    async def fail(self, intent_id: int, code: int, message: str) -> None:
        """Settle a PENDING change as failed (Kubernetes refused it, or it was interrupted)."""
        async with self.db.transaction("settle_failure", write=True) as session:
            await session.execute(
                update(AuditEventRow)
                .where(AuditEventRow.id == intent_id, AuditEventRow.outcome == Outcome.PENDING)
                .values(outcome=Outcome.FAILURE, code=code, message=fit(message, 4000))
            )

    async def succeed(
        self, intent_id: int, observed: Observed, *, action: Action | None = None
    ) -> ResourceRow | None:
        """Settle a PENDING change as done and bring the resource's history up to date, in one transaction.

        ``action``: what the change turned out to be, when Kubernetes decided it (a server-side apply creates a
        missing object and updates an existing one). Returns the history row (None when the change was already
        settled, say by the reconciler).
        """
        settled: dict[str, Any] = {
            "outcome": Outcome.SUCCESS,
            "resource_version": fit(observed.resource_version, SHORT_COLUMN),
            "b_id": intent_id,
            "b_outcome": Outcome.PENDING,
        }
        if action is not None:
            settled["action"] = action
        if observed.uid:
            settled["uid"] = fit(observed.uid, SHORT_COLUMN)

        def write(connection: Statements) -> ResourceRow | None:
            intent = connection.execute(_SETTLE, settled).first()
            if intent is None:
                return None
            settled_intent = _Intent(*intent)
            if Resource(settled_intent.resource) not in KIND_OF:  # job submissions: audited, no history
                return None
            return _apply_to_history(connection, settled_intent, observed)

        return await self.db.run("settle_success", write, write=True)

    async def pending(self, older_than: dt.datetime) -> Sequence[AuditEventRow]:
        """Changes announced before ``older_than`` and never settled (their request died or timed out)."""
        query = (
            select(AuditEventRow)
            .where(AuditEventRow.outcome == Outcome.PENDING, AuditEventRow.time < older_than)
            .order_by(AuditEventRow.id)
            .limit(500)
        )
        async with self.db.transaction("list_pending") as session:
            return (await session.scalars(query)).all()

    # -- deletions nobody announced --------------------------------------------------------------------------

    async def mark_gone(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        uid: str = "",
        status: dict[str, Any] | None = None,
    ) -> bool:
        """Close the live history row of a resource that disappeared without an API call, and audit that once.

        Returns False when there was nothing to close: unknown or already closed, a newer object of that name
        (another ``uid``), or a deletion that an API call announced (that call, or the reconciler, records it).
        """
        async with self.db.transaction("mark_gone", write=True) as session:
            row = await _live_row(session, resource, namespace, name, lock=True)
            if row is None or (uid and row.uid and row.uid != uid):
                return False
            announced = await session.scalar(
                select(AuditEventRow.id)
                .where(
                    AuditEventRow.outcome == Outcome.PENDING,
                    AuditEventRow.action == Action.DELETE,
                    AuditEventRow.resource == resource,
                    AuditEventRow.namespace == namespace,
                    AuditEventRow.name == name,
                )
                .limit(1)
            )
            if announced is not None:
                return False
            now = utcnow()
            row.deleted_at = now
            if status is not None:
                row.status = status
            gone = Change(action=Action.DELETE, resource=resource, namespace=namespace, name=name)
            event = _row(gone, Outcome.SUCCESS, message=OUTSIDE_MESSAGE, uid=row.uid)
            event.time = now
            session.add(event)
            return True

    # -- reads ---------------------------------------------------------------------------------------------------

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
            .order_by(ResourceRow.id)
        )
        if namespace is not None:
            query = query.where(ResourceRow.namespace == namespace)
        async with self.db.transaction("list_live") as session:
            rows = (await session.scalars(query)).all()
        return {(row.namespace, row.name): row for row in rows}

    async def get_live(self, resource: Resource, namespace: str, name: str) -> ResourceRow | None:
        async with self.db.transaction("get_live") as session:
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
        async with self.db.transaction("list_deleted") as session:
            return (await session.scalars(query)).all()

    async def prune(self, before: dt.datetime) -> int:
        """Delete settled audit rows and closed history older than ``before``; returns the rows removed."""
        async with self.db.transaction("prune", write=True) as session:
            events = await session.execute(
                delete(AuditEventRow).where(
                    AuditEventRow.time < before, AuditEventRow.outcome != Outcome.PENDING
                )
            )
            history = await session.execute(
                delete(ResourceRow).where(
                    ResourceRow.deleted_at.is_not(None), ResourceRow.deleted_at < before
                )
            )
        return int(getattr(events, "rowcount", 0) or 0) + int(getattr(history, "rowcount", 0) or 0)


class _Intent(NamedTuple):
    """What settling needs of an announced change."""

    action: str
    resource: str
    namespace: str
    name: str
    user: str
    time: dt.datetime
    spec: dict[str, Any] | None
    uid: str
    subresource: str


INTENT_COLUMNS = _Intent._fields

# The statements of every change, built once with bound parameters: SQLAlchemy then finds their compiled form
# without deriving a cache key from each value, which costs more than running them. The parameters given name
# the columns an insert fills or an update sets; ``b_`` parameters are the WHERE clause's.
_ANNOUNCE = insert(AUDIT).returning(AUDIT.c.id)
# Only a PENDING row is settled: of two settlers (the request, the reconciler) exactly one gets it.
_SETTLE = (
    update(AUDIT)
    .where(AUDIT.c.id == bindparam("b_id"), AUDIT.c.outcome == bindparam("b_outcome"))
    .returning(*(AUDIT.c[column] for column in INTENT_COLUMNS))
)
_SAME_LIVE = (
    HISTORY.c.resource == bindparam("b_resource"),
    HISTORY.c.namespace == bindparam("b_namespace"),
    HISTORY.c.name == bindparam("b_name"),
    HISTORY.c.deleted_at.is_(None),
)
_CLOSE_LIVE = update(HISTORY).where(*_SAME_LIVE)
# Writers that close or change a row serialise on it (PostgreSQL); a second closer then sees it closed.
_LIVE_FOR_UPDATE = select(HISTORY).where(*_SAME_LIVE).order_by(HISTORY.c.id.desc()).limit(1).with_for_update()
_INSERT_HISTORY = insert(HISTORY).returning(HISTORY.c.id)
_CHANGE_HISTORY = update(HISTORY).where(HISTORY.c.id == bindparam("b_id"))


def _apply_to_history(connection: Statements, intent: _Intent, observed: Observed) -> ResourceRow:
    now = utcnow()
    same = {"b_resource": intent.resource, "b_namespace": intent.namespace, "b_name": intent.name}
    uid = observed.uid or intent.uid
    if intent.action == Action.CREATE:
        # A live row still there belonged to an object deleted outside the API unnoticed: its history ends now.
        connection.execute(_CLOSE_LIVE, {**same, "deleted_at": now})
        return _insert_history(
            connection, intent, uid, created_at=as_utc(intent.time), user=intent.user, spec=intent.spec
        )
    live = connection.execute(_LIVE_FOR_UPDATE, same).first()
    if live is None:  # the object was made outside the API: its history starts now
        row = _insert_history(
            connection,
            intent,
            uid,
            created_at=observed.created_at or now,
            user=observed.owner,
            spec=observed.spec,
        )
    else:
        row = ResourceRow(**live._asdict())
    changes: dict[str, Any]
    if intent.action == Action.UPDATE and intent.subresource:
        # A status write changes neither spec nor metadata: the history keeps its spec.
        changes = {"updated_at": now, "uid": fit(observed.uid or row.uid, SHORT_COLUMN)}
    elif intent.action == Action.UPDATE:
        changes = {"spec": intent.spec, "updated_at": now, "uid": fit(observed.uid or row.uid, SHORT_COLUMN)}
    else:
        changes = {
            "deleted_at": now,
            "status": observed.status or row.status,
            "spec": row.spec or observed.spec,
        }
    connection.execute(_CHANGE_HISTORY, {**changes, "b_id": row.id})
    for column, value in changes.items():
        setattr(row, column, value)
    return row


def _insert_history(
    connection: Statements,
    intent: _Intent,
    uid: str,
    *,
    created_at: dt.datetime,
    user: str,
    spec: dict[str, Any] | None,
) -> ResourceRow:
    """A new history row; returned detached, as the record of what was written."""
    row = ResourceRow(
        resource=intent.resource,
        namespace=intent.namespace,
        name=intent.name,
        uid=fit(uid, SHORT_COLUMN),
        user=fit(user),
        created_at=created_at,
        updated_at=None,
        deleted_at=None,
        spec=spec,
        status=None,
    )
    values = {column: getattr(row, column) for column in HISTORY_COLUMNS}
    inserted = connection.execute(_INSERT_HISTORY, _present(values))
    row.id = int(inserted.scalar_one())
    return row


HISTORY_COLUMNS = (
    "resource",
    "namespace",
    "name",
    "uid",
    "user",
    "created_at",
    "updated_at",
    "deleted_at",
    "spec",
)


async def _live_row(
    session: AsyncSession, resource: Resource, namespace: str, name: str, *, lock: bool = False
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
    if lock:
        # Writers that close or change a row serialise on it (PostgreSQL); a second closer then sees it closed.
        query = query.with_for_update()
    return (await session.scalars(query)).first()


def _row(
    change: Change, outcome: Outcome, *, code: int = 0, message: str = "", uid: str = ""
) -> AuditEventRow:
    return AuditEventRow(**_values(change, outcome, code=code, message=message, uid=uid))


def _values(
    change: Change, outcome: Outcome, *, code: int = 0, message: str = "", uid: str = ""
) -> dict[str, Any]:
    """The columns of an audit row for ``change``."""
    return {
        "time": utcnow(),
        "user": fit(change.user),
        "action": change.action,
        "resource": change.resource,
        "namespace": fit(change.namespace),
        "name": fit(change.name),
        "spec": change.spec,
        "outcome": outcome,
        "code": code,
        "message": fit(message, 4000),
        "request_id": fit(change.request_id, SHORT_COLUMN),
        "groups": list(change.groups) or None,
        "auth_method": fit(change.auth_method, 16),
        "source_ip": fit(change.source_ip, SHORT_COLUMN),
        "user_agent": fit(change.user_agent),
        "requested_user": fit(change.requested_user),
        "subresource": fit(change.subresource, 16),
        "uid": fit(uid, SHORT_COLUMN),
        "resource_version": "",
        "previous_resource_version": "",
    }


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without its Nones: a Core insert would store JSON ``null`` where the ORM leaves SQL NULL."""
    return {column: value for column, value in values.items() if value is not None}
