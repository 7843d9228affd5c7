"""Upstream's V2 service proxy: requests to KubeRay's own Services (such as a Ray head's dashboard) through
Kubernetes' service proxy, as the caller, with the answer streamed back as it comes."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from litestar import Request, route
from litestar.response import Stream
from litestar.response.base import ASGIResponse

from service.kube.client import PROXIED_REQUEST_HEADERS
from service.managers.native import NativeManager

AnyRequest = Request[Any, Any, Any]
BASE = "/api/v1/namespaces/{namespace:str}/services/{service:str}/proxy"
METHODS: list[Any] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class ProxiedStream(Stream):
    """A streamed answer keeping the proxied service's media type (a handler's own would replace it)."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        kwargs["media_type"] = self.media_type
        response: ASGIResponse = super().to_asgi_response(*args, **kwargs)
        return response


def _rest_segments(request: AnyRequest) -> list[str]:
    """The path after ``proxy/`` as sent, in segments, a trailing slash included (the route's own parameter and
    the normalised path drop it)."""
    raw: bytes = request.scope.get("raw_path") or b""
    segments = raw.decode("latin-1").split("?", 1)[0].split("/")
    # "", "api", "v1", "namespaces", ns, "services", service, "proxy", rest...
    return [unquote(segment) for segment in segments[8:]]


async def _forward(request: AnyRequest, native: NativeManager, namespace: str, service: str) -> ProxiedStream:
    raw_query: bytes = request.scope.get("query_string") or b""
    headers = {name: request.headers[name] for name in PROXIED_REQUEST_HEADERS if name in request.headers}
    answer = await native.proxy(
        request.method,
        namespace,
        service,
        _rest_segments(request),
        raw_query.decode("latin-1"),
        headers,
        await request.body(),
    )
    media_type = answer.headers.pop("content-type", "application/octet-stream")
    return ProxiedStream(
        answer.body, status_code=answer.status, media_type=media_type, headers=answer.headers
    )


@route(BASE, http_method=METHODS, include_in_schema=False)
async def proxy_root(
    request: AnyRequest, native: NativeManager, namespace: str, service: str
) -> ProxiedStream:
    return await _forward(request, native, namespace, service)


@route(BASE + "/{rest:path}", http_method=METHODS, include_in_schema=False)
async def proxy_path(
    request: AnyRequest, native: NativeManager, namespace: str, service: str
) -> ProxiedStream:
    return await _forward(request, native, namespace, service)


ROUTES = [proxy_root, proxy_path]
