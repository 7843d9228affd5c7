"""What every kind of resource has in common: create and delete through the lifecycle runner, get and list
with the live object merged with its history, pages that continue into deleted resources, and upstream's wording.

A kind's manager supplies the CR builder (with its validation) and the CR -> API converter; this module owns
the flow. Reads never write records: the watcher and the reconciler keep history true.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import copy
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from service import names
from service.db.models import ResourceRow
from service.db.records import Change, Observed, Records, as_utc, utcnow
from service.errors import AbortedError, ApiError, InvalidInputError, already_exists, invalid_input, not_found
from service.identity import acting_as
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeConflictError, KubeError, KubeNotFoundError
from service.managers.context import Caller
from service.managers.kube_errors import api_error
from service.managers.lifecycle import Applied, Lifecycle, Write
from service.managers.live_records import LiveRecord
from service.managers.read_model import Entry, ReadModel, Store, forbidden, meta, not_found_message
from service.managers.texts import MISSING_BODY, TEXTS, Texts
from service.managers.validation import check_name, check_namespace
from service.schemas.base import ApiStruct, convert, format_time, to_builtins
from service.vocabulary import USER_LABEL, Action, Kind, Resource

T = TypeVar("T", bound=ApiStruct)

HISTORY_TOKEN_PREFIX = "h1."
CACHE_TOKEN_PREFIX = "m1."


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_token: str = ""


class ResourceManager(Generic[T]):
    """The shared flow of one kind."""

    resource: ClassVar[Resource]
    kind: ClassVar[Kind]
    message_type: ClassVar[type[Any]]
    name_problem: ClassVar[staticmethod[[str], str | None]] = staticmethod(names.label_problem)
    list_selector: ClassVar[str] = ""

    def __init__(self, kube: KubeClient, records: Records, lifecycle: Lifecycle) -> None:
        self.kube = kube
        self.records = records
        self.lifecycle = lifecycle
        self.reads: ReadModel | None = None
        self.store: Store[T] | None = None

    def attach(self, reads: ReadModel, **options: Any) -> None:
        """Serve reads from ``reads`` (once its informers have synced) and keep it current with own writes."""
        self.reads = reads
        self.store = reads.add(
            self.resource, self.kind, self.project, label_selector=self.list_selector, **options
        )

    @property
    def texts(self) -> Texts:
        return TEXTS[self.resource]

    # -- hooks ----------------------------------------------------------------------------------------------------

    async def build(self, namespace: str, message: T, user: str, legacy: bool) -> Obj:
        """Validate a create request and build its object (raising ``ApiError`` with upstream's texts)."""
        raise NotImplementedError

    async def to_api(self, objs: Sequence[Obj]) -> list[T]:
        """Convert objects to API messages (one batch, so related objects are fetched once)."""
        raise NotImplementedError

    def with_record(self, item: T, created_at: str, user: str, deleted_at: str) -> T:
        raise NotImplementedError

    def with_status(self, item: T, status: dict[str, Any] | None) -> T:
        """``item`` with a stored status applied (for history entries)."""
        return item

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        """The API form of an object without record fields, for history rows of objects made outside the API."""
        return {}

    def is_listed(self, obj: Obj) -> bool:
        """Whether an object found in the cluster belongs in this kind's lists."""
        return True

    def convert(self, obj: Obj) -> T:
        """The API message of one object, without what other objects contribute (read model)."""
        raise NotImplementedError

    def keep_raw(self, obj: Obj) -> Obj | None:
        """What of the object the read model keeps besides its message (for kinds that compose at read time)."""
        return None

    def compose(self, entry: Entry[T]) -> T:
        """The message of a stored object with what other stored objects contribute (events, clusters)."""
        return entry.item

    cacheable: ClassVar[bool] = True
    """Whether a composed message stays valid until its entry (or its events) change."""

    def project(self, obj: Obj) -> Entry[T]:
        namespace, name, uid, version, intent, created, deleted, owner = meta(obj)
        return Entry(
            namespace=namespace,
            name=name,
            uid=uid,
            resource_version=version,
            intent=intent,
            created=created,
            deleted=deleted,
            owner=owner,
            listed=self.is_listed(obj),
            item=self.convert(obj),
            raw=self.keep_raw(obj),
        )

    # -- checks -----------------------------------------------------------------------------------------------

    def check_path(self, namespace: str, name: str | None = None) -> None:
        """Upstream's empty checks (name first, then namespace), then both checked as Kubernetes names."""
        if name is not None and not name:
            raise invalid_input(self.texts.name_empty)
        if not namespace:
            raise invalid_input(self.texts.namespace_empty)
        check_namespace(namespace)
        if name is not None:
            self.check_name(name)

    def check_name(self, name: str, wrap: str | None = None) -> None:
        check_name(f"{self.texts.kind} name", name, type(self).name_problem, wrap)

    # -- changes ----------------------------------------------------------------------------------------------

    def change(
        self, action: Action, caller: Caller, namespace: str, name: str, body_user: str, spec: Any
    ) -> Change:
        """The change a caller asks for; ``body_user`` is the request's own ``user`` field (if it has one)."""
        return change_of(action, self.resource, caller, namespace, name, body_user, spec)

    async def create(self, caller: Caller, namespace: str, message: T | None, *, legacy: bool = False) -> T:
        """Create the resource a request describes; ``legacy`` applies the seed's ``/apis/v1alpha2`` defaults.

        ``message`` is None when a gRPC request carries none (HTTP reads an empty body as ``{}``).
        """
        name = str(getattr(message, "name", ""))
        user = caller.user_for(str(getattr(message, "user", "")))
        spec = snapshot_of(message) if message is not None else None
        change = self.change(Action.CREATE, caller, namespace, name, str(getattr(message, "user", "")), spec)

        async def prepare() -> Write:
            if message is None:
                raise invalid_input(
                    MISSING_BODY.get(self.resource, f"{self.texts.kind} is empty. Please specify one.")
                )
            body = await self.build(namespace, message, user, legacy)
            return Write(
                verb="create",
                kind=self.kind,
                namespace=namespace,
                name=name,
                body=body,
                explain=lambda exc: self.create_error(exc, namespace, name),
            )

        applied = await self.lifecycle.run(change, prepare)
        self.remember(applied)
        return await self.answer(applied, user)

    @staticmethod
    def namespace_of(obj: Obj) -> str:
        return str((obj.get("metadata") or {}).get("namespace") or "")

    def remember(self, applied: Applied, deleted: bool = False) -> None:
        """Make a change this replica made visible to its next read at once."""
        if self.reads is None or self.store is None:
            return
        metadata = applied.obj.get("metadata") or {}
        if deleted:
            self.store.deleted(applied.obj)
            self.reads.records.drop(self.resource, metadata.get("namespace", ""), metadata.get("name", ""))
            return
        if applied.history is not None:
            self.reads.records.put(self.resource, applied.history)
        self.store.wrote(applied.obj)
        entry = self.store.get(metadata.get("namespace", ""), metadata.get("name", ""))
        if entry is not None:
            entry.encoded = None  # it may have been composed before its record existed

    def create_error(self, exc: KubeError, namespace: str, name: str) -> ApiError:
        if isinstance(exc, KubeConflictError) and exc.already_exists:
            message = f"{self.texts.kind} with name {name} already exists in namespace {namespace}"
            return already_exists(message, self.texts.create_wrap)
        failed = self.texts.create_failed.format(namespace=namespace, name=name)
        return api_error(exc, f"{self.texts.create_wrap} {failed}")

    async def answer(self, applied: Applied, user: str) -> T:
        """The API message of a changed object, with its record (or, until it settles, the change's own)."""
        reads = self.reads
        if reads is not None and reads.ready() and reads.covers(self.namespace_of(applied.obj)):
            item = self.compose(self.project(applied.obj))  # what it shows comes from memory too
        else:
            (item,) = await self.to_api([applied.obj])
        row = applied.history
        created = format_time(as_utc(row.created_at)) if row is not None else format_time(utcnow())
        return self.with_record(item, created, row.user if row is not None else user, "")

    async def delete(self, caller: Caller, namespace: str, name: str) -> None:
        change = self.change(Action.DELETE, caller, namespace, name, "", None)

        async def prepare() -> Write:
            self.check_path(namespace, name)
            obj = await self.fetch(namespace, name, self.texts.delete_wrap)
            before = observed_before(obj, self.snapshot(obj))
            return Write(
                verb="delete",
                kind=self.kind,
                namespace=namespace,
                name=name,
                body=obj,
                uid=before.uid,
                before=before,
                explain=lambda exc: self.delete_error(exc, name),
            )

        self.remember(await self.lifecycle.run(change, prepare), deleted=True)

    def delete_error(self, exc: KubeError, name: str) -> ApiError:
        if isinstance(exc, KubeNotFoundError):
            return not_found(f"{self.texts.kind} {name} not found", self.texts.delete_wrap, exc.message)
        if isinstance(exc, KubeConflictError):
            return AbortedError(
                f"{self.texts.crd_kind} {name} was replaced by a new object while it was being deleted; "
                f"read it again and retry: {exc.message}"
            )
        return api_error(exc, self.texts.delete_failed.format(name=name))

    # -- updates: a change of some fields of an existing object ---------------------------------------------

    async def revise(
        self,
        caller: Caller,
        namespace: str,
        name: str,
        request: dict[str, Any] | None,
        resource_version: str,
        edit: Callable[[Obj], Awaitable[Obj]],
    ) -> T:
        """Change the object by ``edit`` (given a copy of it, returning the new object), with optimistic concurrency.

        ``resource_version``, when given, must be the object's current one; either way the replace carries the
        version that was read, so a change by someone else in between makes this one fail with ABORTED. The
        audit row keeps the request, the previous value and the new one (both in API form).
        """
        change = self.change(Action.UPDATE, caller, namespace, name, "", request)
        wrap = f"Update {self.texts.kind.lower()} failed."

        async def prepare() -> Write:
            self.check_path(namespace, name)
            existing = await self.fetch(namespace, name, wrap)
            current = str((existing.get("metadata") or {}).get("resourceVersion") or "")
            if resource_version and resource_version != current:
                raise AbortedError(
                    f"{self.texts.crd_kind} {namespace}/{name} has changed since resourceVersion "
                    f"{resource_version} (it is now {current}): read it again and retry"
                )
            body = await edit(copy.deepcopy(existing))
            body = {**body, "metadata": {**(body.get("metadata") or {}), "resourceVersion": current}}
            return Write(
                verb="update",
                kind=self.kind,
                namespace=namespace,
                name=name,
                body=body,
                previous_resource_version=current,
                previous=self.snapshot(existing),
                spec=self.snapshot(body),
                explain=lambda exc: self.revise_error(exc, namespace, name, wrap),
            )

        applied = await self.lifecycle.run(change, prepare)
        self.remember(applied)
        return await self.answer(applied, caller.user_for(""))

    def revise_error(self, exc: KubeError, namespace: str, name: str, wrap: str) -> ApiError:
        if isinstance(exc, KubeConflictError):
            return AbortedError(
                f"{self.texts.crd_kind} {namespace}/{name} was changed by someone else while this update was "
                f"applied; read it again and retry: {exc.message}"
            )
        if isinstance(exc, KubeNotFoundError):
            return not_found(f"{self.texts.kind} {name} not found", wrap, exc.message)
        return api_error(exc, wrap)

    # -- reads ------------------------------------------------------------------------------------------------

    async def fetch(self, namespace: str, name: str, wrap: str) -> Obj:
        """The object, or a 404 worded as upstream words it."""
        try:
            return await self.kube.get(self.kind, namespace, name)
        except KubeNotFoundError as exc:
            raise not_found(f"{self.texts.kind} {name} not found", wrap, exc.message) from None
        except KubeError as exc:
            raise api_error(exc, wrap) from None

    async def get(self, namespace: str, name: str) -> T:
        self.check_path(namespace, name)
        if (
            self.reads is not None
            and self.store is not None
            and self.reads.ready()
            and self.reads.covers(namespace)
        ):
            return await self._cached_get(self.reads, self.store, namespace, name)
        obj = await self.fetch(namespace, name, self.texts.get_wrap)
        (item,) = await self.merge([obj])
        return item

    async def _cached_get(self, reads: ReadModel, store: Store[T], namespace: str, name: str) -> T:
        wrap = self.texts.get_wrap
        if not await reads.may("get", self.kind, namespace):
            raise api_error(forbidden(self.kind, "get", namespace, name), wrap)
        entry = store.get(namespace, name)
        if entry is None:
            raise not_found(f"{self.texts.kind} {name} not found", wrap, not_found_message(self.kind, name))
        return await self.merged(reads, entry)

    async def merged(self, reads: ReadModel, entry: Entry[T]) -> T:
        """A stored object's message with its record fields (kept on the entry until it changes)."""
        if entry.encoded is not None:
            done: T = entry.encoded
            return done
        record: LiveRecord | bool | None = None
        if entry.intent:  # an API change wrote it, so it may have a record
            record = reads.records.cached(self.resource, entry.namespace, entry.name, entry.uid)
            if record is False:
                record = await reads.records.lookup(self.resource, entry.namespace, entry.name, entry.uid)
        item = self.compose(entry)
        if isinstance(record, LiveRecord):
            item = self.with_record(item, record.created, record.user, entry.deleted)
        else:
            item = self.with_record(item, entry.created, entry.owner, entry.deleted)
        if self.cacheable and (isinstance(record, LiveRecord) or not entry.intent):
            entry.encoded = item  # not while a record may still be settling
        return item

    async def merge(self, objs: Sequence[Obj]) -> list[T]:
        """API messages for live objects, with createdAt and user from their records."""
        if not objs:
            return []
        items, rows = await asyncio.gather(self.to_api(objs), self._live_rows(objs))
        merged: list[T] = []
        for obj, item in zip(objs, items, strict=True):
            metadata = obj.get("metadata") or {}
            row = rows.get((metadata.get("namespace", ""), metadata.get("name", "")))
            if row is not None and row.uid and metadata.get("uid") and row.uid != metadata.get("uid"):
                row = None  # the record belongs to an earlier object of the same name
            created = (
                format_time(as_utc(row.created_at)) if row else str(metadata.get("creationTimestamp") or "")
            )
            user = row.user if row else str((metadata.get("labels") or {}).get(USER_LABEL) or "")
            merged.append(self.with_record(item, created, user, str(metadata.get("deletionTimestamp") or "")))
        return merged

    async def _live_rows(self, objs: Sequence[Obj]) -> dict[tuple[str, str], ResourceRow]:
        """History rows of these objects: one lookup for a single object, one query per scope otherwise."""
        keys = [
            (o.get("metadata", {}).get("namespace", ""), o.get("metadata", {}).get("name", "")) for o in objs
        ]
        if len(keys) == 1:
            row = await self.records.get_live(self.resource, *keys[0])
            return {keys[0]: row} if row is not None else {}
        namespaces = {namespace for namespace, _ in keys}
        return await self.records.live(
            self.resource, next(iter(namespaces)) if len(namespaces) == 1 else None
        )

    async def list(self, namespace: str | None, limit: int, token: str, include_deleted: bool) -> Page[T]:
        """One page of live objects, followed (with ``include_deleted``) by pages of deleted ones from SQL."""
        if namespace is not None:
            self.check_path(namespace)
        wrap = self.texts.list_wrap if namespace is not None else self.texts.list_all_wrap
        items: list[T] = []
        next_token = ""
        after_id = _history_position(token)
        reads, store = self.reads, self.store
        cached = reads is not None and store is not None and reads.ready() and reads.covers(namespace)
        if after_id is None and cached and (not token or token.startswith(CACHE_TOKEN_PREFIX)):
            assert reads is not None and store is not None
            items, next_token = await self._cached_page(reads, store, namespace, limit, token, wrap)
            if next_token or not include_deleted:
                return Page(items=items, next_token=next_token)
            after_id = 0
        elif after_id is None:
            try:
                result = await self.kube.list(
                    self.kind, namespace, label_selector=self.list_selector, limit=limit, continue_token=token
                )
            except KubeError as exc:
                raise api_error(exc, wrap.format(namespace=namespace)) from None
            objs = self.listed([o for o in result.get("items") or [] if self.is_listed(o)])
            items = await self.merge(objs)
            next_token = str((result.get("metadata") or {}).get("continue") or "")
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

    async def _cached_page(
        self, reads: ReadModel, store: Store[T], namespace: str | None, limit: int, token: str, wrap: str
    ) -> tuple[builtins.list[T], str]:
        """A page from the read model: the first page fixes the entries, the later ones walk them."""
        try:
            allowed = await reads.visible(self.kind, namespace, store)
        except KubeError as exc:
            raise api_error(exc, wrap.format(namespace=namespace)) from None
        identity = acting_as()
        scope = "|".join([self.resource, namespace or "", repr(identity)])
        ident, offset = "", 0
        if token:
            ident, offset, after = _cache_position(token)
            held = reads.snapshots.find(ident, scope)
            if held is not None and offset <= len(held):
                snapshot: builtins.list[Entry[T]] = held
            else:  # another replica's token, or an expired one: go on after its last object, as of now
                snapshot = self._selected(store, namespace, allowed, after)
                ident, offset = "", 0
        else:
            snapshot = self._selected(store, namespace, allowed, "")
        if limit > 0 and len(snapshot) - offset > limit:
            page = snapshot[offset : offset + limit]
            ident = ident or reads.snapshots.hold(snapshot, scope)
            next_token = _cache_token(ident, offset + limit, page[-1].key)
        else:
            page, next_token = snapshot[offset:], ""
        return [await self.merged(reads, entry) for entry in page], next_token

    def _selected(
        self, store: Store[T], namespace: str | None, allowed: set[str] | None, after: str
    ) -> builtins.list[Entry[T]]:
        return [
            entry
            for entry in store.select(namespace, after)
            if entry.listed and (allowed is None or entry.namespace in allowed)
        ]

    def listed(self, objs: builtins.list[Obj]) -> builtins.list[Obj]:
        """The order of a list (Kubernetes' own unless a kind says otherwise)."""
        return objs

    def from_history(self, row: ResourceRow) -> T:
        """An API message for a deleted resource: last known spec and status, with the deletion time."""
        spec = dict(row.spec or {})
        spec.update(name=row.name, namespace=row.namespace)
        item: T = convert(spec, self.message_type)
        item = self.with_status(item, row.status)
        deleted = format_time(as_utc(row.deleted_at)) if row.deleted_at else ""
        return self.with_record(item, format_time(as_utc(row.created_at)), row.user, deleted)


def change_of(
    action: Action, resource: Resource, caller: Caller, namespace: str, name: str, body_user: str, spec: Any
) -> Change:
    """A change with who asks for it: the verified identity (or, with authentication off, the body's claim)."""
    identity = caller.identity
    return Change(
        action=action,
        resource=resource,
        namespace=namespace,
        name=name,
        user=caller.user_for(body_user),
        spec=spec,
        request_id=caller.request_id,
        groups=identity.groups,
        auth_method=identity.method,
        source_ip=caller.source_ip,
        user_agent=caller.user_agent,
        requested_user=body_user,
    )


def snapshot_of(item: ApiStruct) -> dict[str, Any]:
    """The JSON form of a request, stored as the spec snapshot of a record."""
    data: dict[str, Any] = to_builtins(item)
    return data


def observed_before(obj: Obj, spec: dict[str, Any] | None) -> Observed:
    """An object as a delete found it, for its history (objects made outside the API keep it)."""
    metadata = obj.get("metadata") or {}
    return Observed(
        uid=str(metadata.get("uid") or ""),
        resource_version=str(metadata.get("resourceVersion") or ""),
        created_at=parse_time(metadata.get("creationTimestamp")),
        owner=str((metadata.get("labels") or {}).get(USER_LABEL) or ""),
        spec=spec,
        status=obj.get("status"),
    )


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _history_token(after_id: int) -> str:
    return HISTORY_TOKEN_PREFIX + base64.urlsafe_b64encode(str(after_id).encode()).decode().rstrip("=")


def _cache_token(ident: str, offset: int, after: str) -> str:
    raw = f"{ident}|{offset}|{after}".encode()
    return CACHE_TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cache_position(token: str) -> tuple[str, int, str]:
    raw = token[len(CACHE_TOKEN_PREFIX) :]
    try:
        ident, offset, after = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split("|", 2)
        return ident, int(offset), after
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError(
            f"invalid page token {token!r}: pass back the token of the previous page"
        ) from None


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
