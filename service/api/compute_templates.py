"""Compute template routes (upstream ``ComputeTemplateService``)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, post, put

from service.api.params import Extensions, IncludeDeleted, extensions, include_deleted
from service.api.paths import Namespace, TemplateName, ends_with_slash, is_legacy, paths, rpc
from service.api.wire import WireDTO
from service.errors import invalid_input
from service.managers.context import Caller
from service.managers.templates import ComputeTemplateManager
from service.schemas.compute_template import ComputeTemplate, ListComputeTemplatesResponse
from service.vocabulary import Action, Resource

TAGS = ["ComputeTemplateService"]
AnyRequest = Request[Any, Any, Any]


def _view(request: AnyRequest, template: ComputeTemplate, history: bool = False) -> ComputeTemplate:
    """Upstream's message unless the caller asked for the extension fields (history answers always carry them)."""
    if history or extensions(request):
        return template
    return msgspec.structs.replace(
        template,
        created_at="",
        deleted_at="",
        user="",
        node_selector={},
        affinity=None,
        cpu_limit=0,
        memory_limit=0,
        resource_version="",
    )


@post(
    paths("/namespaces/{namespace:str}/compute_templates"),
    **rpc("CreateComputeTemplate", (Resource.COMPUTE_TEMPLATES, Action.CREATE)),
    dto=WireDTO[ComputeTemplate],
    return_dto=None,
    status_code=200,
    tags=TAGS,
)
async def create_compute_template(
    request: AnyRequest,
    templates: ComputeTemplateManager,
    caller: Caller,
    namespace: Namespace,
    data: ComputeTemplate | None = None,
    extensions_: Extensions = None,
) -> ComputeTemplate:
    """Create a compute template (stored as a ConfigMap) in a namespace."""
    created = await templates.create(
        caller, namespace, data or ComputeTemplate(), legacy=is_legacy(request.url.path)
    )
    return _view(request, created)


@get(
    paths("/namespaces/{namespace:str}/compute_templates/{name:str}"), **rpc("GetComputeTemplate"), tags=TAGS
)
async def get_compute_template(
    request: AnyRequest,
    templates: ComputeTemplateManager,
    namespace: Namespace,
    name: TemplateName,
    extensions_: Extensions = None,
) -> ComputeTemplate:
    """Get a compute template by name."""
    return _view(request, await templates.get(namespace, name))


async def _list(
    request: AnyRequest, templates: ComputeTemplateManager, namespace: str | None
) -> ListComputeTemplatesResponse:
    if namespace is not None and ends_with_slash(request.scope):
        raise invalid_input(templates.texts.name_empty)
    history = include_deleted(request)
    page = await templates.list(namespace, 0, "", history)
    return ListComputeTemplatesResponse(
        compute_templates=[_view(request, item, history) for item in page.items]
    )


@get(paths("/namespaces/{namespace:str}/compute_templates"), **rpc("ListComputeTemplates"), tags=TAGS)
async def list_compute_templates(
    request: AnyRequest,
    templates: ComputeTemplateManager,
    namespace: Namespace,
    include_deleted_: IncludeDeleted = None,
    extensions_: Extensions = None,
) -> ListComputeTemplatesResponse:
    """List the compute templates of a namespace (with ``includeDeleted=true``, also deleted ones)."""
    return await _list(request, templates, namespace)


@get(paths("/compute_templates"), **rpc("ListAllComputeTemplates"), tags=TAGS)
async def list_all_compute_templates(
    request: AnyRequest,
    templates: ComputeTemplateManager,
    include_deleted_: IncludeDeleted = None,
    extensions_: Extensions = None,
) -> ListComputeTemplatesResponse:
    """List the compute templates of every namespace."""
    return await _list(request, templates, None)


@delete(
    paths("/namespaces/{namespace:str}/compute_templates/{name:str}"),
    **rpc("DeleteComputeTemplate", (Resource.COMPUTE_TEMPLATES, Action.DELETE)),
    status_code=200,
    tags=TAGS,
)
async def delete_compute_template(
    templates: ComputeTemplateManager, caller: Caller, namespace: Namespace, name: TemplateName
) -> dict[str, Any]:
    """Delete a compute template."""
    await templates.delete(caller, namespace, name)
    return {}


@put(
    paths("/namespaces/{namespace:str}/compute_templates/{name:str}"),
    **rpc("UpdateComputeTemplate", (Resource.COMPUTE_TEMPLATES, Action.UPDATE)),
    dto=WireDTO[ComputeTemplate],
    return_dto=None,
    tags=TAGS,
)
async def update_compute_template(
    request: AnyRequest,
    templates: ComputeTemplateManager,
    caller: Caller,
    namespace: Namespace,
    name: TemplateName,
    data: ComputeTemplate | None = None,
    extensions_: Extensions = None,
) -> ComputeTemplate:
    """Replace a compute template's values (the body as for a create). Clusters built from it keep their pods'
    resources; clusters created (or groups added) afterwards use the new values. With ``resourceVersion``, a
    template changed since is 409 (code 10, ABORTED), as is a concurrent change."""
    return _view(request, await templates.update(caller, namespace, name, data))


ROUTES = [
    update_compute_template,
    create_compute_template,
    get_compute_template,
    list_compute_templates,
    list_all_compute_templates,
    delete_compute_template,
]
