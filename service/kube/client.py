"""The one place that talks to the Kubernetes API.

Configuration (kubeconfig, in-cluster, credentials) comes from kubernetes_asyncio; requests go over one aiohttp
session that this module owns, with paths built from quoted segments that are checked first, so no name can
change which object a call reaches. Objects stay plain dicts, encoded and decoded with msgspec. Every call is
bounded by its timeout *including* the wait for a concurrency slot, and by the request deadline.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import msgspec
from kubernetes_asyncio import client, config
from multidict import CIMultiDict

from service import deadline
from service.identity import acting_as
from service.kube.errors import KubeError, KubeInvalidError, KubeUnavailableError
from service.metrics import KUBE_ERRORS
from service.names import is_safe_segment
from service.vocabulary import CORE_SERVICES, Kind

Obj = dict[str, Any]

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


async def load_configuration(kubeconfig: str = "", host: str = "") -> client.Configuration:
    """A client configuration for ``host`` (dev cluster), a kubeconfig file, ``KUBECONFIG`` or in-cluster."""
    cfg = client.Configuration()
    if host:
        cfg.host = host
        return cfg
    path = kubeconfig or os.environ.get("KUBECONFIG", "")
    if path:
        await config.load_kube_config(config_file=path, client_configuration=cfg)
        return cfg
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        return cfg
    default = Path.home() / ".kube" / "config"
    if default.exists():
        await config.load_kube_config(config_file=str(default), client_configuration=cfg)
        return cfg
    raise RuntimeError("no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or use --dev-cluster")


def _ssl_context(cfg: client.Configuration) -> ssl.SSLContext | None:
    if not str(cfg.host or "").startswith("https"):
        return None
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, keyfile=cfg.key_file)
    if not cfg.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ObjectKey(msgspec.Struct, frozen=True):
    """Which object: all a caller needs to tell whether it still exists."""

    namespace: str = ""
    name: str = ""
    uid: str = ""


class _Keyed(msgspec.Struct, frozen=True):
    metadata: ObjectKey = ObjectKey()


class _PageMeta(msgspec.Struct, frozen=True):
    continue_: str = msgspec.field(name="continue", default="")


class _KeyPage(msgspec.Struct, frozen=True):
    """A list page decoded into object keys only: the rest of each object is skipped, never built."""

    items: list[_Keyed] = []
    metadata: _PageMeta = _PageMeta()


KEY_PAGE = 500
_key_page_decoder = msgspec.json.Decoder(_KeyPage)


class WatchEvent(msgspec.Struct, frozen=True):
    type: str
    object: Obj


class KubeClient:
    """The Kubernetes calls the service makes, on any kind named by the vocabulary."""

    def __init__(
        self, configuration: client.Configuration, timeout: float = 15.0, concurrency: int = 32
    ) -> None:
        self._cfg = configuration
        self._host = str(configuration.host or "").rstrip("/")
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._ssl = _ssl_context(configuration)
        self._session_obj: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._session_obj is None:
            # trust_env off: no proxy variables or ~/.netrc read per request; a kubeconfig proxy-url still applies.
            connector = aiohttp.TCPConnector(limit=0, ssl=self._ssl if self._ssl is not None else False)
            self._session_obj = aiohttp.ClientSession(
                connector=connector, trust_env=False, read_bufsize=2**21
            )
        return self._session_obj

    async def close(self) -> None:
        if self._session_obj is not None:
            await self._session_obj.close()

    # -- transport --------------------------------------------------------------------------------------------

    def _url(self, segments: list[str], query: Mapping[str, Any] | None) -> str:
        for segment in segments:
            if not is_safe_segment(segment):
                raise KubeInvalidError(
                    0, "BadRequest", f"refusing an unsafe name in a Kubernetes path: {segment!r}"
                )
        path = "/".join(quote(segment, safe="") for segment in segments)
        url = f"{self._host}/{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v not in ("", None, 0)})
        return url

    async def _headers(self, content_type: str | None) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict(Accept=JSON)
        if content_type:
            headers["Content-Type"] = content_type
        for setting in (await self._cfg.auth_settings()).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        caller = acting_as()
        if caller is not None:
            # The cluster authorizes the call as the caller (the service account only needs `impersonate`).
            headers["Impersonate-User"] = caller.user
            for group in caller.groups:
                headers.add("Impersonate-Group", group)
        return headers

    async def _request(
        self,
        verb: str,
        kind: Kind,
        namespace: str | None,
        method: str,
        segments: list[str],
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Obj:
        """One call; its JSON answer, or a ``KubeError`` naming what was attempted."""
        _, result = await self._exchange(
            verb, kind, namespace, method, segments, query=query, body=body, content_type=content_type
        )
        if not isinstance(result, dict):
            raise KubeUnavailableError(
                0, "BadResponse", "the Kubernetes API answered something not an object"
            )
        return result

    async def _exchange(
        self,
        verb: str,
        kind: Kind,
        namespace: str | None,
        method: str,
        segments: list[str],
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        decoder: msgspec.json.Decoder[Any] = _decoder,
    ) -> tuple[int, Any]:
        """One call; its HTTP status and JSON answer (as ``decoder`` reads it), or a ``KubeError`` naming what
        was attempted."""
        operation = f"{verb}_{kind.plural}"
        try:
            url = self._url(segments, query)
            data = _encoder.encode(body) if body is not None else None
            limit = deadline.budget(self._timeout)
            try:
                async with asyncio.timeout(limit), self._limit:
                    headers = await self._headers(content_type or (JSON if data is not None else None))
                    async with self._session().request(
                        method, url, data=data, headers=headers, proxy=self._cfg.proxy or None
                    ) as response:
                        raw = await response.read()
                        status = response.status
            except TimeoutError:
                raise KubeUnavailableError(
                    0, "Timeout", f"the Kubernetes API did not answer within {limit:g}s", outcome_unknown=True
                ) from None
            except aiohttp.ClientConnectorError:
                raise KubeUnavailableError(0, "Unreachable", "the Kubernetes API is unreachable") from None
            except (aiohttp.ClientError, OSError):
                # The request may have been sent before the connection broke.
                raise KubeUnavailableError(
                    0, "Disconnected", "the connection to the Kubernetes API broke", outcome_unknown=True
                ) from None
            if not 200 <= status <= 299:
                raise KubeError.from_response(status, raw)
            try:
                result = decoder.decode(raw) if raw else {}
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise KubeUnavailableError(
                    status, "BadResponse", "the Kubernetes API sent malformed JSON"
                ) from None
            return status, result
        except KubeError as exc:
            exc.verb, exc.resource, exc.namespace = verb, kind.plural, namespace or ""
            KUBE_ERRORS.labels(operation=operation, reason=exc.reason or str(exc.status)).inc()
            raise

    async def proxy(
        self,
        namespace: str,
        service: str,
        path: str,
        method: str,
        body: bytes | None,
        limit: float,
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """One HTTP call to a Service through the Kubernetes API's service proxy, as the caller; the status and
        body as the proxied server answered. ``service`` is ``name:port-name``; ``path`` starts with ``/``.

        Connection failures raise ``KubeUnavailableError``; any answer (also a non-2xx one) is returned.
        """
        url = self._url([*CORE_SERVICES.path(namespace), service, "proxy"], None) + path
        try:
            async with asyncio.timeout(limit), self._limit:
                headers = await self._headers(JSON if body is not None else None)
                headers.update(extra_headers or {})
                async with self._session().request(
                    method, url, data=body, headers=headers, proxy=self._cfg.proxy or None
                ) as response:
                    return response.status, await response.read()
        except TimeoutError:
            raise KubeUnavailableError(
                0,
                "Timeout",
                f"no answer through the Kubernetes API within {limit:g}s",
                outcome_unknown=True,
            ) from None
        except (aiohttp.ClientError, OSError):
            raise KubeUnavailableError(0, "Unreachable", "the Kubernetes API is unreachable") from None

    # -- objects ----------------------------------------------------------------------------------------------

    async def version(self) -> Obj:
        probe = Kind("", "", "version", "Version", namespaced=False)
        return await self._request("get", probe, None, "GET", ["version"])

    async def get(self, kind: Kind, namespace: str, name: str, *, subresource: str = "") -> Obj:
        return await self._request(
            "get", kind, namespace, "GET", _object_path(kind, namespace, name, subresource)
        )

    async def list(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
    ) -> Obj:
        """One page of a list (all namespaces when ``namespace`` is None); keeps ``items`` and ``metadata``."""
        query = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit if limit > 0 else 0,
            "continue": continue_token,
            "resourceVersion": resource_version,
        }
        return await self._request("list", kind, namespace, "GET", kind.path(namespace), query=query)

    async def keys(
        self, kind: Kind, namespace: str | None, *, label_selector: str = ""
    ) -> builtins.list[ObjectKey]:
        """Namespace, name and uid of every object of ``kind``, read a page at a time and decoded into just
        that: however many objects there are, only one page of raw JSON is held, and nothing else is built."""
        found: builtins.list[ObjectKey] = []
        token = ""
        while True:
            query = {"labelSelector": label_selector, "limit": KEY_PAGE, "continue": token}
            _, page = await self._exchange(
                "list", kind, namespace, "GET", kind.path(namespace), query=query, decoder=_key_page_decoder
            )
            found.extend(item.metadata for item in page.items)
            token = page.metadata.continue_
            if not token:
                return found

    async def create(
        self, kind: Kind, namespace: str | None, body: Obj, *, query: Mapping[str, str] | None = None
    ) -> Obj:
        """Create an object (``namespace`` None for a cluster-scoped kind such as a TokenReview); ``query``: write
        options Kubernetes takes as they are (``dryRun``, ``fieldManager``, ``fieldValidation``)."""
        return await self._request(
            "create", kind, namespace, "POST", kind.path(namespace), body=body, query=query
        )

    async def replace(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str = "",
        query: Mapping[str, str] | None = None,
    ) -> Obj:
        """Full replace (of ``subresource`` if given, e.g. ``status``); Kubernetes refuses it with 409 when
        ``metadata.resourceVersion`` is stale."""
        return await self._request(
            "update",
            kind,
            namespace,
            "PUT",
            _object_path(kind, namespace, name, subresource),
            body=body,
            query=query,
        )

    async def patch(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        patch: Any,
        patch_type: str = MERGE_PATCH,
        *,
        subresource: str = "",
        query: Mapping[str, str] | None = None,
    ) -> tuple[Obj, bool]:
        """A PATCH as Kubernetes applies it; the object and whether the patch created it (server-side apply
        creates a missing object, answering 201)."""
        status, result = await self._exchange(
            "patch",
            kind,
            namespace,
            "PATCH",
            _object_path(kind, namespace, name, subresource),
            body=patch,
            content_type=patch_type,
            query=query,
        )
        return result, status == 201

    async def delete(
        self, kind: Kind, namespace: str, name: str, *, uid: str = "", options: Obj | None = None
    ) -> Obj:
        """Delete one object; with ``uid``, only that very object (not a newer one of the same name). ``options``:
        a DeleteOptions body (propagationPolicy, gracePeriodSeconds, preconditions, dryRun), sent with the uid
        precondition added."""
        body: Obj | None = dict(options) if options else None
        if uid:
            body = body or {}
            body["preconditions"] = {**(body.get("preconditions") or {}), "uid": uid}
        if body is not None:
            body = {**body, "kind": "DeleteOptions", "apiVersion": "v1"}
        return await self._request(
            "delete", kind, namespace, "DELETE", [*kind.path(namespace), name], body=body
        )

    async def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        timeout_seconds: int = 300,
        label_selector: str = "",
        field_selector: str = "",
        on_open: Callable[[], None] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Change events of ``kind`` until the server ends the watch; bookmarks carry the newest resourceVersion.

        ``on_open`` is called once the server has accepted the watch.

        An ``ERROR`` event (for example 410 Gone: the resourceVersion is too old) is raised as a ``KubeError``.
        """
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
        }
        url = self._url(kind.path(namespace), query)
        operation = f"watch_{kind.plural}"
        try:
            headers = await self._headers(None)
            timeout = aiohttp.ClientTimeout(total=timeout_seconds + self._timeout, sock_connect=self._timeout)
            async with self._session().get(
                url, headers=headers, timeout=timeout, proxy=self._cfg.proxy or None
            ) as r:
                if r.status != 200:
                    raise KubeError.from_response(r.status, await r.read())
                if on_open is not None:
                    on_open()
                async for line in r.content:
                    if not line.strip():
                        continue
                    event = msgspec.json.decode(line, type=WatchEvent)
                    if event.type == "ERROR":
                        code = int(event.object.get("code") or 500)
                        raise KubeError.from_response(code, msgspec.json.encode(event.object))
                    yield event
        except KubeError as exc:
            KUBE_ERRORS.labels(operation=operation, reason=exc.reason or str(exc.status)).inc()
            raise
        except (TimeoutError, aiohttp.ClientError, OSError, msgspec.DecodeError) as exc:
            KUBE_ERRORS.labels(operation=operation, reason="Interrupted").inc()
            raise KubeUnavailableError(
                0, "Interrupted", f"the watch of {kind.plural} broke: {type(exc).__name__}"
            ) from None


