"""Audit trail messages (an extension; see the contract's "Extensions beyond upstream")."""

from __future__ import annotations

from typing import Any

import msgspec

from service.schemas.base import ApiStruct


class AuditEvent(ApiStruct):
    # 64-bit ids travel as strings, as protojson prints int64.
    id: str = ""
    time: str = ""
    user: str = ""
    action: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    outcome: str = ""
    code: int = 0
    message: str = ""
    request_id: str = ""
    groups: list[str] = msgspec.field(default_factory=list)
    auth_method: str = ""
    """How ``user`` was verified: token, oidc, proxy; none (``user`` is then what the request body said)."""
    source_ip: str = ""
    user_agent: str = ""
    requested_user: str = ""
    """The request body's ``user`` field, whoever the verified user is."""
    uid: str = ""
    """The Kubernetes uid of the object the change touched."""
    resource_version: str = ""
    """The object's resourceVersion after the change."""
    previous_resource_version: str = ""
    """For an update: the resourceVersion it replaced."""
    subresource: str = ""
    """``status`` for a write of the status subresource (it changes only the object's status); else empty."""


class AuditEventDetail(AuditEvent):
    """One event with the request's spec as it was sent (camelCase JSON), for ``GET .../audit/{id}``."""

    spec: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    """For an update: the spec it replaced, in the API's form."""


class ListAuditEventsResponse(ApiStruct):
    events: list[AuditEvent]
    next_page_token: str = msgspec.field(default="")
