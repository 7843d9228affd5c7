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


class AuditEventDetail(AuditEvent):
    """One event with the request's spec as it was sent (camelCase JSON), for ``GET .../audit/{id}``."""

    spec: dict[str, Any] | None = None


class ListAuditEventsResponse(ApiStruct):
    events: list[AuditEvent]
    next_page_token: str = msgspec.field(default="")