def _object_path(kind: Kind, namespace: str, name: str, subresource: str) -> list[str]:
    return [*kind.path(namespace), name, *([subresource] if subresource else [])]


async def open_watch(
    kube: KubeClient, kind: Kind, namespace: str | None, query: Mapping[str, Any]
) -> AsyncIterator[bytes]:
    """A watch of ``kind`` as Kubernetes streams it, one JSON event per line, passed on as it arrives.

    The answer's status is checked before this returns (a refusal raises ``KubeError``); the lines then flow until
    Kubernetes ends the watch (``timeoutSeconds``) or the caller stops reading. Runs as the caller, like any call.
    """
    url = kube._url(kind.path(namespace), {**query, "watch": "true"})
    try:
        headers = await kube._headers(None)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=kube._timeout)
        response = await kube._session().get(
            url, headers=headers, timeout=timeout, proxy=kube._cfg.proxy or None
        )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise KubeUnavailableError(
            0, "ServiceUnavailable", f"the watch of {kind.plural} failed: {type(exc).__name__}"
        ) from None
    if response.status != 200:
        body = await response.read()
        response.release()
        raise KubeError.from_response(response.status, body)
    return _watch_lines(response)


async def _watch_lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for line in response.content:
            if line.strip():
                yield line
    except (TimeoutError, aiohttp.ClientError, OSError):
        return
    finally:
        response.close()


