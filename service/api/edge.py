"""What every routed HTTP request goes through: a request id, the cross-site check, the deadline, metrics and
one access-log line. Registered as Litestar middleware, so any way of serving ``create_app`` gets it.

Requests that match no route never reach route middleware; the not-found handlers in ``errors`` count and log
those, and the ``before_send`` hook here gives every response its request id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.api.kube_native.status import is_kube_native
from service.deadline import request_deadline
from service.errors import Code
from service.managers.native import WATCH_DEFAULT_SECONDS, WATCH_MAX_SECONDS
from service.metrics import LATENCY, REQUESTS

log = logging.getLogger("kuberay_apiserver.access")

REQUEST_ID_HEADER = b"x-request-id"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The request deadline fires first (every dependency call is bounded by it and answers with its own error);
# this grace only lets those answers out before the last-resort cut.
_GRACE = 1.0


def request_id_of(scope: Scope) -> str:
    """The request's id: the client's ``X-Request-Id`` (cut to 64 characters) or a new one, kept in the scope."""
    existing = scope.get("request_id")
    if isinstance(existing, str):
        return existing
    given = ""
    for key, value in scope.get("headers") or []:
        if key == REQUEST_ID_HEADER:
            given = value.decode("latin-1")[:64]
    request_id = given if given.isprintable() and given else uuid.uuid4().hex
    scope["request_id"] = request_id  # type: ignore[typeddict-unknown-key]
    return request_id


def operation_of(scope: Scope) -> str:
    handler = scope.get("route_handler")
    return str((getattr(handler, "opt", None) or {}).get("rpc") or "unmatched")


def observe(scope: Scope, status: int, started: float) -> None:
    """Count the request and write its access-log line."""
    operation = operation_of(scope)
    elapsed = time.perf_counter() - started
    REQUESTS.labels(operation=operation, protocol="http", code=str(status)).inc()
    LATENCY.labels(operation=operation, protocol="http").observe(elapsed)
    log.info(
        "request",
        extra={
            "method": scope.get("method", ""),
            "path": scope.get("path", ""),
            "status": status,
            "operation": operation,
            "duration_ms": round(elapsed * 1000, 2),
            "request_id": request_id_of(scope),
        },
    )


async def add_request_id(message: Message, scope: Scope) -> None:
    """``before_send`` hook: every HTTP response carries the request's id."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers") or [])
        if not any(key.lower() == REQUEST_ID_HEADER for key, _ in headers):
            headers.append((REQUEST_ID_HEADER, request_id_of(scope).encode()))
            message["headers"] = headers


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


def cross_site_refusal(scope: Scope, allowed_origins: frozenset[str]) -> str | None:
    """Why a state-changing request must be refused as cross-site, or None.

    Browsers mark what a page on another site sends (``Origin``, ``Sec-Fetch-Site``); plain clients (curl, SDKs)
    send neither and pass. The service's own pages (same origin) and configured CORS origins pass too.
    """
    if scope.get("method") not in _UNSAFE:
        return None
    origin = _header(scope, b"origin")
    if origin is not None and origin != "null":
        if "*" in allowed_origins or origin in allowed_origins:
            return None
        host = _header(scope, b"host") or ""
        if origin.split("://", 1)[-1] == host:
            return None
        return f"cross-site request from {origin} refused: it is not an allowed CORS origin"
    if origin == "null" or _header(scope, b"sec-fetch-site") == "cross-site":
        return "cross-site request refused: browsers may only send changes from an allowed CORS origin"
    return None


async def send_json(
    send: Send, status: int, body: dict[str, Any], extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    start: Any = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *(extra_headers or []),
        ],
    }
    await send(start)
    end: Any = {"type": "http.response.body", "body": payload}
    await send(end)


def watch_bound(scope: Scope) -> float:
    """A watch of the Kubernetes-native routes lives as long as it asks (``timeoutSeconds``, Kubernetes' bounds),
    not the request deadline; 0 for any other request."""
    if not is_kube_native(str(scope.get("path", ""))):
        return 0
    query = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
    if (query.get("watch") or [""])[0].lower() not in ("true", "1"):
        return 0
    try:
        asked = int((query.get("timeoutSeconds") or [str(WATCH_DEFAULT_SECONDS)])[0])
    except ValueError:
        return 0
    return float(max(1, min(asked, WATCH_MAX_SECONDS)) + 5)


def follow_bound(scope: Scope, follow_seconds: float) -> float:
    """A followed job log (``.../jobsubmissions/<cluster>/log/<id>?follow=true``) streams for up to
    ``follow_seconds`` (the stream ends itself then), not the request deadline; 0 for any other request."""
    if not follow_seconds or "/jobsubmissions/" not in str(scope.get("path", "")):
        return 0
    query = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
    if (query.get("follow") or [""])[0].lower() not in ("true", "1", "t"):
        return 0
    return follow_seconds + 30


class EdgeMiddleware(ASGIMiddleware):
    """Request id, cross-site refusal, request deadline, metrics and access log for every routed request."""

    def __init__(
        self, request_timeout: float, allowed_origins: frozenset[str], follow_seconds: float = 0
    ) -> None:
        self.request_timeout = request_timeout
        self.allowed_origins = allowed_origins
        self.follow_seconds = follow_seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != ScopeType.HTTP:
            await next_app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = cross_site_refusal(scope, self.allowed_origins)
            if refusal is not None:
                await send_json(send_wrapper, 403, {"code": int(Code.PERMISSION_DENIED), "message": refusal})
                return
            limit = watch_bound(scope) or follow_bound(scope, self.follow_seconds) or self.request_timeout
            try:
                with request_deadline(limit):
                    async with asyncio.timeout(limit + _GRACE):
                        await next_app(scope, receive, send_wrapper)
            except TimeoutError:
                if status == 0:
                    message = f"the request did not finish within {limit:g}s"
                    await send_json(
                        send_wrapper, 504, {"code": int(Code.DEADLINE_EXCEEDED), "message": message}
                    )
        finally:
            if scope.get("path") != "/metrics":
                observe(scope, status, started)
            structlog.contextvars.unbind_contextvars("request_id")
