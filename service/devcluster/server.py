"""The dev cluster's HTTP face: Kubernetes API paths, discovery documents and `Status` errors over aiohttp.

Every path is parsed here by hand rather than with aiohttp routes, because Kubernetes paths are
ambiguous by segment count (/api/v1/namespaces/x/configmaps vs /api/v1/namespaces/x/status) and
unknown paths must still answer with a Kubernetes `Status` body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pathlib
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from service.devcluster.errors import ApiError
from service.devcluster.resources import NAMESPACES, RESOURCE_TYPES, JsonObj, ResourceType
from service.devcluster.selectors import Selector
from service.devcluster.store import Store

logger = logging.getLogger("kuberay_apiserver.devcluster")

GIT_VERSION = "v1.34.0-devcluster"
MAX_BODY_BYTES = 16 * 1024 * 1024  # RayCluster specs can be large
DEFAULT_WATCH_SECONDS = 1800  # a real API server ends a watch without timeoutSeconds after 30-60 minutes
# The dev cluster accepts any request; the token only fills the kubeconfig's user.
DUMMY_TOKEN = "devcluster-dummy-token"
_JSON = "application/json"
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
_STATUS_VERBS = ["get", "patch", "update"]
_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    # Nothing served here has strategic-merge list keys, so a strategic merge is a plain merge.
    "application/strategic-merge-patch+json": "merge",
}
_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool, which the API server uses
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


# ----------------------------------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class Target:
    """What a resource path names. namespace None: all namespaces, or a cluster-scoped type."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_target(parts: list[str]) -> Target | None:
    """Map /api/v1/... and /apis/<group>/<version>/... path segments to a resource, None if unknown."""
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    types = {t.plural: t for t in RESOURCE_TYPES if t.group == group and t.version == version}
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in types and types[rest[2]].namespaced:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3 or rest[0] not in types:
        return None
    rtype = types[rest[0]]
    if rtype.namespaced and namespace is None and len(rest) > 1:
        return None  # a namespaced object needs its namespace in the path
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and (subresource != "status" or not rtype.status_subresource):
        return None
    return Target(rtype, namespace, name, subresource)


# ------------------------------------------------------------------------------------------------- discovery


def _group_version(rtype: ResourceType) -> JsonObj:
    return {"groupVersion": rtype.api_version, "version": rtype.version}


def _api_group(group: str) -> JsonObj:
    versions = list({t.api_version: _group_version(t) for t in RESOURCE_TYPES if t.group == group}.values())
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def _resource_list(api_version: str) -> JsonObj | None:
    resources: list[JsonObj] = []
    for rtype in RESOURCE_TYPES:
        if rtype.api_version != api_version:
            continue
        entry: JsonObj = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": _VERBS,
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        resources.append(entry)
        if rtype.status_subresource:
            resources.append(
                {
                    "name": f"{rtype.plural}/status",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": _STATUS_VERBS,
                }
            )
    if not resources:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version,
        "resources": resources,
    }


def discovery_document(parts: list[str], server_address: str) -> JsonObj | str | None:
    """The discovery or health answer for a path, None if the path is not one of those."""
    groups = sorted({t.group for t in RESOURCE_TYPES if t.group})
    if parts in (["healthz"], ["readyz"], ["livez"]):
        return "ok"
    if parts == ["version"]:
        return {
            "major": "1",
            "minor": "34",
            "gitVersion": GIT_VERSION,
            "gitCommit": "devcluster",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    if parts == ["api"]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }
    if parts == ["apis"]:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_api_group(g) for g in groups]}
    if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(parts[1])}
    if parts == ["api", "v1"]:
        return _resource_list("v1")
    if len(parts) == 3 and parts[0] == "apis":
        return _resource_list(f"{parts[1]}/{parts[2]}")
    return None


# -------------------------------------------------------------------------------------------------- handlers


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type=_JSON)


def _not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def _method_not_allowed() -> ApiError:
    message = "the server does not allow this method on the requested resource"
    return ApiError(405, "MethodNotAllowed", message, {})


def _query_bool(request: web.Request, name: str) -> bool:
    value = request.query.get(name)
    if value is None or value == "":
        return False
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ApiError.bad_request(f'invalid boolean value for {name}: "{value}"')


def _query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError.bad_request(f'invalid integer value for {name}: "{value}"') from exc


async def _read_json(request: web.Request, *, optional: bool = False) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(
            413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY_BYTES}"
        ) from exc
    if not raw.strip():
        if optional:
            return None
        raise ApiError.bad_request("the body of the request is empty")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError.bad_request(f"the body of the request could not be decoded as JSON: {exc}") from exc


