"""RayService routes (upstream ``RayServeService``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, patch, post, put

from service.api.params import IncludeDeleted, PageSize, PageToken, include_deleted, int_param, str_param
from service.api.paths import Namespace, RayName, ends_with_slash, is_legacy, paths, rpc
from service.api.wire import WireDTO
from service.errors import invalid_input
from service.managers.context import Caller
from service.managers.services import ServiceManager
from service.schemas.service import ListRayServicesResponse, RayService
from service.schemas.updates import ServiceConfigsUpdate
from service.vocabulary import Action, Resource

TAGS = ["RayServeService"]
AnyRequest = Request[Any, Any, Any]


@post(
    paths("/namespaces/{namespace:str}/services"),
    **rpc("CreateRayService", (Resource.SERVICES, Action.CREATE)),
    dto=WireDTO[RayService],
    return_dto=None,
    status_code=200,
    tags=TAGS,
)
async def create_service(
    request: AnyRequest,
    services: ServiceManager,
    caller: Caller,
    namespace: Namespace,
    data: RayService | None = None,
) -> RayService:
    """Create a RayService from a serve configuration and a cluster spec."""
    result: RayService = await services.create(caller, namespace, data, legacy=is_legacy(request.url.path))
    return result


@put(
    paths("/namespaces/{namespace:str}/services/{name:str}"),
    **rpc("UpdateRayService", (Resource.SERVICES, Action.UPDATE)),
    dto=WireDTO[RayService],
    return_dto=None,
    tags=TAGS,
)
async def update_service(
    request: AnyRequest,
    services: ServiceManager,
    caller: Caller,
    namespace: Namespace,
    name: RayName,
    data: RayService | None = None,
) -> RayService:
    """Replace a RayService's spec; a concurrent change makes it fail with 409 (code 10, ABORTED)."""
    return await services.update(caller, namespace, name, data, legacy=is_legacy(request.url.path))


@get(paths("/namespaces/{namespace:str}/services/{name:str}"), **rpc("GetRayService"), tags=TAGS)
async def get_service(services: ServiceManager, namespace: Namespace, name: RayName) -> RayService:
    """Get a service with its live status, events and active cluster."""
    result: RayService = await services.get(namespace, name)
    return result


async def _list(
    request: AnyRequest, services: ServiceManager, namespace: str | None
) -> ListRayServicesResponse:
    if namespace is not None and ends_with_slash(request.scope):
        raise invalid_input(services.texts.name_empty)
    page = await services.list(
        namespace,
        int_param(request, "page_size", "pageSize", bits=32),
        str_param(request, "page_token", "pageToken"),
        include_deleted(request),
    )
    return ListRayServicesResponse(services=page.items, next_page_token=page.next_token)


@get(paths("/namespaces/{namespace:str}/services"), **rpc("ListRayServices"), tags=TAGS)
async def list_services(
    request: AnyRequest,
    services: ServiceManager,
    namespace: Namespace,
    page_size: PageSize = None,
    page_token: PageToken = None,
    include_deleted_: IncludeDeleted = None,
) -> ListRayServicesResponse:
    """List the services of a namespace, a page at a time with ``pageSize`` and ``pageToken``."""
    return await _list(request, services, namespace)


@get(paths("/services"), **rpc("ListAllRayServices"), tags=TAGS)
async def list_all_services(
    request: AnyRequest,
    services: ServiceManager,
    page_size: PageSize = None,
    page_token: PageToken = None,
    include_deleted_: IncludeDeleted = None,
) -> ListRayServicesResponse:
    """List the services of every namespace."""
    return await _list(request, services, None)


@delete(
    paths("/namespaces/{namespace:str}/services/{name:str}"),
    **rpc("DeleteRayService", (Resource.SERVICES, Action.DELETE)),
    status_code=200,
    tags=TAGS,
)
async def delete_service(
    services: ServiceManager, caller: Caller, namespace: Namespace, name: RayName
) -> dict[str, Any]:
    """Delete a service."""
    await services.delete(caller, namespace, name)
    return {}


@patch(
    paths("/namespaces/{namespace:str}/services/{name:str}/configs"),
    **rpc("UpdateRayServiceConfigs", (Resource.SERVICES, Action.UPDATE)),
    dto=WireDTO[ServiceConfigsUpdate],
    return_dto=None,
    tags=TAGS,
)
async def update_service_configs(
    services: ServiceManager,
    caller: Caller,
    namespace: Namespace,
    name: RayName,
    data: ServiceConfigsUpdate | None = None,
) -> RayService:
    """Scale worker groups of the service's cluster (``workerGroupUpdateSpec``: ``groupName``, ``replicas``,
    ``minReplicas``, ``maxReplicas``) and/or replace its serve configuration (``serveConfigV2``, or the seed's
    ``serveDeploymentGraphSpec``). With ``resourceVersion``, a service changed since is 409 (code 10, ABORTED)."""
    result: RayService = await services.update_configs(caller, namespace, name, data)
    return result


ROUTES = [
    create_service,
    update_service,
    get_service,
    list_services,
    list_all_services,
    delete_service,
    update_service_configs,
]
