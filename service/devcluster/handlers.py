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
import yarl
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
# Kubernetes' service proxy passes every request header on but these: hop by hop, and the API's own credentials.
_UNPROXIED_REQUEST_HEADERS = frozenset(
    {
        "authorization",
        "host",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_PROXIED_ANSWER_HEADERS = frozenset(
    {"content-type", "content-encoding", "cache-control", "location", "etag", "last-modified"}
)


def _proxy_target(service: str) -> tuple[str, str, str]:
    """Scheme, name and port of a proxy path's ``[scheme:]name[:port]``."""
    scheme = "http"
    for prefix in ("https", "http"):
        if service.startswith(prefix + ":"):
            scheme, service = prefix, service[len(prefix) + 1 :]
            break
    name, _, port = service.partition(":")
    return scheme, name, port


def _service_port(obj: dict[str, Any], name: str, port: str) -> int:
    """The port a proxy path's ``port`` means, as kube-apiserver resolves it: a number is the Service port of
    that number, a name the port of that name, none the unnamed port."""
    ports = (obj.get("spec") or {}).get("ports") or []
    if port.isdigit():
        if not any(str(p.get("port")) == port for p in ports):
            raise ApiError(503, "ServiceUnavailable", f'no service port {port} found for service "{name}"')
        return int(port)
    found = next((p.get("port") for p in ports if (p.get("name") or "") == port), None)
    if not isinstance(found, int):
        raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
    return found


def _into_proxy(location: str, prefix: str, backend: str) -> str:
    """A redirect of the proxied server to one of its own paths, made to point into the proxy (as Kubernetes'
    proxy rewrites it); any other redirect is left as it is."""
    target = yarl.URL(location)
    if (target.host and target.raw_authority != backend) or not target.raw_path.startswith("/"):
        return location
    if target.raw_path.startswith(prefix):
        return str(target.relative())
    path = prefix.rstrip("/") + target.raw_path
    return str(yarl.URL.build(path=path, query_string=target.raw_query_string, encoded=True))


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
                return await self._proxy(request, parts[3], parts[5])
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

    async def _proxy(self, request: web.Request, namespace: str, service: str) -> web.StreamResponse:
        """The service proxy. Every Service here is on loopback: ``[scheme:]name[:port]`` is sent to
        ``127.0.0.1:<port>`` (that Service port), the answer streamed back; the port, the bare path's redirect, the
        headers and the redirects of the proxied server as kube-apiserver's proxy does them."""
        scheme, name, port = _proxy_target(service)
        obj = self._store.get(SERVICES, namespace, name)
        number = _service_port(obj, name, port)
        prefix = f"/api/v1/namespaces/{namespace}/services/{service}/proxy"
        # The path after proxy/, decoded and sent again as Kubernetes does (a trailing slash counts). The segments:
        # "", "api", "v1", "namespaces", ns, "services", service, "proxy", rest...
        segments = request.path.split("/")
        tail = "/" + "/".join(segments[8:]) if len(segments) > 8 else ""
        raw_query = request.rel_url.raw_query_string
        query = f"?{raw_query}" if raw_query else ""
        if not tail and request.method in ("GET", "HEAD"):
            # A bare proxy path is sent on to the same with a slash, so that relative links work.
            return web.Response(status=301, headers={"Location": f"{prefix}/{query}"})
        backend = f"127.0.0.1:{number}"
        path = yarl.URL.build(path=tail or "/").raw_path
        url = yarl.URL(f"{scheme}://{backend}{path}{query}", encoded=True)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _UNPROXIED_REQUEST_HEADERS}
        headers["X-Forwarded-Uri"] = prefix + tail
        body = await request.read()
        try:
            async with (
                aiohttp.ClientSession(auto_decompress=False) as session,
                session.request(
                    request.method, url, headers=headers, data=body or None, allow_redirects=False
                ) as answer,
            ):
                kept = {
                    k.lower(): v for k, v in answer.headers.items() if k.lower() in _PROXIED_ANSWER_HEADERS
                }
                if "location" in kept:
                    kept["location"] = _into_proxy(kept["location"], prefix, backend)
                response = web.StreamResponse(status=answer.status, headers=kept)
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
