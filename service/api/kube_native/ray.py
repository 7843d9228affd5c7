"""Upstream's V2 routes for Ray objects: Kubernetes paths, Kubernetes objects, Kubernetes Status errors."""

from __future__ import annotations

from typing import Any

import msgspec
import yaml
from litestar import Request, Response, delete, get, patch, post, put
from litestar.response import Stream

from service.errors import StatusError
from service.managers.context import Caller
from service.managers.native import APPLY, PATCH_TYPES, STATUS, NativeManager, write_options

AnyRequest = Request[Any, Any, Any]
ROOT = "/apis/ray.io/v1"
ONE = ROOT + "/namespaces/{namespace:str}/{plural:str}/{name:str}"


async def _body(request: AnyRequest) -> Any:
    """The object sent, as JSON or (as Kubernetes and upstream's V2 routes take it) YAML."""
    raw = await request.body()
    if "yaml" in request.headers.get("content-type", ""):
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            raise StatusError(400, "BadRequest", "the request body is not valid YAML") from None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise StatusError(400, "BadRequest", "the request body is not valid JSON") from None


def query_of(request: AnyRequest) -> dict[str, str]:
    return {key: str(value) for key, value in request.query_params.items()}


@get(ROOT + "/{plural:str}", include_in_schema=False)
async def list_all(request: AnyRequest, native: NativeManager, plural: str) -> Any:
    return await _list_or_watch(request, native, plural, None)


@get(ROOT + "/namespaces/{namespace:str}/{plural:str}", include_in_schema=False)
async def list_namespaced(request: AnyRequest, native: NativeManager, namespace: str, plural: str) -> Any:
    return await _list_or_watch(request, native, plural, namespace)


async def _list_or_watch(
    request: AnyRequest, native: NativeManager, plural: str, namespace: str | None
) -> Any:
    query = query_of(request)
    if is_watch(query):
        lines = await native.watch(plural, namespace, query)
        return Stream(lines, media_type="application/json", headers={"Cache-Control": "no-store"})
    return await native.list(plural, namespace, query)


def is_watch(query: dict[str, str]) -> bool:
    return query.get("watch", "").lower() in ("true", "1")


@post(ROOT + "/namespaces/{namespace:str}/{plural:str}", include_in_schema=False)
async def create(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str
) -> Response[dict[str, Any]]:
    options = write_options(query_of(request))
    created = await native.create(caller, plural, namespace, await _body(request), options)
    return Response(created, status_code=201)


@delete(ROOT + "/namespaces/{namespace:str}/{plural:str}", include_in_schema=False, status_code=200)
async def remove_collection(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str
) -> dict[str, Any]:
    query = query_of(request)
    return await native.delete_collection(
        caller, plural, namespace, query, await _delete_options(request, query)
    )


@get(ONE, include_in_schema=False)
async def read(native: NativeManager, namespace: str, plural: str, name: str) -> dict[str, Any]:
    return await native.get(plural, namespace, name)


@put(ONE, include_in_schema=False)
async def replace(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str, name: str
) -> dict[str, Any]:
    options = write_options(query_of(request))
    body = await _body(request)
    return await native.replace(caller, plural, namespace, name, body, templates=True, options=options)


@patch(ONE, include_in_schema=False)
async def modify(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str, name: str
) -> Response[dict[str, Any]]:
    return await _patch(request, native, caller, namespace, plural, name, "")


@delete(ONE, include_in_schema=False, status_code=200)
async def remove(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str, name: str
) -> dict[str, Any]:
    options = await _delete_options(request, query_of(request))
    return await native.delete(caller, plural, namespace, name, options)


@get(ONE + "/status", include_in_schema=False)
async def read_status(native: NativeManager, namespace: str, plural: str, name: str) -> dict[str, Any]:
    return await native.get_status(plural, namespace, name)


@put(ONE + "/status", include_in_schema=False)
async def replace_status(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str, name: str
) -> dict[str, Any]:
    options = write_options(query_of(request))
    body = await _body(request)
    return await native.replace(caller, plural, namespace, name, body, options=options, subresource=STATUS)


@patch(ONE + "/status", include_in_schema=False)
async def modify_status(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str, name: str
) -> Response[dict[str, Any]]:
    return await _patch(request, native, caller, namespace, plural, name, STATUS)


async def _patch(
    request: AnyRequest,
    native: NativeManager,
    caller: Caller,
    namespace: str,
    plural: str,
    name: str,
    subresource: str,
) -> Response[dict[str, Any]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in PATCH_TYPES:
        # Kubernetes answers strategic merge patches of custom resources with 415 too.
        raise StatusError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(PATCH_TYPES),
        )
    options = write_options(query_of(request), apply=content_type == APPLY)
    document = await _body(request)
    obj, created = await native.patch(
        caller, plural, namespace, name, content_type, document, options, subresource
    )
    # A server-side apply that created the object answers 201, as Kubernetes does.
    return Response(obj, status_code=201 if created else 200)


async def _delete_options(request: AnyRequest, query: dict[str, str]) -> dict[str, Any] | None:
    """The DeleteOptions of a delete: its body when it has one, else its query (as Kubernetes reads them)."""
    raw = await request.body()
    if raw.strip():
        try:
            options = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise StatusError(400, "BadRequest", "the request body is not valid JSON") from None
        if not isinstance(options, dict):
            raise StatusError(400, "BadRequest", "the body of a delete must be a DeleteOptions object")
        return {key: value for key, value in options.items() if key not in ("kind", "apiVersion")}
    found: dict[str, Any] = {}
    if query.get("propagationPolicy"):
        found["propagationPolicy"] = query["propagationPolicy"]
    if query.get("dryRun"):
        found["dryRun"] = [query["dryRun"]]
    if query.get("gracePeriodSeconds"):
        try:
            found["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
        except ValueError:
            raise StatusError(
                400, "BadRequest", f'invalid value for gracePeriodSeconds: "{query["gracePeriodSeconds"]}"'
            ) from None
    if query.get("orphanDependents"):
        found["orphanDependents"] = query["orphanDependents"].lower() in ("true", "1", "t")
    return found or None


ROUTES = [
    list_all,
    list_namespaced,
    create,
    remove_collection,
    read,
    replace,
    modify,
    remove,
    read_status,
    replace_status,
    modify_status,
]
