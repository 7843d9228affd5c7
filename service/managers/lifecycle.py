"""The change-and-record runner: the one path by which the API changes anything in Kubernetes.

Every create, update and delete of every kind goes: *prepare* (validate, resolve templates, build the object;
a failure here is recorded as a refused attempt and nothing is sent) -> *announce* (commit a PENDING audit row;
if that fails, nothing is sent) -> *send* (the Kubernetes call, with the row's id stamped on the object) ->
*settle* (SUCCESS with the history row, or FAILURE with code and message).

A crash or a lost answer between announce and settle leaves the row PENDING; the reconciler later settles it by
looking at Kubernetes (the object carries the intent id, or is gone for a delete; a status write, which cannot
carry the id, is judged by its status and resourceVersion). A change whose ``send`` is not a
Kubernetes call (job submissions, sent to a Ray dashboard) has no object to look at: the reconciler settles such a
row as failed with an "outcome unknown" message. So no object the API made is
ever without its record, and no SUCCESS row is without its object.

A *dry run* (Kubernetes' ``dryRun=All``) changes nothing, so it leaves no row at all: it is prepared and sent with
``dryRun`` as any change, but neither announced nor settled nor stamped, refused or not.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import msgspec

from service.db.models import ResourceRow
from service.db.records import Change, Observed, Records
from service.errors import ApiError, OutcomeUnknownError, UnavailableError
from service.kube.client import APPLY_PATCH, MERGE_PATCH, KubeClient, Obj
from service.kube.errors import KubeConflictError, KubeError
from service.vocabulary import INTENT_ANNOTATION, Action, Kind

log = logging.getLogger("kuberay_apiserver.lifecycle")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Write:
    """What one change does in Kubernetes, as the kind's manager prepared it."""

    verb: Literal["create", "update", "delete", "apply"]
    """``apply``: a server-side apply of ``body`` (it creates a missing object, updates an existing one)."""
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
    change: Change | None = None
    """The change to record instead of the one the request named, when only preparing it can tell (a patch: the
    object it yields; a server-side apply: create or update)."""
    subresource: str = ""
    """``status``: the write goes to the status subresource. Kubernetes takes only ``.status`` from it, so no
    intent id is stamped (it would be dropped)."""
    query: Mapping[str, str] | None = None
    """Write options sent to Kubernetes as they came (``dryRun``, ``fieldManager``, ``fieldValidation``, and for an
    apply ``force``)."""
    options: Obj | None = None
    """Delete: the caller's DeleteOptions (propagationPolicy, gracePeriodSeconds, preconditions, dryRun)."""
    base: Obj | None = None
    """Update asked for as a PATCH: the object as read, of which ``body`` is the patched form. It is sent as the
    merge patch from one to the other, guarded by ``body``'s resourceVersion, so Kubernetes authorizes (and
    logs) a patch, and makes exactly the object ``body`` describes or refuses with 409."""


@dataclasses.dataclass(frozen=True)
class Applied:
    """A change Kubernetes accepted."""

    obj: Obj
    """The object as Kubernetes answered (for a delete: as it was before)."""
    history: ResourceRow | None
    """Its history row after the change; None if the record could not be settled yet (the reconciler will), or
    for a dry run."""
    intent_id: int
    """0 for a dry run (no row)."""
    answer: Obj | None = None
    """Kubernetes' own answer, where it is not ``obj`` (a delete: the object marked for deletion, or a Status)."""
    created: bool = False
    """A server-side apply: Kubernetes created the object (it answered 201)."""


