"""What handlers get from the application: the managers and the caller's context."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from service.managers.clusters import ClusterManager
from service.managers.context import RequestContext
from service.managers.templates import ComputeTemplateManager


class Managers(msgspec.Struct):
    templates: ComputeTemplateManager
    clusters: ClusterManager
    jobs: Any = None
    services: Any = None
    audit: Any = None


def managers(request: Request[Any, Any, Any]) -> Managers:
    result: Managers = request.app.state.managers
    return result


def context(request: Request[Any, Any, Any]) -> RequestContext:
    return RequestContext(request_id=request.scope.get("request_id", ""), principal="")


async def body(request: Request[Any, Any, Any]) -> bytes:
    return await request.body()
