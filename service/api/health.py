"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get

from service.errors import ApiError
from service.kube.errors import KubeError


@get("/healthz", operation_id="Healthz", tags=["Health"], include_in_schema=False)
async def healthz() -> Response[str]:
    """200 while the process serves requests."""
    return Response("ok", media_type="text/plain")


@get("/readyz", operation_id="Readyz", tags=["Health"], include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """200 when both the database and the Kubernetes API answer; 503 naming the one that does not."""
    state = request.app.state
    checks: dict[str, str] = {}

    async def database() -> None:
        await state.records.ping()

    async def kubernetes() -> None:
        await state.kube.version()

    for name, check in (("database", database), ("kubernetes", kubernetes)):
        try:
            async with asyncio.timeout(state.settings.kube_timeout):
                await check()
            checks[name] = "ok"
        except (ApiError, KubeError, TimeoutError, OSError) as exc:
            checks[name] = f"unavailable: {getattr(exc, 'message', '') or type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return Response(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


ROUTES = [healthz, readyz]
