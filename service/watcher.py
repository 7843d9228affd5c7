"""Notice Ray resources deleted outside the API (kubectl, the operator, TTLs) and close their history rows.

Deletions through the API are recorded by the managers; this covers the rest, so history and lists stay true.
Every replica may run it: closing a row is idempotent and audited once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from service.db.records import Records, Resource
from service.errors import ApiError
from service.kube.client import KubeClient
from service.kube.errors import KubeError

log = logging.getLogger("kuberay_apiserver.watcher")

WATCHED = (("rayclusters", Resource.CLUSTERS), ("rayjobs", Resource.JOBS), ("rayservices", Resource.SERVICES))

# A deletion made through the API is flagged on its row before Kubernetes is asked (Records.begin_delete), so
# the watcher skips it and the deletion is audited once. The short wait only saves a write in the common case.
GRACE_SECONDS = 1.0


async def _close_later(records: Records, resource: Resource, obj: dict[str, Any], grace: float) -> None:
    await asyncio.sleep(grace)
    metadata = obj.get("metadata") or {}
    where = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    try:
        closed = await records.mark_gone(
            resource,
            metadata.get("namespace", ""),
            metadata.get("name", ""),
            obj.get("status"),
            metadata.get("uid", ""),
        )
    except ApiError as exc:
        log.warning("could not record the deletion of %s %s: %s", resource, where, exc.message)
        return
    if closed:
        log.info(
            "recorded a deletion made outside the API", extra={"resource": str(resource), "object": where}
        )


async def watch_deletions(
    kube: KubeClient, records: Records, plural: str, resource: Resource, grace: float = GRACE_SECONDS
) -> None:
    """Run until cancelled, restarting the watch after errors with a capped backoff."""
    backoff = 1.0
    pending: set[asyncio.Task[None]] = set()
    try:
        while True:
            try:
                async for kind, obj in kube.watch_ray(plural):
                    backoff = 1.0
                    if kind == "DELETED":
                        task = asyncio.create_task(_close_later(records, resource, obj, grace))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
            except (KubeError, ApiError, OSError, ValueError) as exc:
                log.warning("watch of %s interrupted: %s", plural, exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watch of %s failed", plural)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
    finally:
        for task in pending:
            task.cancel()


def start_watchers(kube: KubeClient, records: Records) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(watch_deletions(kube, records, plural, resource), name=f"watch-{plural}")
        for plural, resource in WATCHED
    ]
