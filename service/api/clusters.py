"""Cluster routes (upstream ``ClusterService``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, patch, post

from service.api.params import Continue, IncludeDeleted, Limit, include_deleted, int_param, str_param
from service.api.paths import Namespace, RayName, ends_with_slash, is_legacy, paths, rpc
from service.api.wire import WireDTO
from service.errors import invalid_input
from service.managers.clusters import ClusterManager
from service.managers.context import Caller
from service.schemas.cluster import Cluster, ListClustersResponse
from service.schemas.updates import ClusterUpdate
from service.vocabulary import Action, Resource

TAGS = ["ClusterService"]
AnyRequest = Request[Any, Any, Any]


@post(
    paths("/namespaces/{namespace:str}/clusters"),
    **rpc("CreateCluster", (Resource.CLUSTERS, Action.CREATE)),
    dto=WireDTO[Cluster],
    return_dto=None,
    status_code=200,
    tags=TAGS,
)
async def create_cluster(
    request: AnyRequest,
    clusters: ClusterManager,
    caller: Caller,
    namespace: Namespace,
    data: Cluster | None = None,
) -> Cluster:
    """Create a RayCluster from compute templates."""
    return await clusters.create(caller, namespace, data or Cluster(), legacy=is_legacy(request.url.path))


@get(paths("/namespaces/{namespace:str}/clusters/{name:str}"), **rpc("GetCluster"), tags=TAGS)
async def get_cluster(clusters: ClusterManager, namespace: Namespace, name: RayName) -> Cluster:
    """Get a cluster with its live status and events."""
    return await clusters.get(namespace, name)


async def _list(request: AnyRequest, clusters: ClusterManager, namespace: str | None) -> ListClustersResponse:
    if namespace is not None and ends_with_slash(request.scope):
        raise invalid_input(clusters.texts.name_empty)
    page = await clusters.list(
        namespace,
        int_param(request, "limit", "limit"),
        str_param(request, "continue", "continue"),
        include_deleted(request),
    )
    return ListClustersResponse(clusters=page.items, continue_=page.next_token)


@get(paths("/namespaces/{namespace:str}/clusters"), **rpc("ListCluster"), tags=TAGS)
async def list_clusters(
    request: AnyRequest,
    clusters: ClusterManager,
    namespace: Namespace,
    limit: Limit = None,
    continue_: Continue = None,
    include_deleted_: IncludeDeleted = None,
) -> ListClustersResponse:
    """List the clusters of a namespace, a page at a time with ``limit`` and ``continue``."""
    return await _list(request, clusters, namespace)


@get(paths("/clusters"), **rpc("ListAllClusters"), tags=TAGS)
async def list_all_clusters(
    request: AnyRequest,
    clusters: ClusterManager,
    limit: Limit = None,
    continue_: Continue = None,
    include_deleted_: IncludeDeleted = None,
) -> ListClustersResponse:
    """List the clusters of every namespace."""
    return await _list(request, clusters, None)


@delete(
    paths("/namespaces/{namespace:str}/clusters/{name:str}"),
    **rpc("DeleteCluster", (Resource.CLUSTERS, Action.DELETE)),
    status_code=200,
    tags=TAGS,
)
async def delete_cluster(
    clusters: ClusterManager, caller: Caller, namespace: Namespace, name: RayName
) -> dict[str, Any]:
    """Delete a cluster."""
    await clusters.delete(caller, namespace, name)
    return {}


@patch(
    paths("/namespaces/{namespace:str}/clusters/{name:str}"),
    **rpc("UpdateCluster", (Resource.CLUSTERS, Action.UPDATE)),
    dto=WireDTO[ClusterUpdate],
    return_dto=None,
    tags=TAGS,
)
async def update_cluster(
    clusters: ClusterManager,
    caller: Caller,
    namespace: Namespace,
    name: RayName,
    data: ClusterUpdate | None = None,
) -> Cluster:
    """Scale worker groups (``replicas``, ``minReplicas``, ``maxReplicas`` by ``groupName``), add groups (a new
    ``groupName`` with its ``computeTemplate``) or remove them (``removeWorkerGroups``). With ``resourceVersion``,
    a cluster changed since is 409 (code 10, ABORTED), as is a concurrent change."""
    return await clusters.update(caller, namespace, name, data)


ROUTES = [create_cluster, get_cluster, list_clusters, list_all_clusters, delete_cluster, update_cluster]
