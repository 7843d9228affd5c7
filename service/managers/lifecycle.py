"""The change-and-record runner: the one path by which the API changes anything in Kubernetes.

Every create, update and delete of every kind goes: *prepare* (validate, resolve templates, build the object;
a failure here is recorded as a refused attempt and nothing is sent) -> *announce* (commit a PENDING audit row;
if that fails, nothing is sent) -> *send* (the Kubernetes call, with the row's id stamped on the object) ->
*settle* (SUCCESS with the history row, or FAILURE with code and message).

A crash or a lost answer between announce and settle leaves the row PENDING; the reconciler later settles it by
looking at Kubernetes (the object carries the intent id, or is gone for a delete). A change whose ``send`` is not a
Kubernetes call (job submissions, sent to a Ray dashboard) has no object to look at: the reconciler settles such a
row as failed with an "outcome unknown" message. So no object the API made is
ever without its record, and no SUCCESS row is without its object.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

from service.db.models import ResourceRow
from service.db.records import Change, Observed, Records
from service.errors import ApiError, OutcomeUnknownError, UnavailableError
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeError
from service.vocabulary import INTENT_ANNOTATION, Kind

log = logging.getLogger("kuberay_apiserver.lifecycle")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Write:
    """What one change does in Kubernetes, as the kind's manager prepared it."""

    verb: Literal["create", "update", "delete"]
    kind: Kind
    namespace: str
    name: str
    explain: Callable[[KubeError], ApiError]
    """Upstream's wording for a Kubernetes refusal of this change."""
    body: Obj | None = None
    """The object to create, or to replace the existing one with (carrying its resourceVersion)."""
    uid: str = ""
    """Delete: the uid of the object looked at, so a newer object of the same name is never deleted."""
    before: Observed | None = None
    """Delete: the object as last seen (history of objects created outside the API keeps it)."""
    previous_resource_version: str = ""
    previous: dict[str, Any] | None = None
    send: Callable[[int], Awaitable[Obj]] | None = None
    """A change made elsewhere than in Kubernetes (a job submitted to a Ray dashboard): called with the intent id
    instead of the Kubernetes call. It raises ``ApiError`` when refused; the row then settles as that failure."""
    spec: dict[str, Any] | None = None
    """Update: the new value to record, when only preparing the change knows it (a patch of a few fields)."""


@dataclasses.dataclass(frozen=True)
class Applied:
    """A change Kubernetes accepted."""

    obj: Obj
    """The object as Kubernetes answered (for a delete: as it was before)."""
    history: ResourceRow | None
    """Its history row after the change; None if the record could not be settled yet (the reconciler will)."""
    intent_id: int


def observe(obj: Obj) -> Observed:
    metadata = obj.get("metadata") or {}
    return Observed(
        uid=str(metadata.get("uid") or ""), resource_version=str(metadata.get("resourceVersion") or "")
    )


def intent_of(obj: Obj) -> str:
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(INTENT_ANNOTATION) or "")


class Lifecycle:
    """Runs changes: announce, send, settle."""

    def __init__(self, kube: KubeClient, records: Records) -> None:
        self.kube = kube
        self.records = records

    async def run(self, change: Change, prepare: Callable[[], Awaitable[Write]]) -> Applied:
        try:
            write = await prepare()
        except ApiError as exc:
            await self._refused(change, exc)
            raise
        try:
            recorded = change if write.spec is None else msgspec.structs.replace(change, spec=write.spec)
            intent_id = await self.records.announce(
                recorded,
                uid=write.uid,
                previous_resource_version=write.previous_resource_version,
                previous=write.previous,
            )
        except ApiError as exc:
            raise UnavailableError(
                f"nothing was changed: the change could not be recorded first ({exc.message})"
            ) from None
        try:
            obj = await self._send(write, intent_id)
        except ApiError as exc:
            if write.send is not None:  # refused where it was sent: settled as that failure
                await self._settle_failure(intent_id, exc)
            raise
        except KubeError as exc:
            error = write.explain(exc)
            if exc.outcome_unknown:
                raise OutcomeUnknownError(
                    f"{error.message}. The change may have happened: audit event {intent_id} stays PENDING until "
                    "the service can tell, then shows the outcome; read the resource before retrying"
                ) from None
            await self._settle_failure(intent_id, error)
            raise error from None
        observed = write.before if write.verb == "delete" and write.before is not None else observe(obj)
        try:
            history = await self.records.succeed(intent_id, observed)
        except ApiError as exc:
            # Kubernetes made the change; the reconciler settles the row from the object (it carries the id).
            log.warning("change %s done but not yet settled: %s", intent_id, exc.message)
            history = None
        return Applied(obj=obj, history=history, intent_id=intent_id)

    async def _send(self, write: Write, intent_id: int) -> Obj:
        if write.send is not None:
            return await write.send(intent_id)
        if write.verb == "delete":
            await self.kube.delete(write.kind, write.namespace, write.name, uid=write.uid)
            return dict(write.body or {})
        assert write.body is not None
        body = stamp(write.body, intent_id)
        if write.verb == "create":
            return await self.kube.create(write.kind, write.namespace, body)
        return await self.kube.replace(write.kind, write.namespace, write.name, body)

    async def _refused(self, change: Change, error: ApiError) -> None:
        try:
            await self.records.refuse(change, int(error.code), error.message)
        except ApiError as exc:
            log.error(
                "could not record a refused %s of %s %s/%s: %s",
                change.action,
                change.resource,
                change.namespace,
                change.name,
                exc.message,
            )

    async def _settle_failure(self, intent_id: int, error: ApiError) -> None:
        try:
            await self.records.fail(intent_id, int(error.code), error.message)
        except ApiError as exc:
            log.warning("failed change %s not yet settled: %s", intent_id, exc.message)


def stamp(body: Obj, intent_id: int) -> Obj:
    """A copy of ``body`` whose metadata carries the intent id."""
    metadata = dict(body.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), INTENT_ANNOTATION: str(intent_id)}
    return {**body, "metadata": metadata}
