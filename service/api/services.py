"""RayService routes (upstream ``RayServeService``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post, put

from service.api.deps import body, context, managers
from service.api.params import include_deleted, int_param, str_param
from service.api.paths import body_of, paths, rpc
from service.schemas.base import decode
from service.schemas.service import ListRayServicesResponse, RayService

TAGS = ["RayServeService"]
AnyRequest = Request[Any, Any, Any]


@post(
    paths("/namespaces/{namespace:str}/services"),
    **rpc("CreateRayService"),
    operation_class=body_of("RayService"),
    status_code=200,
    tags=TAGS,
)
async def create_service(request: AnyRequest, namespace: str) -> RayService:
    """Create a RayService from a serve configuration and a cluster spec."""
    service = decode(await body(request), RayService)
    return await managers(request).services.create(context(request), namespace, service)


@put(
    paths("/namespaces/{namespace:str}/services/{name:str}"),
    **rpc("UpdateRayService"),
    operation_class=body_of("RayService"),
    tags=TAGS,
)
async def update_service(request: AnyRequest, namespace: str, name: str) -> RayService:
    """Replace a RayService's spec; a concurrent change makes it fail with 409 (code 10, ABORTED)."""
    service = decode(await body(request), RayService)
    return await managers(request).services.update(context(request), namespace, name, service)


@get(paths("/namespaces/{namespace:str}/services/{name:str}"), **rpc("GetRayService"), tags=TAGS)
async def get_service(request: AnyRequest, namespace: str, name: str) -> RayService:
    """Get a service with its live status, events and active cluster."""
    return await managers(request).services.get(namespace, name)


async def _list(request: AnyRequest, namespace: str | None, wrap: str) -> ListRayServicesResponse:
    page = await managers(request).services.list(
        namespace,
        int_param(request, "page_size", "pageSize", bits=32),
        str_param(request, "page_token", "pageToken"),
        include_deleted(request),
        wrap,
    )
    return ListRayServicesResponse(services=page.items, next_page_token=page.next_token)


@get(paths("/namespaces/{namespace:str}/services"), **rpc("ListRayServices"), tags=TAGS)
async def list_services(request: AnyRequest, namespace: str) -> ListRayServicesResponse:
    """List the services of a namespace, a page at a time with ``pageSize`` and ``pageToken``."""
    return await _list(request, namespace, "failed to list rayservice.")


@get(paths("/services"), **rpc("ListAllRayServices"), tags=TAGS)
async def list_all_services(request: AnyRequest) -> ListRayServicesResponse:
    """List the services of every namespace."""
    return await _list(request, None, "list all services failed.")


@delete(
    paths("/namespaces/{namespace:str}/services/{name:str}"),
    **rpc("DeleteRayService"),
    status_code=200,
    tags=TAGS,
)
async def delete_service(request: AnyRequest, namespace: str, name: str) -> dict[str, Any]:
    """Delete a service."""
    await managers(request).services.delete(context(request), namespace, name)
    return {}


ROUTES = [create_service, update_service, get_service, list_services, list_all_services, delete_service]
