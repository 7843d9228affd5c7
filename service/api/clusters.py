"""Cluster routes (upstream ``ClusterService``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post

from service.api.deps import body, context, managers
from service.api.params import include_deleted, int_param, str_param
from service.api.paths import body_of, paths, rpc
from service.schemas.base import decode
from service.schemas.cluster import Cluster, ListClustersResponse

TAGS = ["ClusterService"]
AnyRequest = Request[Any, Any, Any]


@post(
    paths("/namespaces/{namespace:str}/clusters"),
    **rpc("CreateCluster"),
    operation_class=body_of("Cluster"),
    status_code=200,
    tags=TAGS,
)
async def create_cluster(request: AnyRequest, namespace: str) -> Cluster:
    """Create a RayCluster from compute templates."""
    cluster = decode(await body(request), Cluster)
    return await managers(request).clusters.create(context(request), namespace, cluster)


@get(paths("/namespaces/{namespace:str}/clusters/{name:str}"), **rpc("GetCluster"), tags=TAGS)
async def get_cluster(request: AnyRequest, namespace: str, name: str) -> Cluster:
    """Get a cluster with its live status and events."""
    return await managers(request).clusters.get(namespace, name)


async def _list(request: AnyRequest, namespace: str | None, wrap: str) -> ListClustersResponse:
    page = await managers(request).clusters.list(
        namespace,
        int_param(request, "limit", "limit"),
        str_param(request, "continue", "continue"),
        include_deleted(request),
        wrap,
    )
    return ListClustersResponse(clusters=page.items, continue_=page.next_token)


@get(paths("/namespaces/{namespace:str}/clusters"), **rpc("ListCluster"), tags=TAGS)
async def list_clusters(request: AnyRequest, namespace: str) -> ListClustersResponse:
    """List the clusters of a namespace, a page at a time with ``limit`` and ``continue``."""
    return await _list(request, namespace, "List clusters failed.")


@get(paths("/clusters"), **rpc("ListAllClusters"), tags=TAGS)
async def list_all_clusters(request: AnyRequest) -> ListClustersResponse:
    """List the clusters of every namespace."""
    return await _list(request, None, "List clusters from all namespaces failed.")


@delete(
    paths("/namespaces/{namespace:str}/clusters/{name:str}"),
    **rpc("DeleteCluster"),
    status_code=200,
    tags=TAGS,
)
async def delete_cluster(request: AnyRequest, namespace: str, name: str) -> dict[str, Any]:
    """Delete a cluster."""
    await managers(request).clusters.delete(context(request), namespace, name)
    return {}


ROUTES = [create_cluster, get_cluster, list_clusters, list_all_clusters, delete_cluster]
