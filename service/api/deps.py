"""What handlers get from the application: the managers and the caller's context."""

from __future__ import annotations

from typing import Any

from litestar import Request

from service.managers.context import RequestContext
from service.managers.registry import Managers


def managers(request: Request[Any, Any, Any]) -> Managers:
    result: Managers = request.app.state.managers
    return result


def context(request: Request[Any, Any, Any]) -> RequestContext:
    header = request.app.state.settings.user_header
    principal = request.headers.get(header, "") if header else ""
    return RequestContext(request_id=str(request.scope.get("request_id", "")), principal=principal)


async def body(request: Request[Any, Any, Any]) -> bytes:
    return await request.body()
