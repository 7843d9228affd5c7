"""The audit API: parse and check filters, page through the trail."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from service.db.audit import AuditFilter, Position, get_audit_event, query_audit
from service.db.records import as_utc
from service.db.session import Database
from service.errors import InvalidInputError, NotFoundError
from service.managers.validation import check_namespace
from service.schemas.audit import AuditEvent, AuditEventDetail, ListAuditEventsResponse
from service.schemas.base import format_time
from service.vocabulary import Action, Outcome, Resource

DEFAULT_PAGE_SIZE = 100
MAX_EVENT_ID = 2**63 - 1
MAX_PAGE_SIZE = 1000


def parse_time(name: str, value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"invalid {name} {value!r}: use an RFC 3339 time such as 2026-01-02T15:04:05Z"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInputError(f"invalid {name} {value!r}: the time needs a zone, such as Z or +02:00")
    return parsed.astimezone(dt.UTC)


def _choice(name: str, value: str | None, allowed: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInputError(f"invalid {name} {value!r}: use one of {', '.join(allowed)}")
    return value


def build_filter(params: dict[str, str | None], namespace: str | None) -> AuditFilter:
    """An audit filter from query parameters; each invalid one is a 400 that names it."""
    if namespace is not None:
        check_namespace(namespace)
    raw_since, raw_until = params.get("since"), params.get("until")
    since = parse_time("since", raw_since) if raw_since else None
    until = parse_time("until", raw_until) if raw_until else None
    if since and until and since >= until:
        raise InvalidInputError("invalid since/until: since must be earlier than until")
    return AuditFilter(
        user=params.get("user") or None,
        namespace=namespace,
        resource=_choice("resource", params.get("resource"), [r.value for r in Resource]),
        name=params.get("name") or None,
        action=_choice("action", params.get("action"), [a.value for a in Action]),
        outcome=_choice("outcome", params.get("outcome"), [o.value for o in Outcome]),
        since=since,
        until=until,
    )


def page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise InvalidInputError(
            f"invalid pageSize {raw!r}: use a whole number from 1 to {MAX_PAGE_SIZE}"
        ) from None
    if size == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"invalid pageSize {raw!r}: use a whole number from 1 to {MAX_PAGE_SIZE}")
    return size


def _encode_token(position: Position) -> str:
    raw = json.dumps([position.time.isoformat(), position.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> Position | None:
    if not token:
        return None
    try:
        time, row_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position = Position(dt.datetime.fromisoformat(time), int(row_id))
        if not 0 <= position.id <= MAX_EVENT_ID:
            raise ValueError("id out of range")
        return position
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInputError(
            f"invalid pageToken {token!r}: pass back the nextPageToken of the previous page"
        ) from None


class AuditManager:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, where: AuditFilter, size: int, token: str) -> ListAuditEventsResponse:
        rows = await query_audit(self._db, where, size + 1, _decode_token(token))
        next_token = ""
        if len(rows) > size:
            rows = rows[:size]
            next_token = _encode_token(Position(rows[-1].time, rows[-1].id))
        return ListAuditEventsResponse(events=[to_event(row) for row in rows], next_page_token=next_token)

    async def get(self, raw_id: str, namespace: str | None) -> AuditEventDetail:
        """One event with its spec snapshot; in a namespace route, only that namespace's events are found."""
        if namespace is not None:
            check_namespace(namespace)
        if not raw_id.isascii() or not raw_id.isdigit():
            raise InvalidInputError(
                f"invalid audit event id {raw_id[:40]!r}: use the id of an event"
            ) from None
        event_id = int(raw_id)
        if not 1 <= event_id <= MAX_EVENT_ID:  # no row has such an id (and the databases cannot even look)
            raise NotFoundError(f"Audit event {raw_id[:40]} not found")
        row = await get_audit_event(self._db, event_id)
        if row is None or (namespace is not None and row.namespace != namespace):
            raise NotFoundError(f"Audit event {raw_id} not found")
        detail: AuditEventDetail = to_event(row, AuditEventDetail, spec=row.spec, previous=row.previous)
        return detail


def to_event(row: Any, event_type: type[AuditEvent] = AuditEvent, **extra: Any) -> Any:
    return event_type(
        **extra,
        id=str(row.id),
        time=format_time(as_utc(row.time)),
        user=row.user,
        action=row.action,
        resource=row.resource,
        namespace=row.namespace,
        name=row.name,
        outcome=row.outcome,
        code=row.code,
        message=row.message,
        request_id=row.request_id,
        uid=row.uid,
        resource_version=row.resource_version,
        previous_resource_version=row.previous_resource_version,
    )