async def get_document(kube: KubeClient, segments: list[str]) -> Obj:
    """A discovery or OpenAPI document of the Kubernetes API (``segments`` of its path), read as the caller."""
    url = kube._url(segments, None)
    try:
        headers = await kube._headers(None)
        timeout = aiohttp.ClientTimeout(total=kube._timeout)
        async with kube._session().get(
            url, headers=headers, timeout=timeout, proxy=kube._cfg.proxy or None
        ) as r:
            body = await r.read()
            if r.status != 200:
                raise KubeError.from_response(r.status, body)
            document: Obj = msgspec.json.decode(body)
            return document
    except (TimeoutError, aiohttp.ClientError, OSError, msgspec.DecodeError) as exc:
        raise KubeUnavailableError(
            0, "ServiceUnavailable", f"discovery failed: {type(exc).__name__}"
        ) from None


class Proxied(msgspec.Struct, frozen=True):
    """An answer coming through Kubernetes' service proxy: status, headers worth passing on, and the body as it
    arrives (read it to the end, or close it)."""

    status: int
    headers: dict[str, str]
    body: AsyncIterator[bytes]


# Headers of the caller's request that reach the proxied service, and of its answer that reach the caller.
# Never the caller's credentials to this service. Kubernetes' proxy drops ``Authorization`` (the API's own), so a Ray
# dashboard with token authentication takes its token as ``X-Ray-Authorization``, which passes.
PROXIED_REQUEST_HEADERS = (
    "accept",
    "content-type",
    "accept-encoding",
    "user-agent",
    "x-request-id",
    "x-ray-authorization",
)
PROXIED_ANSWER_HEADERS = (
    "content-type",
    "content-encoding",
    "cache-control",
    "location",
    "etag",
    "last-modified",
)


