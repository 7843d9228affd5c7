"""What clusters, jobs and services have in common: create, get, list and delete a Ray custom resource with
its SQL record, and merge the live object with its history.

Subclasses supply validation, the API -> CR builder and the CR -> API converter; this module owns the flow, the
records, pagination (including history pages) and the error wording shared by the three kinds.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from service.db.models import ResourceRow
from service.db.records import Action, Records, Resource, as_utc
from service.errors import (
    ApiError,
    InvalidInputError,
    UnavailableError,
    already_exists,
    invalid_input,
    not_found,
)
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeConflictError, KubeError, KubeNotFoundError
from service.managers.context import RequestContext
from service.managers.kube_errors import api_error
from service.managers.recording import recorded
from service.schemas.base import ApiStruct, convert, format_time, to_builtins

log = logging.getLogger("kuberay_apiserver.managers")

T = TypeVar("T", bound=ApiStruct)
R = TypeVar("R")

HISTORY_TOKEN_PREFIX = "h1."


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_token: str = ""


class Texts(msgspec.Struct, frozen=True):
    """Upstream's wording for one kind (see the spec, section 5.2)."""

    kind: str  # "Cluster", "Job", "Service": used in "<kind> <name> not found"
    name_empty: str
    get_wrap: str
    delete_wrap: str
    create_wrap: str
    crd_kind: str  # "RayCluster"


