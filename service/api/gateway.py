"""The ASGI layer in front of Litestar.

It does what must happen before routing or around the whole request: a request id, the request deadline,
metrics and the access log by upstream operation name, and the path shapes upstream treats specially (an empty
``{name}`` through a trailing slash is a 400 from the handler's check; an empty namespace segment is a 404).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import Code, invalid_input
from service.metrics import LATENCY, REQUESTS

log = logging.getLogger("kuberay_apiserver.access")

_EMPTY_NAME = re.compile(
    r"^/apis/(?:v1|v1alpha2)/namespaces/[^/]+/(compute_templates|clusters|jobs|services)/$"
)
_NAME_EMPTY_TEXT = {
    "compute_templates": "Compute template name is empty. Please specify a valid value.",
    "clusters": "Cluster name is empty. Please specify a valid value.",
    "jobs": "job name is empty. Please specify a valid value.",
    "services": "ray service name is empty. Please specify a valid value.",
}


class Gateway:
    def __init__(self, app: ASGIApp, request_timeout: float = 60.0) -> None:
        self.app = app
        self.request_timeout = request_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]  # type: ignore[typeddict-item]
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode(errors="replace")[:64] or uuid.uuid4().hex
        scope["request_id"] = request_id  # type: ignore[typeddict-unknown-key]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            shortcut = _shortcut(method, scope["path"])
            if shortcut is not None:
                await _send_json(send_wrapper, *shortcut)
            else:
                try:
                    async with asyncio.timeout(self.request_timeout):
                        await self.app(scope, receive, send_wrapper)
                except TimeoutError:
                    # Every dependency call has its own, shorter bound; this is the last line of defence.
                    if status == 0:
                        message = f"the request did not finish within {self.request_timeout}s"
                        await _send_json(
                            send_wrapper, 504, {"code": int(Code.DEADLINE_EXCEEDED), "message": message}
                        )
        finally:
            handler = scope.get("route_handler")
            operation = str((getattr(handler, "opt", None) or {}).get("rpc") or "unmatched")
            elapsed = time.perf_counter() - started
            if scope["path"] != "/metrics":
                REQUESTS.labels(operation=operation, protocol="http", code=str(status)).inc()
                LATENCY.labels(operation=operation, protocol="http").observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "operation": operation,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _shortcut(method: str, path: str) -> tuple[int, dict[str, Any]] | None:
    if path.startswith("/apis/") and "//" in path:
        return 404, {"code": int(Code.NOT_FOUND), "message": "Not Found"}
    match = _EMPTY_NAME.match(path)
    if match and method in ("GET", "DELETE", "PUT"):
        kind = match.group(1)
        if method == "PUT" and kind != "services":
            return 405, {"code": int(Code.UNIMPLEMENTED), "message": "Method Not Allowed"}
        text = "Name is empty. Please specify a valid value." if method == "PUT" else _NAME_EMPTY_TEXT[kind]
        error = invalid_input(text)
        return 400, {"code": int(error.code), "message": error.message}
    return None


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    start: Any = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
    }
    await send(start)
    body_event: Any = {"type": "http.response.body", "body": payload}
    await send(body_event)
