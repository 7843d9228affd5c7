"""The HTTP request handler: Kubernetes API requests to store calls, results and errors to responses.

Every path goes through one catch-all route and is dispatched here, because unknown paths must still
answer with a Kubernetes `Status` body. Paths under /_devcluster/ are the dev cluster's own control
endpoints, not Kubernetes API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from service.devcluster.discovery import discovery_document
from service.devcluster.errors import ApiError
from service.devcluster.paths import Target, parse_target
from service.devcluster.requestlog import RequestLog
from service.devcluster.resources import NAMESPACES, SERVICES, JsonObj
from service.devcluster.selectors import Selector
from service.devcluster.store import Store
from service.devcluster.validation import FieldError

logger = logging.getLogger("kuberay_apiserver.devcluster")

MAX_BODY_BYTES = 16 * 1024 * 1024  # RayCluster specs can be large
DEFAULT_WATCH_SECONDS = 1800  # a real API server ends a watch without timeoutSeconds after 30-60 minutes
CONTROL_PREFIX = "_devcluster"
_JSON = "application/json"
_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    # Nothing served here has strategic-merge list keys, so a strategic merge is a plain merge.
    "application/strategic-merge-patch+json": "merge",
}
_APPLY_PATCH = "application/apply-patch+yaml"
_FIELD_VALIDATION = ("", "Ignore", "Strict", "Warn")
_PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool, which the API server uses
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


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


def _options_invalid(kind: str, errors: list[FieldError]) -> ApiError:
    """A real API server's 422 for write options it refuses (``CreateOptions``, ``DeleteOptions`` ...)."""
    summary = errors[0].text() if len(errors) == 1 else "[" + ", ".join(e.text() for e in errors) + "]"
    details: JsonObj = {
        "group": "meta.k8s.io",
        "kind": kind,
        "causes": [{"reason": e.reason, "message": e.detail, "field": e.field} for e in errors],
    }
    return ApiError(422, "Invalid", f'{kind}.meta.k8s.io "" is invalid: {summary}', details)


def _unsupported(field: str, value: str, supported: tuple[str, ...]) -> FieldError:
    choices = ", ".join(json.dumps(choice) for choice in supported)
    return FieldError(
        field, "FieldValueNotSupported", f"Unsupported value: {value}: supported values: {choices}"
    )


def _dry_run_problem(values: list[str]) -> FieldError | None:
    if values and values != ["All"]:
        return _unsupported("dryRun", json.dumps(values, separators=(",", ":")), ("All",))
    return None


def _write_options(request: web.Request, kind: str) -> bool:
    """Check a write's query options as a real API server does; whether it is a dry run (then nothing is stored).

    ``fieldManager`` and ``fieldValidation`` are checked and otherwise ignored: the dev cluster keeps no
    managedFields, and it has no schemas to find unknown fields with.
    """
    errors = []
    dry_run = request.query.getall("dryRun", [])
    problem = _dry_run_problem(dry_run)
    if problem:
        errors.append(problem)
    manager = request.query.get("fieldManager", "")
    if len(manager) > 128:
        errors.append(
            FieldError("fieldManager", "FieldValueTooLong", "Too long: may not be more than 128 bytes")
        )
    elif not manager.isprintable():
        detail = f"Invalid value: {json.dumps(manager)}: must only contain printable characters"
        errors.append(FieldError("fieldManager", "FieldValueInvalid", detail))
    validation = request.query.get("fieldValidation", "")
    if validation not in _FIELD_VALIDATION:
        errors.append(_unsupported("fieldValidation", json.dumps(validation), _FIELD_VALIDATION))
    if errors:
        raise _options_invalid(kind, errors)
    return bool(dry_run)


