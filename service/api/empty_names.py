"""Upstream's answers for a named route whose name is empty (``DELETE /namespaces/ns/clusters/``).

Litestar routes such a path like the collection (``/clusters``), so the collection gets the methods of the named
route too: with the trailing slash they answer upstream's "name is empty" 400, without it 405 as any unknown
method does. GET is handled by the list handlers themselves (``ends_with_slash``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, put
from litestar.exceptions import MethodNotAllowedException
from litestar.handlers import HTTPRouteHandler

from service.api.paths import ends_with_slash, paths
from service.errors import invalid_input
from service.managers.texts import TEXTS, UPDATE_NAME_EMPTY
from service.vocabulary import Resource

# What a collection path really serves (the routes here only stand in for the named route).
COLLECTION_METHODS = {"allow": "GET, POST"}
COLLECTIONS = {
    "compute_templates": Resource.COMPUTE_TEMPLATES,
    "clusters": Resource.CLUSTERS,
    "jobs": Resource.JOBS,
    "services": Resource.SERVICES,
}


def _routes(collection: str, resource: Resource) -> list[HTTPRouteHandler]:
    path = paths(f"/namespaces/{{namespace:str}}/{collection}")

    @delete(
        path,
        include_in_schema=False,
        status_code=200,
        opt={"rpc": "unmatched"},
        name=f"delete-empty-{collection}",
    )
    async def delete_empty_name(request: Request[Any, Any, Any]) -> None:
        if not ends_with_slash(request.scope):
            raise MethodNotAllowedException(headers=COLLECTION_METHODS)
        raise invalid_input(TEXTS[resource].name_empty)

    @put(path, include_in_schema=False, opt={"rpc": "unmatched"}, name=f"put-empty-{collection}")
    async def put_empty_name(request: Request[Any, Any, Any]) -> None:
        if resource is not Resource.SERVICES or not ends_with_slash(request.scope):
            raise MethodNotAllowedException(headers=COLLECTION_METHODS)
        raise invalid_input(UPDATE_NAME_EMPTY)

    return [delete_empty_name, put_empty_name]


ROUTES = [
    handler for collection, resource in COLLECTIONS.items() for handler in _routes(collection, resource)
]