class RayResourceManager(Generic[T]):
    """The shared flow for one Ray custom resource kind."""

    plural: ClassVar[str]
    resource: ClassVar[Resource]
    texts: ClassVar[Texts]
    message_type: ClassVar[type[Any]]

    def __init__(self, kube: KubeClient, records: Records) -> None:
        self.kube = kube
        self.records = records

    # -- hooks --------------------------------------------------------------------------------------------------

    async def to_api(self, crs: Sequence[Obj]) -> list[T]:
        """Convert CRs to API messages (one batch so events can be fetched once)."""
        raise NotImplementedError

    def with_record(self, item: T, created_at: str, user: str, deleted_at: str) -> T:
        """``item`` with the record's audit fields set."""
        raise NotImplementedError

    def is_listed(self, cr: Obj) -> bool:
        """Whether a CR found in the cluster belongs in this kind's lists."""
        return True

    # -- shared flow ---------------------------------------------------------------------------------------------

    async def recorded(
        self,
        ctx: RequestContext,
        action: Action,
        namespace: str,
        name: str,
        user: str,
        spec: dict[str, Any] | None,
        work: Callable[[], Awaitable[R]],
    ) -> R:
        """Run ``work``; record a failure (in its own transaction) when it raises an API error."""
        return await recorded(self.records, self.resource, ctx, action, namespace, name, user, spec, work)

    async def create_cr(
        self, ctx: RequestContext, namespace: str, name: str, user: str, body: Obj, spec: Any
    ) -> T:
        """Create the CR, then its record; undo the CR if the record cannot be written."""
        try:
            created = await self.kube.create_ray(self.plural, namespace, body)
        except KubeConflictError as exc:
            if exc.already_exists:
                message = f"{self.texts.kind} with name {name} already exists in namespace {namespace}"
                raise already_exists(message, self.texts.create_wrap) from None
            raise api_error(exc, self.texts.create_wrap) from None
        except KubeError as exc:
            raise api_error(
                exc, f"{self.texts.create_wrap} Failed to create {self.texts.crd_kind} {namespace}/{name}"
            ) from None
        metadata = created.get("metadata", {})
        try:
            row = await self.records.success(
                action=Action.CREATE,
                resource=self.resource,
                namespace=namespace,
                name=name,
                user=user,
                spec=spec,
                uid=metadata.get("uid", ""),
                request_id=ctx.request_id,
            )
        except ApiError:
            await self._undo_create(namespace, name)
            raise UnavailableError(
                f"{self.texts.crd_kind} {namespace}/{name} was not created: its record could not be written"
            ) from None
        (item,) = await self.to_api([created])
        return self.with_record(item, format_time(as_utc(row.created_at)), row.user, "")

    async def _undo_create(self, namespace: str, name: str) -> None:
        try:
            await self.kube.delete_ray(self.plural, namespace, name)
        except KubeError:
            log.exception("could not undo the creation of %s %s/%s", self.plural, namespace, name)

    async def fetch(self, namespace: str, name: str, wrap: str) -> Obj:
        """The CR, or a 404 worded as upstream words it."""
        if not name:
            raise invalid_input(self.texts.name_empty)
        looked = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        try:
            return await self.kube.get_ray(self.plural, namespace, name)
        except KubeNotFoundError as exc:
            await self.records.mark_gone(self.resource, namespace, name, None, created_before=looked)
            raise not_found(f"{self.texts.kind} {name} not found", wrap, exc.message) from None
        except KubeError as exc:
            raise api_error(exc, wrap) from None

    async def get(self, namespace: str, name: str) -> T:
        cr = await self.fetch(namespace, name, self.texts.get_wrap)
        (item,) = await self.merge([cr])
        return item

    async def merge(self, crs: Sequence[Obj]) -> list[T]:
        """API messages for live CRs, with createdAt and user from their records."""
        if not crs:
            return []
        items, rows = await asyncio.gather(self.to_api(crs), self._live_rows(crs))
        merged: list[T] = []
        for cr, item in zip(crs, items, strict=True):
            metadata = cr.get("metadata", {})
            row = rows.get((metadata.get("namespace", ""), metadata.get("name", "")))
            if row is not None and row.uid and metadata.get("uid") and row.uid != metadata.get("uid"):
                row = None  # the record belongs to an earlier object of the same name
            labels = metadata.get("labels") or {}
            created = format_time(as_utc(row.created_at)) if row else metadata.get("creationTimestamp", "")
            user = row.user if row else labels.get("ray.io/user", "")
            merged.append(self.with_record(item, created, user, metadata.get("deletionTimestamp", "")))
        return merged

    async def _live_rows(self, crs: Sequence[Obj]) -> dict[tuple[str, str], ResourceRow]:
        """History rows of these CRs: one lookup for a single CR, one query per namespace scope otherwise."""
        keys = [
            (cr.get("metadata", {}).get("namespace", ""), cr.get("metadata", {}).get("name", ""))
            for cr in crs
        ]
        if len(keys) == 1:
            row = await self.records.get_live(self.resource, *keys[0])
            return {keys[0]: row} if row is not None else {}
        namespaces = {namespace for namespace, _ in keys}
        return await self.records.live(
            self.resource, next(iter(namespaces)) if len(namespaces) == 1 else None
        )

    async def list(
        self, namespace: str | None, limit: int, token: str, include_deleted: bool, wrap: str
    ) -> Page[T]:
        """One page of live CRs, followed (with ``include_deleted``) by pages of deleted ones from SQL."""
        items: list[T] = []
        next_token = ""
        after_id = _history_position(token)
        if after_id is None:
            started = dt.datetime.now(dt.UTC)
            try:
                result = await self.kube.list_ray(self.plural, namespace, limit=limit, continue_token=token)
            except KubeError as exc:
                raise api_error(exc, wrap) from None
            crs = [cr for cr in result.get("items") or [] if self.is_listed(cr)]
            items = await self.merge(crs)
            next_token = (result.get("metadata") or {}).get("continue") or ""
            if not token and not next_token:
                await self._close_vanished(namespace, crs, started)
            if next_token or not include_deleted:
                return Page(items=items, next_token=next_token)
            after_id = 0
        room = limit - len(items) if limit > 0 else 0
        if limit > 0 and room <= 0:
            # The live part filled this page exactly; history starts on the next one.
            more = await self.records.deleted(self.resource, namespace, after_id, 1)
            return Page(items=items, next_token=_history_token(after_id) if more else "")
        rows = await self.records.deleted(self.resource, namespace, after_id, room + 1 if room else 0)
        if room and len(rows) > room:
            rows = rows[:room]
            next_token = _history_token(rows[-1].id)
        items.extend(self.from_history(row) for row in rows)
        return Page(items=items, next_token=next_token)

    async def _close_vanished(self, namespace: str | None, crs: Sequence[Obj], started: dt.datetime) -> None:
        """Records of CRs that a complete list no longer shows were deleted outside the API: close them.

        Rows younger than the list call (plus a margin) are left alone: their CR may have been created after
        Kubernetes answered.
        """
        present = {(cr["metadata"].get("namespace", ""), cr["metadata"].get("name", "")) for cr in crs}
        settled = started - dt.timedelta(seconds=5)
        try:
            rows = await self.records.live(self.resource, namespace)
            for key, row in rows.items():
                if key not in present:
                    await self.records.mark_gone(
                        self.resource, row.namespace, row.name, None, row.uid, settled
                    )
        except ApiError:
            log.warning("could not reconcile the history of %s", self.plural)

    def from_history(self, row: ResourceRow) -> T:
        """An API message for a deleted resource: last known spec and status, with the deletion time."""
        spec = dict(row.spec or {})
        spec.update(name=row.name, namespace=row.namespace)
        item: T = convert(spec, self.message_type)
        item = self.with_status(item, row.status)
        deleted = format_time(as_utc(row.deleted_at)) if row.deleted_at else ""
        return self.with_record(item, format_time(as_utc(row.created_at)), row.user, deleted)

    def with_status(self, item: T, status: dict[str, Any] | None) -> T:
        """``item`` with a stored CR status applied (kinds override to map their status fields)."""
        return item

    async def delete(self, ctx: RequestContext, namespace: str, name: str) -> None:
        async def work() -> None:
            cr = await self.fetch(namespace, name, self.texts.delete_wrap)
            metadata = cr.get("metadata", {})
            await self.records.begin_delete(
                self.resource,
                namespace,
                name,
                uid=metadata.get("uid", ""),
                user=(metadata.get("labels") or {}).get("ray.io/user", ""),
                created_at=_parse_time(metadata.get("creationTimestamp")),
                spec=self.snapshot(cr),
            )
            try:
                await self.kube.delete_ray(self.plural, namespace, name)
            except KubeError as exc:
                await self.records.end_delete(self.resource, namespace, name)
                if isinstance(exc, KubeNotFoundError):
                    raise not_found(
                        f"{self.texts.kind} {name} not found", self.texts.delete_wrap, exc.message
                    ) from None
                raise api_error(exc, f"Failed to delete {self.texts.crd_kind} {name}.") from None
            await self._record_delete(ctx, namespace, name, cr)

        await self.recorded(ctx, Action.DELETE, namespace, name, ctx.principal, None, work)

    async def _record_delete(self, ctx: RequestContext, namespace: str, name: str, cr: Obj) -> None:
        row = await self.records.get_live(self.resource, namespace, name)
        spec = row.spec if row is not None and row.spec else self.snapshot(cr)
        for attempt in range(3):
            try:
                await self.records.success(
                    action=Action.DELETE,
                    resource=self.resource,
                    namespace=namespace,
                    name=name,
                    user=ctx.principal,
                    spec=spec,
                    uid=cr.get("metadata", {}).get("uid", ""),
                    status=cr.get("status"),
                    created_at=_parse_time(cr.get("metadata", {}).get("creationTimestamp")),
                    request_id=ctx.request_id,
                )
                return
            except ApiError:
                if attempt == 2:
                    raise UnavailableError(
                        f"{self.texts.crd_kind} {namespace}/{name} was deleted, but the record could not be written"
                    ) from None

    def snapshot(self, cr: Obj) -> dict[str, Any]:
        """The API form of a CR without record fields, for history rows of resources created outside the API."""
        return {}


def snapshot_of(item: ApiStruct) -> dict[str, Any]:
    """The JSON form of a request, stored as the spec snapshot of a record."""
    data: dict[str, Any] = to_builtins(item)
    return data


def _history_token(after_id: int) -> str:
    return HISTORY_TOKEN_PREFIX + base64.urlsafe_b64encode(str(after_id).encode()).decode().rstrip("=")


def _history_position(token: str) -> int | None:
    """The history position a token points at, or None for a Kubernetes continue token (or none)."""
    if not token.startswith(HISTORY_TOKEN_PREFIX):
        return None
    raw = token[len(HISTORY_TOKEN_PREFIX) :]
    try:
        return int(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
    except (ValueError, binascii.Error):
        raise InvalidInputError(
            f"invalid page token {token!r}: pass back the token of the previous page"
        ) from None


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
