"""Notice Ray resources deleted outside the API (kubectl, the operator, TTLs) and close their history rows.

Deletions through the API are recorded by the managers; this covers the rest, so history and lists stay true.
Every replica may run it: closing a row is idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from service.db.records import Records, Resource
from service.errors import ApiError
from service.kube.client import KubeClient
from service.kube.errors import KubeError

log = logging.getLogger("kuberay_apiserver.watcher")

WATCHED = (("rayclusters", Resource.CLUSTERS), ("rayjobs", Resource.JOBS), ("rayservices", Resource.SERVICES))


async def watch_deletions(kube: KubeClient, records: Records, plural: str, resource: Resource) -> None:
    """Run until cancelled, restarting the watch after errors with a capped backoff."""
    backoff = 1.0
    while True:
        try:
            async for kind, obj in kube.watch_ray(plural):
                backoff = 1.0
                if kind != "DELETED":
                    continue
                metadata = obj.get("metadata") or {}
                closed = await records.mark_gone(
                    resource,
                    metadata.get("namespace", ""),
                    metadata.get("name", ""),
                    obj.get("status"),
                    metadata.get("uid", ""),
                )
                if closed:
                    where = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
                    log.info("recorded a deletion made outside the API", extra={"resource": plural, "object": where})
        except asyncio.CancelledError:
            raise
        except (KubeError, ApiError, OSError, ValueError) as exc:
            log.warning("watch of %s interrupted: %s", plural, exc)
        except Exception:
            log.exception("watch of %s failed", plural)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)


def start_watchers(kube: KubeClient, records: Records) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(watch_deletions(kube, records, plural, resource), name=f"watch-{plural}")
        for plural, resource in WATCHED
    ]
