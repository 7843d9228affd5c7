"""Upstream's V2 events route: the events of a namespace that are about Ray objects, read as the caller. The
core ``/api/v1`` form is served the same way, for ``kubectl describe``."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Stream

from service.api.kube_native.ray import is_watch, query_of
from service.managers.native import NativeManager

AnyRequest = Request[Any, Any, Any]


async def _events(request: AnyRequest, native: NativeManager, namespace: str, core: bool) -> Any:
    query = query_of(request)
    if is_watch(query):
        lines = await native.watch_events(core, namespace, query)
        return Stream(lines, media_type="application/json", headers={"Cache-Control": "no-store"})
    return await native.list_events(core, namespace, query)


@get("/apis/events.k8s.io/v1/namespaces/{namespace:str}/events", include_in_schema=False)
async def ray_events(request: AnyRequest, native: NativeManager, namespace: str) -> Any:
    return await _events(request, native, namespace, core=False)


@get("/api/v1/namespaces/{namespace:str}/events", include_in_schema=False)
async def ray_core_events(request: AnyRequest, native: NativeManager, namespace: str) -> Any:
    return await _events(request, native, namespace, core=True)


ROUTES = [ray_events, ray_core_events]
