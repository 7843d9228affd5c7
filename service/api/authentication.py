"""Authentication of every API request, as Litestar middleware (after ``EdgeMiddleware``).

The caller's verified identity goes into the scope (for ``Caller``) and into ``service.identity`` for the rest of
the request, so every Kubernetes call the request makes runs as the caller. Health, OpenAPI and docs stay open;
``/metrics`` too unless ``metrics_public`` is off. A refused change (401) is written to the audit trail.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.api.edge import request_id_of, send_json
from service.api.kube_native.status import is_kube_native, status_body
from service.errors import ApiError, Code
from service.identity import act_as
from service.managers.authentication import Authenticator, credentials_from
from service.managers.context import Caller
from service.managers.registry import Managers

log = logging.getLogger("kuberay_apiserver.auth")

OPEN_PREFIXES = ("/healthz", "/readyz", "/schema", "/swagger-ui")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def peer_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def header_pairs(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers") or []]


class AuthenticationMiddleware(ASGIMiddleware):
    def __init__(self, metrics_public: bool) -> None:
        self.metrics_public = metrics_public

    def _open(self, path: str) -> bool:
        if path == "/metrics":
            return self.metrics_public
        return path.startswith(OPEN_PREFIXES)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != "http" or self._open(str(scope.get("path", ""))):  # type: ignore[comparison-overlap]
            await next_app(scope, receive, send)
            return
        state: Any = scope["app"].state
        authenticator: Authenticator = state.authenticator
        try:
            identity = await authenticator.authenticate(credentials_from(header_pairs(scope), peer_of(scope)))
        except ApiError as exc:
            if exc.code == Code.UNAUTHENTICATED:
                await _audit_refusal(scope, state.managers, exc)
            headers = 'Bearer realm="kuberay-apiserver"'
            await send_json(
                send,
                exc.http_status,
                status_body(exc.http_status, exc.message)
                if is_kube_native(str(scope.get("path", "")))
                else {"code": int(exc.code), "message": exc.message},
                extra_headers=[(b"www-authenticate", headers.encode())]
                if exc.code == Code.UNAUTHENTICATED
                else [],
            )
            return
        scope["identity"] = identity  # type: ignore[typeddict-unknown-key]
        with act_as(identity if identity.method != "none" else None):
            await next_app(scope, receive, send)


async def _audit_refusal(scope: Scope, managers: Managers, error: ApiError) -> None:
    """A refused change is audited (refused reads are not: an unauthenticated client could flood the trail)."""
    handler = scope.get("route_handler")
    change = (getattr(handler, "opt", None) or {}).get("change")
    if scope.get("method") not in _WRITES or change is None:
        return
    params: dict[str, Any] = dict(scope.get("path_params") or {})
    resource, action = change
    headers = dict(header_pairs(scope))
    caller = Caller(
        request_id=request_id_of(scope), source_ip=peer_of(scope), user_agent=headers.get("user-agent", "")
    )
    await managers.audit.record_refusal(
        caller, resource, action, str(params.get("namespace", "")), str(params.get("name", "")), error
    )
