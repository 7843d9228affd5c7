"""Audit routes: who created, changed or deleted what, when, and whether it worked (an extension)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter

from service.api.paths import Namespace, paths, rpc
from service.managers.audit import AuditManager, build_filter, page_size
from service.schemas.audit import AuditEventDetail, ListAuditEventsResponse

TAGS = ["AuditService"]
FILTERS = ("user", "resource", "name", "action", "outcome", "since", "until")
AnyRequest = Request[Any, Any, Any]


def _query(name: str, description: str) -> Any:
    return Annotated[str | None, Parameter(query=name, required=False, description=description)]


User = _query("user", "Only events of this user.")
ResourceKind = _query("resource", "computeTemplates, clusters, jobs or services.")
Name = _query("name", "Only events of resources of this name.")
ActionFilter = _query("action", "CREATE, UPDATE or DELETE.")
OutcomeFilter = _query("outcome", "PENDING, SUCCESS or FAILURE.")
Since = _query("since", "RFC 3339 time: events at or after it.")
Until = _query("until", "RFC 3339 time: events before it.")
PageSizeParam = _query("pageSize", "Events per page, 1 to 1000 (default 100).")
PageTokenParam = _query("pageToken", "The nextPageToken of the previous page.")


async def _list(request: AnyRequest, audit: AuditManager, namespace: str | None) -> ListAuditEventsResponse:
    query = request.query_params
    where = build_filter({key: query.get(key) for key in FILTERS}, namespace)
    size = page_size(query.get("pageSize", query.get("page_size")))
    token = query.get("pageToken", query.get("page_token")) or ""
    return await audit.list(where, size, token)


@get(paths("/audit"), **rpc("ListAuditEvents"), tags=TAGS)
async def list_audit_events(
    request: AnyRequest,
    audit: AuditManager,
    user: User = None,
    resource: ResourceKind = None,
    name: Name = None,
    action: ActionFilter = None,
    outcome: OutcomeFilter = None,
    since: Since = None,
    until: Until = None,
    page_size_: PageSizeParam = None,
    page_token_: PageTokenParam = None,
) -> ListAuditEventsResponse:
    """The audit trail, newest first; filters: user, resource, name, action, outcome, since, until."""
    return await _list(request, audit, None)


@get(paths("/namespaces/{namespace:str}/audit"), **rpc("ListNamespaceAuditEvents"), tags=TAGS)
async def list_namespace_audit_events(
    request: AnyRequest,
    audit: AuditManager,
    namespace: Namespace,
    user: User = None,
    resource: ResourceKind = None,
    name: Name = None,
    action: ActionFilter = None,
    outcome: OutcomeFilter = None,
    since: Since = None,
    until: Until = None,
    page_size_: PageSizeParam = None,
    page_token_: PageTokenParam = None,
) -> ListAuditEventsResponse:
    """The audit trail of one namespace."""
    return await _list(request, audit, namespace)


@get(paths("/audit/{event_id:str}"), **rpc("GetAuditEvent"), tags=TAGS)
async def get_audit_event(audit: AuditManager, event_id: str) -> AuditEventDetail:
    """One audit event with the spec the request carried."""
    return await audit.get(event_id, None)


@get(paths("/namespaces/{namespace:str}/audit/{event_id:str}"), **rpc("GetNamespaceAuditEvent"), tags=TAGS)
async def get_namespace_audit_event(
    audit: AuditManager, namespace: Namespace, event_id: str
) -> AuditEventDetail:
    """One audit event of a namespace with the spec the request carried."""
    return await audit.get(event_id, namespace)


ROUTES = [list_audit_events, list_namespace_audit_events, get_audit_event, get_namespace_audit_event]
