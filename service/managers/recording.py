"""Recording failed attempts: every create, update and delete that fails leaves an audit row."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from service.db.records import Action, Records, Resource
from service.errors import ApiError
from service.managers.context import RequestContext

log = logging.getLogger("kuberay_apiserver.managers")

R = TypeVar("R")


async def recorded(
    records: Records,
    resource: Resource,
    ctx: RequestContext,
    action: Action,
    namespace: str,
    name: str,
    user: str,
    spec: dict[str, Any] | None,
    work: Callable[[], Awaitable[R]],
) -> R:
    """Run ``work``; when it raises an API error, record the failure in a transaction of its own and re-raise.

    The failure row must survive the failed request; if even that cannot be written, the log says so and the
    client still gets the original error.
    """
    try:
        return await work()
    except ApiError as exc:
        try:
            await records.failure(
                action=action,
                resource=resource,
                namespace=namespace,
                name=name,
                user=user,
                spec=spec,
                code=int(exc.code),
                message=exc.message,
                request_id=ctx.request_id,
            )
        except ApiError:
            log.exception("could not record a failed %s of %s %s/%s", action, resource, namespace, name)
        raise
