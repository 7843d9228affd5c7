"""Discovery for kubectl and Kubernetes clients: /version, /api, /apis, the Ray group and its OpenAPI v3."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from service.managers.discovery import DiscoveryManager

AnyRequest = Request[Any, Any, Any]


def _discovery(request: AnyRequest) -> DiscoveryManager:
    return DiscoveryManager(request.app.state.managers.native.kube)


@get("/version", include_in_schema=False)
async def version(request: AnyRequest) -> dict[str, Any]:
    return await _discovery(request).version()


@get("/api", include_in_schema=False)
async def core(request: AnyRequest) -> dict[str, Any]:
    return _discovery(request).core()


@get("/apis", include_in_schema=False)
async def groups(request: AnyRequest) -> dict[str, Any]:
    return await _discovery(request).groups()


@get("/apis/ray.io", include_in_schema=False)
async def group(request: AnyRequest) -> dict[str, Any]:
    return await _discovery(request).group()


@get("/apis/ray.io/v1", include_in_schema=False)
async def resources(request: AnyRequest) -> dict[str, Any]:
    return await _discovery(request).resources()


@get("/openapi/v3", include_in_schema=False)
async def openapi_paths(request: AnyRequest) -> dict[str, Any]:
    return await _discovery(request).openapi_paths()


@get("/openapi/v3/apis/ray.io/v1", include_in_schema=False)
async def openapi(request: AnyRequest) -> dict[str, Any]:
    return await _discovery(request).openapi()


ROUTES = [version, core, groups, group, resources, openapi_paths, openapi]