async def _delete_options(request: web.Request) -> JsonObj:
    """DeleteOptions from the body when there is one, else from the query (as a real API server reads them),
    checked as it checks them."""
    body = await _read_json(request, optional=True)
    if body is not None and not isinstance(body, dict):
        raise ApiError.bad_request("the body of a delete must be a DeleteOptions object")
    options: JsonObj = dict(body or {})
    if body is None:
        query = request.query
        if query.getall("dryRun", []):
            options["dryRun"] = query.getall("dryRun")
        if query.get("propagationPolicy"):
            options["propagationPolicy"] = query["propagationPolicy"]
        grace = _query_int(request, "gracePeriodSeconds")
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        if query.get("orphanDependents"):
            options["orphanDependents"] = _query_bool(request, "orphanDependents")
    dry_run = options.get("dryRun") or []
    if not isinstance(dry_run, list) or not all(isinstance(v, str) for v in dry_run):
        raise ApiError.bad_request("dryRun must be a list of strings")
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise ApiError.bad_request("gracePeriodSeconds must be an integer")
    errors = []
    problem = _dry_run_problem(dry_run)
    if problem:
        errors.append(problem)
    policy = options.get("propagationPolicy")
    if policy is not None and policy not in _PROPAGATION_POLICIES:
        errors.append(_unsupported("propagationPolicy", json.dumps(policy), (*_PROPAGATION_POLICIES, "nil")))
    elif policy is not None and options.get("orphanDependents") is not None:
        detail = f"Invalid value: {json.dumps(policy)}: orphanDependents and deletionPropagation cannot be both set"
        errors.append(FieldError("propagationPolicy", "FieldValueInvalid", detail))
    if errors:
        raise _options_invalid("DeleteOptions", errors)
    return options


ACCESS_REVIEWS = ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"]
_PROXIED_HEADERS = frozenset({"accept", "content-type", "content-encoding", "accept-encoding", "user-agent"})


def _proxy_target(service: str) -> tuple[str, str, str]:
    """Scheme, name and port of a proxy path's ``[scheme:]name[:port]``."""
    scheme = "http"
    for prefix in ("https", "http"):
        if service.startswith(prefix + ":"):
            scheme, service = prefix, service[len(prefix) + 1 :]
            break
    name, _, port = service.partition(":")
    return scheme, name, port


