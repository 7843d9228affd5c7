"""Bringing the records back to the truth in Kubernetes, at start-up and then periodically.

Two jobs:

* **Settle interrupted changes.** A PENDING audit row older than any request can live belongs to a request that
  died (the process was killed) or lost Kubernetes' answer. Kubernetes tells how it ended: a created or updated
  object carries the row's id in an annotation; a deleted one is gone (or terminating). A status write cannot
  carry the id (Kubernetes keeps only ``.status`` of it), so it is judged by what it wrote: see ``_settle_status``.
* **Close vanished resources.** A live history row whose object no longer exists was deleted while nobody watched
  (the service was down, or its watch missed it): close it and audit the deletion once.

Reads never write records; this task (and the watcher) do. Every replica may run it: settling and closing lock
their rows, so the second replica to arrive finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from service.db.models import AuditEventRow
from service.db.records import Observed, Records, utcnow
from service.errors import ApiError, Code
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeError, KubeNotFoundError
from service.managers.lifecycle import intent_of, observe
from service.managers.read_model import ReadModel
from service.vocabulary import (
    COMPUTE_TEMPLATE_SELECTOR,
    KIND_OF,
    USER_LABEL,
    Action,
    Resource,
)

log = logging.getLogger("kuberay_apiserver.reconciler")

INTERRUPTED = (
    "interrupted: the request ended before Kubernetes confirmed this change, and Kubernetes does not show it"
)


STATUS_OUTCOME_UNKNOWN = (
    "outcome unknown: the request ended before Kubernetes confirmed this status write; the object changed since, "
    "but its status is not the one written (the write may have happened and been overwritten, or not happened)"
)
STATUS_OBJECT_GONE = (
    "outcome unknown: the request ended before Kubernetes confirmed this status write, and the object is gone"
)


OUTCOME_UNKNOWN = (
    "outcome unknown: the request ended before the Ray dashboard's answer was recorded; the change may have "
    "happened (list the cluster's job submissions to see)"
)


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class Reconciler:
    def __init__(
        self, kube: KubeClient, records: Records, pending_after: float, reads: ReadModel | None = None
    ) -> None:
        self.kube = kube
        self.records = records
        self.reads = reads
        """The informers' stores: while they are watching, they tell what exists without listing Kubernetes."""
        self.pending_after = dt.timedelta(seconds=pending_after)
        """How old a PENDING row must be before it is judged: longer than any request can take."""
        self._missing: set[tuple[Resource, str, str, str]] | None = None
        """Rows whose objects the previous run did not find (None before the first run)."""
        self._seen_missing: set[tuple[Resource, str, str, str]] = set()

    async def run_once(self) -> tuple[int, int]:
        """Settle old PENDING rows and close vanished resources; returns (settled, closed)."""
        settled = await self.settle_pending()
        closed = 0
        self._seen_missing = set()
        for resource in KIND_OF:  # only resources with Kubernetes objects have history to close
            closed += await self.close_vanished(resource)
        self._missing = self._seen_missing
        return settled, closed

    async def settle_pending(self) -> int:
        settled = 0
        for row in await self.records.pending(utcnow() - self.pending_after):
            try:
                if await self._settle(row):
                    settled += 1
            except (KubeError, ApiError) as exc:
                log.warning("could not settle change %s yet: %s", row.id, getattr(exc, "message", exc))
        return settled

    async def _settle(self, row: AuditEventRow) -> bool:
        resource = Resource(row.resource)
        if resource not in KIND_OF:
            # A change sent to a Ray dashboard (job submission): nothing in Kubernetes tells how it ended, and
            # the dashboard may be gone with its cluster. Settled as failed, saying that it may have happened.
            await self.records.fail(row.id, int(Code.UNKNOWN), OUTCOME_UNKNOWN)
            return True
        kind = KIND_OF[resource]
        try:
            obj: Obj | None = await self.kube.get(kind, row.namespace, row.name)
        except KubeNotFoundError:
            obj = None
        metadata = (obj or {}).get("metadata") or {}
        if row.subresource == "status":
            return await self._settle_status(row, obj)
        if row.action == Action.DELETE:
            gone = (
                obj is None
                or (row.uid and metadata.get("uid") != row.uid)
                or bool(metadata.get("deletionTimestamp"))
            )
            if gone:
                return await self.records.succeed(row.id, Observed(uid=row.uid)) is not None
        elif obj is not None and intent_of(obj) == str(row.id):
            observed = observe(obj)
            observed = Observed(
                uid=observed.uid,
                resource_version=observed.resource_version,
                created_at=_parse_time(metadata.get("creationTimestamp")),
                owner=str((metadata.get("labels") or {}).get(USER_LABEL) or ""),
            )
            return await self.records.succeed(row.id, observed) is not None
        await self.records.fail(row.id, int(Code.ABORTED), INTERRUPTED)
        log.info(
            "settled an interrupted %s of %s %s/%s as failed",
            row.action,
            row.resource,
            row.namespace,
            row.name,
        )
        return True

    async def _settle_status(self, row: AuditEventRow, obj: Obj | None) -> bool:
        """An interrupted status write, which carries no intent id: judged by what Kubernetes shows.

        * the object's status is the one written: it happened (or its effect is in place), SUCCESS;
        * the object is at the resourceVersion the write was made against: nothing changed, so it did not
          happen, FAILURE (interrupted);
        * anything else (a newer version with another status, or no object): nobody can tell whether it
          happened, so FAILURE saying exactly that, never "interrupted" for a change that may have been made.
        """
        metadata = (obj or {}).get("metadata") or {}
        written = row.spec or {}  # {"status": ...} as the write set it; an apply's result is not known before
        if obj is not None and "status" in written and obj.get("status") == written["status"]:
            return await self.records.succeed(row.id, observe(obj)) is not None
        if obj is not None and str(metadata.get("resourceVersion") or "") == row.previous_resource_version:
            await self.records.fail(row.id, int(Code.ABORTED), INTERRUPTED)
        else:
            message = STATUS_OBJECT_GONE if obj is None else STATUS_OUTCOME_UNKNOWN
            await self.records.fail(row.id, int(Code.UNKNOWN), message)
        return True

    async def close_vanished(self, resource: Resource) -> int:
        """Close rows whose objects are gone. At start, at once (the service was not watching); later, only
        rows missing twice in a row, so that the informers, which see the deletion itself (with the last status),
        record it first, and this only catches what they missed."""
        # Rows first, then the list: a row settles only after Kubernetes confirmed its object, so any row read
        # here has an object the later list must show, unless it is gone. (A newer object of the same name has
        # another uid, which mark_gone compares.)
        scope = self.reads.namespace if self.reads is not None else None
        rows = await self.records.live(resource, scope)
        if not rows:
            return 0
        present = await self._present(resource, scope)
        if present is None:
            return 0
        closed = 0
        for key, row in rows.items():
            uid = present.get(key)
            if uid is not None and (not row.uid or uid == row.uid):
                continue
            suspect = (resource, row.namespace, row.name, row.uid)
            if self._missing is not None and suspect not in self._missing:
                self._seen_missing.add(suspect)
                continue
            if await self.records.mark_gone(resource, row.namespace, row.name, uid=row.uid):
                closed += 1
        return closed

    async def _present(self, resource: Resource, scope: str | None) -> dict[tuple[str, str], str] | None:
        """The uid of every object of ``resource`` (in ``scope``, or everywhere), by namespace and name; None when
        Kubernetes cannot tell now."""
        reads = self.reads
        store = reads.stores.get(resource) if reads is not None else None
        if reads is not None and store is not None and reads.ready():
            # The informers watch every change and list again after any gap: what they hold is what exists,
            # as of moments ago (a row missing from it is judged again next time before it is closed).
            return {(entry.namespace, entry.name): entry.uid for entry in store.entries.values()}
        kind = KIND_OF[resource]
        selector = COMPUTE_TEMPLATE_SELECTOR if resource is Resource.COMPUTE_TEMPLATES else ""
        try:
            # Keys only, a page at a time: with 10,000 clusters a whole list would cost the service 100 MiB.
            keys = await self.kube.keys(kind, scope, label_selector=selector)
        except KubeError as exc:
            log.warning("could not list %s to reconcile their history: %s", kind.plural, exc.message)
            return None
        return {(key.namespace, key.name): key.uid for key in keys}

    async def run_forever(self, interval: float) -> None:
        """Reconcile now, then every ``interval`` seconds, until cancelled; failures are logged and retried."""
        while True:
            try:
                settled, closed = await self.run_once()
                if settled or closed:
                    log.info("reconciled records", extra={"settled": settled, "closed": closed})
            except ApiError as exc:
                log.warning("reconciling the records failed, retrying in %ss: %s", interval, exc.message)
            except Exception:
                log.exception("reconciling the records failed unexpectedly, retrying in %ss", interval)
            await asyncio.sleep(interval)
