"""Notice Ray resources deleted outside the API (kubectl, the operator, TTLs) and close their history rows.

Deletions through the API are recorded by the lifecycle runner; this covers the rest while the service runs (the
reconciler covers what happened while it did not). One list + watch per kind, resumed from the last
resourceVersion (bookmarks keep it fresh), relisted when Kubernetes says it is too old (410 Gone).
Every replica may run it: ``Records.mark_gone`` closes a row and audits it once.
"""

from __future__ import annotations

import asyncio
import logging

from service.db.records import Records
from service.errors import ApiError
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeError, KubeGoneError
from service.vocabulary import RAY_CLUSTERS, RAY_JOBS, RAY_SERVICES, Kind, Resource

log = logging.getLogger("kuberay_apiserver.watcher")

WATCHED = ((RAY_CLUSTERS, Resource.CLUSTERS), (RAY_JOBS, Resource.JOBS), (RAY_SERVICES, Resource.SERVICES))

# An API deletion is announced (a PENDING row) before Kubernetes is asked, so the watcher skips it either way;
# the short wait only saves a write in the common case where the request settles first.
GRACE_SECONDS = 1.0
MAX_BACKOFF = 30.0


async def _close_later(records: Records, resource: Resource, obj: Obj, grace: float) -> None:
    await asyncio.sleep(grace)
    metadata = obj.get("metadata") or {}
    where = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    try:
        closed = await records.mark_gone(
            resource,
            str(metadata.get("namespace") or ""),
            str(metadata.get("name") or ""),
            uid=str(metadata.get("uid") or ""),
            status=obj.get("status"),
        )
    except ApiError as exc:
        log.warning("could not record the deletion of %s %s: %s", resource, where, exc.message)
        return
    if closed:
        log.info(
            "recorded a deletion made outside the API", extra={"resource": str(resource), "object": where}
        )


async def watch_deletions(
    kube: KubeClient, records: Records, kind: Kind, resource: Resource, grace: float = GRACE_SECONDS
) -> None:
    """Run until cancelled, resuming the watch after errors with a capped backoff."""
    backoff = 1.0
    version = ""
    pending: set[asyncio.Task[None]] = set()
    try:
        while True:
            try:
                if not version:
                    listed = await kube.list(kind, None, limit=1)
                    version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
                started = asyncio.get_running_loop().time()
                async for event in kube.watch(kind, resource_version=version):
                    backoff = 1.0
                    version = str((event.object.get("metadata") or {}).get("resourceVersion") or version)
                    if event.type == "DELETED":
                        task = asyncio.create_task(_close_later(records, resource, event.object, grace))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                if asyncio.get_running_loop().time() - started > 1.0:
                    continue  # the server ended a long watch, as it does: resume at once from the last version
            except KubeGoneError:
                log.info("the watch of %s is too old; starting from a fresh list", kind.plural)
                version = ""
                continue
            except (KubeError, ApiError) as exc:
                log.warning("watch of %s interrupted: %s", kind.plural, getattr(exc, "message", exc))
            except Exception:
                log.exception("watch of %s failed", kind.plural)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
    finally:
        for task in pending:
            task.cancel()


def start_watchers(kube: KubeClient, records: Records) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(watch_deletions(kube, records, kind, resource), name=f"watch-{kind.plural}")
        for kind, resource in WATCHED
    ]
