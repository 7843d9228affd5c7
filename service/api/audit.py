"""Audit routes: who created, changed or deleted what, when, and whether it worked (an extension)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter

from service.api.paths import Namespace, paths, rpc
from service.managers.audit import AuditManager, build_filter, page_size
from service.managers.context import Caller
from service.schemas.audit import AuditEventDetail, ListAuditEventsResponse

TAGS = ["AuditService"]
FILTERS = (
    "user",
    "requestedUser",
    "authMethod",
    "sourceIp",
    "resource",
    "name",
    "action",
    "outcome",
    "since",
    "until",
)
AnyRequest = Request[Any, Any, Any]


# Documented filters; the values are read back from the request (both spellings of the page parameters).
RequestedUser = Annotated[
    str | None,
    Parameter(
        query="requestedUser", required=False, description="Only events whose request body named this user."
    ),
]
AuthMethod = Annotated[
    str | None, Parameter(query="authMethod", required=False, description="none, token, oidc or proxy.")
]
SourceIp = Annotated[
    str | None, Parameter(query="sourceIp", required=False, description="Only events from this address.")
]
User = Annotated[str | None, Parameter(query="user", required=False, description="Only events of this user.")]
ResourceKind = Annotated[
    str | None,
    Parameter(
        query="resource",
        required=False,
        description="computeTemplates, clusters, jobs, services or jobSubmissions.",
    ),
]
Name = Annotated[
    str | None, Parameter(query="name", required=False, description="Only events of resources of this name.")
]
ActionFilter = Annotated[
    str | None,
    Parameter(
        query="action", required=False, description="CREATE, UPDATE, DELETE or STOP (job submissions)."
    ),
]
OutcomeFilter = Annotated[
    str | None, Parameter(query="outcome", required=False, description="PENDING, SUCCESS or FAILURE.")
]
Since = Annotated[
    str | None, Parameter(query="since", required=False, description="RFC 3339 time: events at or after it.")
]
Until = Annotated[
    str | None, Parameter(query="until", required=False, description="RFC 3339 time: events before it.")
]
PageSizeParam = Annotated[
    str | None,
    Parameter(query="pageSize", required=False, description="Events per page, 1 to 1000 (default 100)."),
]
PageTokenParam = Annotated[
    str | None,
    Parameter(query="pageToken", required=False, description="The nextPageToken of the previous page."),
]


async def _list(
    request: AnyRequest, audit: AuditManager, caller: Caller, namespace: str | None
) -> ListAuditEventsResponse:
    query = request.query_params
    where = build_filter({key: query.get(key) for key in FILTERS}, namespace)
    size = page_size(query.get("pageSize", query.get("page_size")))
    token = query.get("pageToken", query.get("page_token")) or ""
    return await audit.list(caller, where, size, token)


@get(paths("/audit"), **rpc("ListAuditEvents"), tags=TAGS)
async def list_audit_events(
    request: AnyRequest,
    audit: AuditManager,
    caller: Caller,
    user: User = None,
    requested_user: RequestedUser = None,
    auth_method: AuthMethod = None,
    source_ip: SourceIp = None,
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
    return await _list(request, audit, caller, None)


@get(paths("/namespaces/{namespace:str}/audit"), **rpc("ListNamespaceAuditEvents"), tags=TAGS)
async def list_namespace_audit_events(
    request: AnyRequest,
    audit: AuditManager,
    caller: Caller,
    namespace: Namespace,
    user: User = None,
    requested_user: RequestedUser = None,
    auth_method: AuthMethod = None,
    source_ip: SourceIp = None,
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
    return await _list(request, audit, caller, namespace)


@get(paths("/audit/{event_id:str}"), **rpc("GetAuditEvent"), tags=TAGS)
async def get_audit_event(audit: AuditManager, caller: Caller, event_id: str) -> AuditEventDetail:
    """One audit event with the spec the request carried."""
    return await audit.get(caller, event_id, None)


@get(paths("/namespaces/{namespace:str}/audit/{event_id:str}"), **rpc("GetNamespaceAuditEvent"), tags=TAGS)
async def get_namespace_audit_event(
    audit: AuditManager, caller: Caller, namespace: Namespace, event_id: str
) -> AuditEventDetail:
    """One audit event of a namespace with the spec the request carried."""
    return await audit.get(caller, event_id, namespace)


ROUTES = [list_audit_events, list_namespace_audit_events, get_audit_event, get_namespace_audit_event]
