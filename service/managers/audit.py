"""The audit API: parse and check filters, page through the trail."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from typing import Any

import msgspec

from service.db.audit import AuditFilter, Position, get_audit_event, query_audit
from service.db.records import Records, as_utc
from service.db.session import Database
from service.errors import ApiError, InvalidInputError, NotFoundError, PermissionDeniedError
from service.managers.authorization import Authorizer
from service.managers.context import Caller
from service.managers.resources import change_of
from service.managers.validation import check_namespace
from service.schemas.audit import AuditEvent, AuditEventDetail, ListAuditEventsResponse
from service.schemas.base import format_time
from service.vocabulary import Action, Outcome, Resource

log = logging.getLogger("kuberay_apiserver.audit")

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
        requested_user=params.get("requestedUser") or None,
        auth_method=_choice("authMethod", params.get("authMethod"), ["none", "token", "oidc", "proxy"]),
        source_ip=params.get("sourceIp") or None,
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
    """The audit trail. With authentication on, a caller reads the trail of the namespaces where they may list
    RayClusters (Kubernetes decides, by an access review), and the whole trail only with that right everywhere."""

    def __init__(self, db: Database, authorizer: Authorizer | None = None) -> None:
        self._db = db
        self._records = Records(db)
        self._authorizer = authorizer

    async def _visible(self, caller: Caller, namespace: str | None) -> list[str] | None:
        """The namespaces ``caller`` may read the trail of (None: all); a refused namespace route is a 403."""
        if self._authorizer is None or not caller.verified:
            return None
        if namespace is not None:
            if not await self._authorizer.may_read_audit(caller.identity, namespace):
                raise PermissionDeniedError(
                    f"{caller.identity.user} may not read the audit trail of namespace {namespace}: it needs "
                    f"the right to list rayclusters.ray.io there"
                )
            return None
        return await self._authorizer.audit_namespaces(caller.identity)

    async def list(
        self, caller: Caller, where: AuditFilter, size: int, token: str
    ) -> ListAuditEventsResponse:
        visible = await self._visible(caller, where.namespace)
        if visible is not None:
            where = msgspec.structs.replace(where, namespaces=tuple(visible))
        rows = await query_audit(self._db, where, size + 1, _decode_token(token))
        next_token = ""
        if len(rows) > size:
            rows = rows[:size]
            next_token = _encode_token(Position(rows[-1].time, rows[-1].id))
        return ListAuditEventsResponse(events=[to_event(row) for row in rows], next_page_token=next_token)

    async def get(self, caller: Caller, raw_id: str, namespace: str | None) -> AuditEventDetail:
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
        visible = await self._visible(caller, namespace)
        row = await get_audit_event(self._db, event_id)
        if row is None or (namespace is not None and row.namespace != namespace):
            raise NotFoundError(f"Audit event {raw_id} not found")
        if visible is not None and row.namespace not in visible:
            raise NotFoundError(f"Audit event {raw_id} not found")  # not even whether it exists
        detail: AuditEventDetail = to_event(row, AuditEventDetail, spec=row.spec, previous=row.previous)
        return detail

    async def record_refusal(
        self, caller: Caller, resource: Resource, action: Action, namespace: str, name: str, error: ApiError
    ) -> None:
        """Audit a change refused before it reached a manager (no valid credentials)."""
        change = change_of(action, resource, caller, namespace, name, "", None)
        try:
            await self._records.refuse(change, int(error.code), error.message)
        except ApiError as exc:
            log.warning("could not record a refused %s: %s", action, exc.message)


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
        groups=list(row.groups or []),
        auth_method=row.auth_method,
        source_ip=row.source_ip,
        user_agent=row.user_agent,
        requested_user=row.requested_user,
        uid=row.uid,
        resource_version=row.resource_version,
        previous_resource_version=row.previous_resource_version,
        subresource=row.subresource,
    )