class Handler:
    """Turns HTTP requests into store calls, and store results and errors into Kubernetes responses."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        try:
            document = discovery_document(parts, request.host)
            if document is not None:
                if request.method not in ("GET", "HEAD"):
                    raise _method_not_allowed()
                if isinstance(document, str):
                    return web.Response(text=document)
                return _json(document)
            target = parse_target(parts)
            if target is None:
                raise _not_found_path()
            if request.query.get("dryRun"):
                # Refused rather than ignored: ignoring it would store what the caller meant to only try.
                raise ApiError.bad_request("dryRun is not supported by the dev cluster")
            if target.name is None:
                return await self._collection(request, target)
            return await self._item(request, target)
        except ApiError as err:
            return _json(err.status(), err.code)
        except Exception as exc:  # a bug here; answer like an API server would rather than with HTML
            logger.exception("dev cluster failed on %s %s", request.method, request.path_qs)
            return _json(ApiError(500, "InternalError", f"Internal error occurred: {exc}").status(), 500)

    async def _collection(self, request: web.Request, target: Target) -> web.StreamResponse:
        rtype, namespace = target.rtype, target.namespace
        if request.method == "GET":
            query = request.query
            selector = Selector.parse(rtype, query.get("labelSelector"), query.get("fieldSelector"))
            if _query_bool(request, "watch"):
                return await self._watch(request, target, selector)
            limit = _query_int(request, "limit")
            return _json(self._store.list(rtype, namespace, selector, limit, query.get("continue") or None))
        if request.method == "POST" and (namespace is not None or not rtype.namespaced):
            body = await _read_json(request)
            return _json(self._store.create(rtype, namespace, body), 201)
        raise _method_not_allowed()

    async def _item(self, request: web.Request, target: Target) -> web.StreamResponse:
        rtype, namespace, name, sub = target.rtype, target.namespace, target.name or "", target.subresource
        if request.method == "GET":
            return _json(self._store.get(rtype, namespace, name))
        if request.method == "PUT":
            body = await _read_json(request)
            return _json(self._store.replace(rtype, namespace, name, body, sub))
        if request.method == "PATCH":
            patch_type = _PATCH_TYPES.get(request.content_type)
            if patch_type is None:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(_PATCH_TYPES)}",
                )
            body = await _read_json(request)
            return _json(self._store.patch(rtype, namespace, name, patch_type, body, sub))
        if request.method == "DELETE" and sub is None:
            options = await _read_json(request, optional=True)
            preconditions = options.get("preconditions") if isinstance(options, dict) else None
            result = self._store.delete(rtype, namespace, name, preconditions)
            if rtype.custom or rtype is NAMESPACES or not result.removed:
                return _json(result.object)
            # Built-in kinds answer an immediate delete with a Success Status, as real Kubernetes does.
            details = {**rtype.details(name), "uid": result.object["metadata"].get("uid")}
            return _json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
            )
        raise _method_not_allowed()

    async def _watch(self, request: web.Request, target: Target, selector: Selector) -> web.StreamResponse:
        """Stream newline-delimited events until timeoutSeconds, the client leaves or the server stops."""
        timeout = _query_int(request, "timeoutSeconds") or DEFAULT_WATCH_SECONDS
        watcher = self._store.watch(
            target.rtype, target.namespace, selector, request.query.get("resourceVersion")
        )
        response = web.StreamResponse(headers={"Content-Type": _JSON})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            async with asyncio.timeout(timeout):
                while (event := await watcher.next()) is not None:
                    await response.write(json.dumps(event).encode() + b"\n")
        except (TimeoutError, ConnectionResetError):
            pass  # the watch ran its time, or the client went away
        finally:
            # Runs on cancellation too: the app cancels a handler whose client disconnected.
            watcher.close()
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response


def build_app(store: Store) -> web.Application:
    """The aiohttp application serving `store` as a Kubernetes API."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{path:.*}", Handler(store).dispatch)
    return app


# ------------------------------------------------------------------------------------------------- lifecycle


class DevCluster:
    """An in-memory emulation of the Kubernetes API this service uses, served over HTTP on loopback."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._store: Store | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the dev cluster is not started")
        return self._url

    @property
    def store(self) -> Store:
        """The objects themselves, for tests that want to look behind the API."""
        if self._store is None:
            raise RuntimeError("the dev cluster is not started")
        return self._store

    async def start(self) -> str:
        """Listen (port 0 picks a free one) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("the dev cluster is already started")
        store = Store()
        # handler_cancellation: a watch handler is cancelled as soon as its client disconnects.
        runner = web.AppRunner(
            build_app(store), handler_cancellation=True, access_log=None, shutdown_timeout=2.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        port = runner.addresses[0][1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._store, self._runner, self._url = store, runner, f"http://{host}:{port}"
        logger.warning(
            "DEV CLUSTER at %s: an in-memory emulation of the Kubernetes API, NOT a real cluster; "
            "every object is lost when the process exits",
            self._url,
        )
        return self._url

    async def stop(self) -> None:
        """End open watches, then stop serving. Every object is dropped."""
        if self._runner is None:
            return
        if self._store is not None:
            self._store.close_watchers()
        runner, self._runner, self._store, self._url = self._runner, None, None, None
        await runner.cleanup()

    def write_kubeconfig(self, path: pathlib.Path, namespace: str = "default") -> None:
        """A kubeconfig pointing at this cluster over plain HTTP with a dummy token user."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "devcluster", "cluster": {"server": self.url}}],
            "users": [{"name": "devcluster", "user": {"token": DUMMY_TOKEN}}],
            "contexts": [
                {
                    "name": "devcluster",
                    "context": {"cluster": "devcluster", "user": "devcluster", "namespace": namespace},
                }
            ],
            "current-context": "devcluster",
            "preferences": {},
        }
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a reader polling for the file never sees half of it.
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        partial.replace(path)


async def serve_dev_cluster(host: str, port: int, kubeconfig: pathlib.Path | None) -> None:
    """Run a dev cluster until cancelled, writing `kubeconfig` (if given) once it listens."""
    cluster = DevCluster(host, port)
    await cluster.start()
    try:
        if kubeconfig is not None:
            cluster.write_kubeconfig(kubeconfig)
        await asyncio.Event().wait()
    finally:
        await cluster.stop()
