"""Compute template routes (upstream ``ComputeTemplateService``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post

from service.api.deps import body, context, managers
from service.api.params import include_deleted
from service.api.paths import body_of, paths, rpc
from service.schemas.base import decode
from service.schemas.compute_template import ComputeTemplate, ListComputeTemplatesResponse

TAGS = ["ComputeTemplateService"]
AnyRequest = Request[Any, Any, Any]


@post(
    paths("/namespaces/{namespace:str}/compute_templates"),
    **rpc("CreateComputeTemplate"),
    operation_class=body_of("ComputeTemplate"),
    status_code=200,
    tags=TAGS,
)
async def create_compute_template(request: AnyRequest, namespace: str) -> ComputeTemplate:
    """Create a compute template (stored as a ConfigMap) in a namespace."""
    template = decode(await body(request), ComputeTemplate)
    return await managers(request).templates.create(context(request), namespace, template)


@get(
    paths("/namespaces/{namespace:str}/compute_templates/{name:str}"),
    **rpc("GetComputeTemplate"),
    tags=TAGS,
)
async def get_compute_template(request: AnyRequest, namespace: str, name: str) -> ComputeTemplate:
    """Get a compute template by name."""
    return await managers(request).templates.get(namespace, name)


@get(paths("/namespaces/{namespace:str}/compute_templates"), **rpc("ListComputeTemplates"), tags=TAGS)
async def list_compute_templates(request: AnyRequest, namespace: str) -> ListComputeTemplatesResponse:
    """List the compute templates of a namespace (with ``includeDeleted=true``, also deleted ones)."""
    items = await managers(request).templates.list(namespace, include_deleted(request))
    return ListComputeTemplatesResponse(compute_templates=items)


@get(paths("/compute_templates"), **rpc("ListAllComputeTemplates"), tags=TAGS)
async def list_all_compute_templates(request: AnyRequest) -> ListComputeTemplatesResponse:
    """List the compute templates of every namespace."""
    items = await managers(request).templates.list(None, include_deleted(request))
    return ListComputeTemplatesResponse(compute_templates=items)


@delete(
    paths("/namespaces/{namespace:str}/compute_templates/{name:str}"),
    **rpc("DeleteComputeTemplate"),
    status_code=200,
    tags=TAGS,
)
async def delete_compute_template(request: AnyRequest, namespace: str, name: str) -> dict[str, Any]:
    """Delete a compute template."""
    await managers(request).templates.delete(context(request), namespace, name)
    return {}


ROUTES = [
    create_compute_template,
    get_compute_template,
    list_compute_templates,
    list_all_compute_templates,
    delete_compute_template,
]