@dataclasses.dataclass(frozen=True)
class Sent:
    obj: Obj
    answer: Obj | None = None
    created: bool = False


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

    async def run(
        self, change: Change, prepare: Callable[[], Awaitable[Write]], *, dry_run: bool = False
    ) -> Applied:
        if dry_run:
            return await self._try(prepare)
        try:
            write = await prepare()
        except ApiError as exc:
            await self._refused(change, exc)
            raise
        try:
            recorded = write.change if write.change is not None else change
            if write.spec is not None:
                recorded = msgspec.structs.replace(recorded, spec=write.spec)
            if write.subresource:
                recorded = msgspec.structs.replace(recorded, subresource=write.subresource)
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
            sent = await self._send(write, intent_id)
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
        obj = sent.obj
        observed = write.before if write.verb == "delete" and write.before is not None else observe(obj)
        # An apply is whatever Kubernetes made of it: a create when it answered 201, else an update.
        action = None
        if write.verb == "apply":
            action = Action.CREATE if sent.created else Action.UPDATE
        try:
            history = await self.records.succeed(intent_id, observed, action=action)
        except ApiError as exc:
            # Kubernetes made the change; the reconciler settles the row from the object (it carries the id).
            log.warning("change %s done but not yet settled: %s", intent_id, exc.message)
            history = None
        return Applied(
            obj=obj, history=history, intent_id=intent_id, answer=sent.answer, created=sent.created
        )

    async def _try(self, prepare: Callable[[], Awaitable[Write]]) -> Applied:
        """A dry run: prepared and sent like the change (the query carries ``dryRun``), nothing recorded."""
        write = await prepare()
        try:
            sent = await self._send(write, 0)
        except KubeError as exc:
            raise write.explain(exc) from None
        return Applied(obj=sent.obj, history=None, intent_id=0, answer=sent.answer, created=sent.created)

    async def _send(self, write: Write, intent_id: int) -> Sent:
        if write.send is not None:
            return Sent(await write.send(intent_id))
        if write.verb == "delete":
            answer = await self.kube.delete(
                write.kind, write.namespace, write.name, uid=write.uid, options=write.options
            )
            return Sent(dict(write.body or {}), answer)
        assert write.body is not None
        # Nothing is stamped on a dry run (its answer then shows the object as the caller's write would leave it,
        # which is what `kubectl diff` compares), nor on a status write (Kubernetes would drop it).
        body = write.body if intent_id == 0 or write.subresource else stamp(write.body, intent_id)
        if write.verb == "create":
            return Sent(await self.kube.create(write.kind, write.namespace, body, query=write.query))
        if write.verb == "apply":
            return await self._apply(write, body)
        if write.base is not None:
            patch = merge_diff(write.base, body)
            version = (body.get("metadata") or {}).get("resourceVersion")
            patch["metadata"] = {**(patch.get("metadata") or {}), "resourceVersion": version}
            obj, _ = await self.kube.patch(
                write.kind,
                write.namespace,
                write.name,
                patch,
                MERGE_PATCH,
                subresource=write.subresource,
                query=write.query,
            )
            return Sent(obj)
        obj = await self.kube.replace(
            write.kind, write.namespace, write.name, body, subresource=write.subresource, query=write.query
        )
        return Sent(obj)

    async def _apply(self, write: Write, body: Obj) -> Sent:
        """A server-side apply. The intent id is part of the applied configuration, so its field manager owns the
        annotation. Another manager (a PUT or patch through the service) may own it already, which Kubernetes
        reports as a conflict of the caller's; it is not one, so the apply is made again at the version read
        before (a newer version fails with 409, and the patch is retried):

        * conflicting only over the intent id: forcing only that, since at that version every other field
          conflicts the same way, nothing else is taken from anyone;
        * conflicting over other fields too: with the object's own intent id, unchanged, so Kubernetes answers
          with the caller's own conflicts, exactly as it would without this service.
        """

        async def send(config: Obj, query: Mapping[str, str] | None) -> Sent:
            obj, created = await self.kube.patch(
                write.kind,
                write.namespace,
                write.name,
                config,
                APPLY_PATCH,
                subresource=write.subresource,
                query=query,
            )
            return Sent(obj, created=created)

        try:
            return await send(body, write.query)
        except KubeConflictError as exc:
            conflicts = conflicting_fields(exc)
            if not write.previous_resource_version or INTENT_FIELD not in conflicts:
                raise
            intent_only = conflicts == {INTENT_FIELD}
        metadata = dict(body.get("metadata") or {})
        metadata.setdefault("resourceVersion", write.previous_resource_version)
        if intent_only:
            return await send({**body, "metadata": metadata}, {**(write.query or {}), "force": "true"})
        annotations = dict(metadata.get("annotations") or {})
        annotations.pop(INTENT_ANNOTATION, None)
        if intent_of(write.previous or {}):
            annotations[INTENT_ANNOTATION] = intent_of(write.previous or {})
        metadata["annotations"] = annotations
        return await send({**body, "metadata": metadata}, write.query)  # answered with the caller's conflicts

    async def refuse(self, change: Change, error: ApiError) -> None:
        """Record a change refused before anything was sent (no row is ever PENDING for it)."""
        await self._refused(change, error)

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


INTENT_FIELD = f".metadata.annotations.{INTENT_ANNOTATION}"


def conflicting_fields(exc: KubeError) -> set[str]:
    """The fields a server-side apply conflicted over (with other field managers)."""
    causes = (exc.details or {}).get("causes") or []
    return {str(c.get("field") or "") for c in causes if c.get("reason") == "FieldManagerConflict"}


def merge_diff(before: Obj, after: Obj) -> Obj:
    """The JSON merge patch (RFC 7386) that turns ``before`` into ``after``: removed keys are null, objects are
    patched key by key, anything else (lists included) is replaced."""
    diff: Obj = {key: None for key in before if key not in after}
    for key, value in after.items():
        old = before.get(key, _MISSING)
        if isinstance(old, dict) and isinstance(value, dict):
            nested = merge_diff(old, value)
            if nested:
                diff[key] = nested
        elif not _same(old, value):
            diff[key] = value
    return diff


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    """JSON equality (unlike ``==``, ``true`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