async def open_service_proxy(
    kube: KubeClient,
    method: str,
    namespace: str,
    service: str,
    rest: list[str],
    query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> Proxied:
    """A request to ``service`` through Kubernetes' own service proxy, as the caller; the answer is streamed.

    ``rest`` is the path after ``proxy/`` in segments (each one checked and quoted like any other); ``query`` the
    raw query string. Any answer of the proxied service, errors included, comes back as it is.
    """
    base = kube._url(["api", "v1", "namespaces", namespace, "services", service, "proxy"], None)
    url = base + "/" + "/".join(quote(segment, safe="") for segment in rest) if rest else base
    for segment in rest:
        if segment in (".", "..") or "\x00" in segment:
            raise KubeInvalidError(
                400, "BadRequest", f"refusing an unsafe segment in a proxied path: {segment!r}"
            )
    if query:
        url += "?" + query
    sent = await kube._headers(None)
    del sent["Accept"]
    for name in PROXIED_REQUEST_HEADERS:
        if name in headers:
            sent[name] = headers[name]
    try:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=kube._timeout)
        response = await kube._session().request(
            method,
            url,
            headers=sent,
            data=body or None,
            timeout=timeout,
            proxy=kube._cfg.proxy or None,
            allow_redirects=False,
            auto_decompress=False,
        )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise KubeUnavailableError(
            0, "ServiceUnavailable", f"the service proxy failed: {type(exc).__name__}"
        ) from None
    kept = {name: response.headers[name] for name in PROXIED_ANSWER_HEADERS if name in response.headers}
    return Proxied(status=response.status, headers=kept, body=_proxied_chunks(response))


async def _proxied_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except (TimeoutError, aiohttp.ClientError, OSError):
        return
    finally:
        response.close()
