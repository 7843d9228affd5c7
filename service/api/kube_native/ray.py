"""Upstream's V2 routes for Ray objects: Kubernetes paths, Kubernetes objects, Kubernetes Status errors."""

from __future__ import annotations

from typing import Any

import msgspec
import yaml
from litestar import Request, Response, delete, get, patch, post, put
from litestar.response import Stream

from service.errors import StatusError
from service.managers.context import Caller
from service.managers.native import NativeManager

AnyRequest = Request[Any, Any, Any]
ROOT = "/apis/ray.io/v1"
ONE = ROOT + "/namespaces/{namespace:str}/{plural:str}/{name:str}"
MERGE_PATCH = "application/merge-patch+json"


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
    return Response(await native.create(caller, plural, namespace, await _body(request)), status_code=201)


@get(ONE, include_in_schema=False)
async def read(native: NativeManager, namespace: str, plural: str, name: str) -> dict[str, Any]:
    return await native.get(plural, namespace, name)


@put(ONE, include_in_schema=False)
async def replace(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str, name: str
) -> dict[str, Any]:
    return await native.replace(caller, plural, namespace, name, await _body(request), templates=True)


@patch(ONE, include_in_schema=False)
async def modify(
    request: AnyRequest, native: NativeManager, caller: Caller, namespace: str, plural: str, name: str
) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != MERGE_PATCH:
        # Kubernetes answers strategic merge patches of custom resources with 415 too.
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: {MERGE_PATCH}",
        )
    document = await _body(request)
    current = await native.get(plural, namespace, name)
    return await native.replace(caller, plural, namespace, name, merge_patch(current, document))


@delete(ONE, include_in_schema=False, status_code=200)
async def remove(
    native: NativeManager, caller: Caller, namespace: str, plural: str, name: str
) -> dict[str, Any]:
    return await native.delete(caller, plural, namespace, name)


def merge_patch(target: Any, document: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(document, dict):
        return document
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in document.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


ROUTES = [list_all, list_namespaced, create, read, replace, modify, remove]
