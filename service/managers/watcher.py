"""Record Ray resources deleted outside the API (kubectl, the operator, TTLs): close their history rows.

Deletions through the API are recorded by the lifecycle runner; this covers the rest while the service runs (the
reconciler covers what happened while it did not). It has no watch of its own: the read model's informers pass
it every deletion they see, and every object a relist no longer shows. Every replica may do this:
``Records.mark_gone`` closes a row and audits it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from service.db.records import Records
from service.errors import ApiError
from service.kube.client import Obj
from service.managers.live_records import LiveRecords
from service.vocabulary import Resource

log = logging.getLogger("kuberay_apiserver.watcher")

# An API deletion is announced (a PENDING row) before Kubernetes is asked, so this skips it either way; the
# short wait only saves a write in the common case where the request settles first.
GRACE_SECONDS = 1.0


class DeletionRecorder:
    def __init__(self, records: Records, live: LiveRecords, grace: float = GRACE_SECONDS) -> None:
        self.records = records
        self.live = live
        self.grace = grace
        self._pending: set[asyncio.Task[None]] = set()

    def for_resource(self, resource: Resource) -> Callable[[Obj], None]:
        def gone(obj: Obj) -> None:
            task = asyncio.create_task(self._close_later(resource, obj))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        return gone

    async def _close_later(self, resource: Resource, obj: Obj) -> None:
        await asyncio.sleep(self.grace)
        metadata = obj.get("metadata") or {}
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        try:
            closed = await self.records.mark_gone(
                resource, namespace, name, uid=str(metadata.get("uid") or ""), status=obj.get("status")
            )
        except ApiError as exc:
            log.warning(
                "could not record the deletion of %s %s/%s: %s", resource, namespace, name, exc.message
            )
            return
        if closed:
            self.live.drop(resource, namespace, name)
            log.info(
                "recorded a deletion made outside the API",
                extra={"resource": str(resource), "object": f"{namespace}/{name}"},
            )

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
