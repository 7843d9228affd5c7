"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from service.managers.health import HealthManager


@get("/healthz", operation_id="Healthz", tags=["Health"], include_in_schema=False)
async def healthz() -> Response[str]:
    """200 while the process serves requests."""
    return Response("ok", media_type="text/plain")


@get("/readyz", operation_id="Readyz", tags=["Health"], include_in_schema=False)
async def readyz(health: HealthManager) -> Response[dict[str, Any]]:
    """200 when the database takes writes and the Kubernetes API answers; 503 naming the one that does not."""
    result = await health.readiness()
    return Response(
        {"status": "ready" if result.ready else "not ready", "checks": result.checks},
        status_code=200 if result.ready else 503,
    )


ROUTES = [healthz, readyz]
