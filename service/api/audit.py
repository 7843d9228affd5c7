"""Audit routes: who created, changed or deleted what, when, and whether it worked (an extension)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from service.api.deps import managers
from service.api.paths import paths, rpc
from service.managers.audit import build_filter, page_size
from service.schemas.audit import AuditEventDetail, ListAuditEventsResponse

TAGS = ["AuditService"]
FILTERS = ("user", "resource", "name", "action", "outcome", "since", "until")
AnyRequest = Request[Any, Any, Any]


async def _list(request: AnyRequest, namespace: str | None) -> ListAuditEventsResponse:
    query = request.query_params
    where = build_filter({key: query.get(key) for key in FILTERS}, namespace)
    size = page_size(query.get("pageSize", query.get("page_size")))
    token = query.get("pageToken", query.get("page_token")) or ""
    return await managers(request).audit.list(where, size, token)


@get(paths("/audit"), **rpc("ListAuditEvents"), tags=TAGS)
async def list_audit_events(request: AnyRequest) -> ListAuditEventsResponse:
    """The audit trail, newest first; filters: user, resource, name, action, outcome, since, until."""
    return await _list(request, None)


@get(paths("/namespaces/{namespace:str}/audit"), **rpc("ListNamespaceAuditEvents"), tags=TAGS)
async def list_namespace_audit_events(request: AnyRequest, namespace: str) -> ListAuditEventsResponse:
    """The audit trail of one namespace."""
    return await _list(request, namespace)


@get(paths("/audit/{event_id:str}"), **rpc("GetAuditEvent"), tags=TAGS)
async def get_audit_event(request: AnyRequest, event_id: str) -> AuditEventDetail:
    """One audit event with the spec the request carried."""
    return await managers(request).audit.get(event_id, None)


@get(paths("/namespaces/{namespace:str}/audit/{event_id:str}"), **rpc("GetNamespaceAuditEvent"), tags=TAGS)
async def get_namespace_audit_event(request: AnyRequest, namespace: str, event_id: str) -> AuditEventDetail:
    """One audit event of a namespace with the spec the request carried."""
    return await managers(request).audit.get(event_id, namespace)


ROUTES = [list_audit_events, list_namespace_audit_events, get_audit_event, get_namespace_audit_event]