class Handler:
    """Turns HTTP requests into store calls, and store results and errors into Kubernetes responses."""

    def __init__(self, store: Store, requests: RequestLog) -> None:
        self._store = store
        self._requests = requests

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        try:
            if parts[:1] == [CONTROL_PREFIX]:
                # Not logged: a test reading the log would otherwise see its own reads in it.
                return self._control(request, parts[1:])
            self._requests.record(request.method, request.raw_path)
            document = discovery_document(parts, request.host)
            if document is not None:
                if request.method not in ("GET", "HEAD"):
                    raise _method_not_allowed()
                if isinstance(document, str):
                    return web.Response(text=document)
                return _json(document)
            if parts == ACCESS_REVIEWS and request.method == "POST":
                return await self._access_review(request)
            if (
                len(parts) >= 7
                and parts[:3] == ["api", "v1", "namespaces"]
                and parts[4:7:2] == ["services", "proxy"]
            ):
                return await self._proxy(request, parts[3], parts[5], parts[7:])
            target = parse_target(parts)
            if target is None:
                raise _not_found_path()
            if target.name is None:
                return await self._collection(request, target)
            return await self._item(request, target)
        except ApiError as err:
            return _json(err.status(), err.code)
        except Exception as exc:  # a bug here; answer like an API server would rather than with HTML
            logger.exception("dev cluster failed on %s %s", request.method, request.path_qs)
            return _json(ApiError(500, "InternalError", f"Internal error occurred: {exc}").status(), 500)

    def _control(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        """/_devcluster/requests?since=N: the logged requests with index N or later."""
        if parts != ["requests"]:
            raise _not_found_path()
        if request.method not in ("GET", "HEAD"):
            raise _method_not_allowed()
        since = _query_int(request, "since") or 0
        entries = [entry.to_json() for entry in self._requests.since(since)]
        return _json({"requests": entries, "next": self._requests.next_index})

    async def _access_review(self, request: web.Request) -> web.StreamResponse:
        """The dev cluster has no RBAC: every SubjectAccessReview is allowed."""
        review = await _read_json(request)
        if not isinstance(review, dict):
            raise ApiError.bad_request("a SubjectAccessReview must be an object")
        status = {"allowed": True, "reason": "the dev cluster has no RBAC: everything is allowed"}
        return _json({**review, "status": status}, 201)

    async def _proxy(
        self, request: web.Request, namespace: str, service: str, rest: list[str]
    ) -> web.StreamResponse:
        """The service proxy. Every Service here is on loopback: ``[scheme:]name[:port]`` is sent to
        ``127.0.0.1:<port>`` (the named port, else the Service's first port), the answer streamed back."""
        scheme, name, port = _proxy_target(service)
        obj = self._store.get(SERVICES, namespace, name)
        ports = (obj.get("spec") or {}).get("ports") or []
        if not port:
            port = str(ports[0].get("port") or "") if ports else ""
        elif not port.isdigit():  # a named port: that port of the Service
            port = next((str(p.get("port") or "") for p in ports if p.get("name") == port), "")
        if not port.isdigit():
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
        # The path after proxy/ as sent (a trailing slash counts).
        tail = request.raw_path.split("?", 1)[0].split("/proxy", 1)[1].lstrip("/") if rest else ""
        url = f"{scheme}://127.0.0.1:{port}/{tail}"
        if request.query_string:
            url += "?" + request.query_string
        headers = {k: v for k, v in request.headers.items() if k.lower() in _PROXIED_HEADERS}
        body = await request.read()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    request.method, url, headers=headers, data=body or None, allow_redirects=False
                ) as answer,
            ):
                response = web.StreamResponse(
                    status=answer.status,
                    headers={k: v for k, v in answer.headers.items() if k.lower() in _PROXIED_HEADERS},
                )
                await response.prepare(request)
                async for chunk in answer.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, OSError) as exc:
            raise ApiError(
                503, "ServiceUnavailable", f"error trying to reach service: {type(exc).__name__}: {exc}"
            ) from exc

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
            dry_run = _write_options(request, "CreateOptions")
            body = await _read_json(request)
            return _json(self._store.create(rtype, namespace, body, dry_run=dry_run), 201)
        raise _method_not_allowed()

    async def _item(self, request: web.Request, target: Target) -> web.StreamResponse:
        rtype, namespace, name, sub = target.rtype, target.namespace, target.name or "", target.subresource
        if request.method == "GET":
            return _json(self._store.get(rtype, namespace, name))
        if request.method == "PUT":
            dry_run = _write_options(request, "UpdateOptions")
            body = await _read_json(request)
            return _json(self._store.replace(rtype, namespace, name, body, sub, dry_run=dry_run))
        if request.method == "PATCH":
            patch_type = _PATCH_TYPES.get(request.content_type)
            if request.content_type == _APPLY_PATCH:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "server-side apply (application/apply-patch+yaml) is not supported by the dev cluster: it "
                    "keeps no field managers (managedFields), without which an apply cannot be merged faithfully; "
                    "use a merge or JSON patch, or a real cluster",
                )
            if patch_type is None:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(_PATCH_TYPES)}",
                )
            dry_run = _write_options(request, "PatchOptions")
            body = await _read_json(request)
            return _json(self._store.patch(rtype, namespace, name, patch_type, body, sub, dry_run=dry_run))
        if request.method == "DELETE" and sub is None:
            options = await _delete_options(request)
            preconditions = options.get("preconditions")
            dry_run = bool(options.get("dryRun"))
            result = self._store.delete(rtype, namespace, name, preconditions, dry_run=dry_run)
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


def build_app(store: Store, requests: RequestLog | None = None) -> web.Application:
    """The aiohttp application serving `store` as a Kubernetes API, logging requests to `requests`."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    handler = Handler(store, requests if requests is not None else RequestLog())
    app.router.add_route("*", "/{path:.*}", handler.dispatch)
    return app
