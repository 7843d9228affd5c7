"""The read model: every object the API serves, kept current by informers, so reads touch neither Kubernetes nor SQL.

One ``Store`` per kind holds, per object, what its manager projected from it (the converted API message without
its record fields, and a little metadata) rather than the object itself, so ten thousand clusters stay small.
Events of Ray objects are kept raw, grouped by the object they are about. A change through this replica is
applied at once (write-through), so a caller reads its own writes; the informer's later events for the same
object are ignored unless newer (resourceVersion). Deletions the informer sees, or that a relist reveals, are
passed to a callback that closes their history (the watcher of deletions made outside the API).
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import itertools
import secrets
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from service.db.records import Records
from service.identity import acting_as
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeForbiddenError
from service.kube.informer import Handler, Informer, newer, resource_version_of
from service.managers.authorization import Authorizer
from service.managers.live_records import LiveRecords
from service.vocabulary import (
    EVENTS,
    INTENT_ANNOTATION,
    RAY_CLUSTER_KIND,
    RAY_SERVICE_KIND,
    USER_LABEL,
    Kind,
    Resource,
)

T = TypeVar("T")

SNAPSHOT_SECONDS = 300.0
SNAPSHOTS = 64


def key_of(namespace: str, name: str) -> str:
    """The order Kubernetes lists in (its storage keys): byte order of ``namespace/name``."""
    return f"{namespace}/{name}"


@dataclasses.dataclass(slots=True)
class Entry(Generic[T]):
    """One object as the API needs it."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    intent: str
    """The id of the API change that last wrote it (its annotation); empty for objects made elsewhere."""
    created: str
    deleted: str
    owner: str
    listed: bool
    item: T
    """The API message without record fields (and, for clusters, without events)."""
    raw: Obj | None = None
    """The object itself, for kinds whose message depends on other objects at read time (services)."""
    encoded: Any = None
    """A ready answer derived from the entry (set and cleared by the managers)."""

    @property
    def key(self) -> str:
        return key_of(self.namespace, self.name)


Project = Callable[[Obj], Entry[Any]]
Gone = Callable[[Obj], None]
SortKey = Callable[[str, str], Any]


def meta(obj: Obj) -> tuple[str, str, str, str, str, str, str, str]:
    metadata = obj.get("metadata") or {}
    return (
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
        str(metadata.get("uid") or ""),
        str(metadata.get("resourceVersion") or ""),
        str((metadata.get("annotations") or {}).get(INTENT_ANNOTATION) or ""),
        str(metadata.get("creationTimestamp") or ""),
        str(metadata.get("deletionTimestamp") or ""),
        str((metadata.get("labels") or {}).get(USER_LABEL) or ""),
    )


class Store(Generic[T]):
    """The objects of one kind, an informer's handler."""

    def __init__(self, name: str, project: Project, gone: Gone | None = None, sort: SortKey = key_of) -> None:
        self.name = name
        self._project = project
        self._gone = gone
        self._sort = sort
        self.entries: dict[str, Entry[T]] = {}
        self._tombstones: dict[str, str] = {}
        """Keys deleted through this replica -> the resourceVersion they had: older events are stale."""
        self._listing: set[str] | None = None
        self._order: tuple[list[Any], list[str]] | None = None
        self.version = 0
        """Bumped on every change, so derived answers know when to rebuild."""
        self.listeners: list[Callable[[str], None]] = []

    # -- the informer's side -----------------------------------------------------------------------------------

    def begin(self) -> None:
        self._listing = set()

    def listed(self, objects: Iterable[Obj]) -> None:
        for obj in objects:
            self._upsert(obj)
            if self._listing is not None:
                namespace, name = meta(obj)[:2]
                self._listing.add(key_of(namespace, name))

    def end(self, version: str) -> None:
        """What the list (at ``version``) did not show is gone, unless this replica wrote it after that."""
        seen, self._listing = self._listing or set(), None
        vanished = [
            key
            for key, entry in self.entries.items()
            if key not in seen and not newer(entry.resource_version, version)
        ]
        for key in vanished:
            entry = self.entries.pop(key)
            self._order = None
            self._changed(key)
            if self._gone is not None:
                self._gone({"metadata": {"namespace": entry.namespace, "name": entry.name, "uid": entry.uid}})
        self._tombstones = {k: v for k, v in self._tombstones.items() if newer(v, version)}

    def apply(self, event_type: str, obj: Obj) -> None:
        if event_type == "DELETED":
            self._remove(obj)
            if self._gone is not None:
                self._gone(obj)
        else:
            self._upsert(obj)

    # -- this replica's own writes -----------------------------------------------------------------------------

    def wrote(self, obj: Obj) -> None:
        """An object Kubernetes just answered a create or update with."""
        self._upsert(obj)

    def deleted(self, obj: Obj) -> None:
        """An object this replica just deleted (as it was before)."""
        self._remove(obj)

    # -- reads -------------------------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Entry[T] | None:
        return self.entries.get(key_of(namespace, name))

    def _ordered(self) -> tuple[list[Any], list[str]]:
        if self._order is None:
            pairs = sorted((self._sort(e.namespace, e.name), key) for key, e in self.entries.items())
            self._order = ([sort for sort, _ in pairs], [key for _, key in pairs])
        return self._order

    def select(self, namespace: str | None, after: str = "") -> Iterator[Entry[T]]:
        """Entries in list order (of one namespace, or all), starting after the entry of key ``after``."""
        sorts, keys = self._ordered()
        position = 0
        if namespace is not None:
            position = bisect.bisect_left(sorts, self._sort(namespace, ""))
        if after:
            after_namespace, _, after_name = after.partition("/")
            position = max(position, bisect.bisect_right(sorts, self._sort(after_namespace, after_name)))
        for key in itertools.islice(keys, position, None):
            entry = self.entries.get(key)
            if entry is None:
                continue
            if namespace is not None and entry.namespace != namespace:
                break
            yield entry

    def namespaces(self) -> set[str]:
        return {entry.namespace for entry in self.entries.values()}

    # -- internals ---------------------------------------------------------------------------------------------

    def _upsert(self, obj: Obj) -> None:
        namespace, name, uid, version = meta(obj)[:4]
        key = key_of(namespace, name)
        current = self.entries.get(key)
        if current is not None and current.uid == uid and not newer(version, current.resource_version):
            return
        stale = self._tombstones.get(key)
        if stale is not None:
            if not newer(version, stale):
                return  # an event from before this replica deleted it
            del self._tombstones[key]
        self.entries[key] = self._project(obj)
        if current is None:
            self._order = None
        self._changed(key)

    def _remove(self, obj: Obj) -> None:
        namespace, name, uid, version = meta(obj)[:4]
        key = key_of(namespace, name)
        current = self.entries.get(key)
        if current is not None and (not uid or current.uid == uid):
            del self.entries[key]
            self._order = None
            self._changed(key)
        if version:
            self._tombstones[key] = version

    def _changed(self, key: str) -> None:
        self.version += 1
        for listener in self.listeners:
            listener(key)


class EventIndex:
    """Events of one kind of Ray object, by the (namespace, name) they are about; an informer's handler."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._events: dict[str, Obj] = {}
        self._by_object: dict[tuple[str, str], dict[str, Obj]] = defaultdict(dict)
        self._listing: set[str] | None = None
        self.listeners: list[Callable[[tuple[str, str]], None]] = []

    def about(self, namespace: str, name: str) -> list[Obj]:
        """The events of one object, oldest first (as Kubernetes lists them)."""
        found = self._by_object.get((namespace, name))
        if not found:
            return []
        return [found[key] for key in sorted(found)]

    def begin(self) -> None:
        self._listing = set()

    def listed(self, objects: Iterable[Obj]) -> None:
        for obj in objects:
            key = self._put(obj)
            if self._listing is not None:
                self._listing.add(key)

    def end(self, version: str) -> None:
        seen, self._listing = self._listing or set(), None
        for key in [key for key in self._events if key not in seen]:
            self._drop(key)

    def apply(self, event_type: str, obj: Obj) -> None:
        if event_type == "DELETED":
            self._drop(_event_key(obj))
        else:
            self._put(obj)

    def _put(self, obj: Obj) -> str:
        key = _event_key(obj)
        previous = self._events.get(key)
        if previous is not None and not newer(resource_version_of(obj), resource_version_of(previous)):
            return key
        self._events[key] = obj
        about = _about(obj)
        self._by_object[about][key] = obj
        self._notify(about)
        return key

    def _drop(self, key: str) -> None:
        obj = self._events.pop(key, None)
        if obj is None:
            return
        about = _about(obj)
        group = self._by_object.get(about)
        if group is not None:
            group.pop(key, None)
            if not group:
                del self._by_object[about]
        self._notify(about)

    def _notify(self, about: tuple[str, str]) -> None:
        for listener in self.listeners:
            listener(about)


def _event_key(obj: Obj) -> str:
    metadata = obj.get("metadata") or {}
    return key_of(str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


def _about(obj: Obj) -> tuple[str, str]:
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    return namespace, str((obj.get("regarding") or {}).get("name") or "")


@dataclasses.dataclass(slots=True)
class Snapshot:
    entries: list[Any]
    scope: str
    """Who listed what: a token only continues the list it came from, for the caller it came to."""
    made: float


class Snapshots:
    """The entries of paged lists in progress (entries are replaced, never changed), so every page of a list
    shows the same moment."""

    def __init__(self) -> None:
        self._held: OrderedDict[str, Snapshot] = OrderedDict()
        self._ids = itertools.count(1)
        self._salt = secrets.token_hex(6)

    def hold(self, entries: list[Any], scope: str) -> str:
        now = time.monotonic()
        while self._held and (
            len(self._held) >= SNAPSHOTS or now - next(iter(self._held.values())).made > SNAPSHOT_SECONDS
        ):
            self._held.popitem(last=False)
        ident = f"{self._salt}-{next(self._ids)}"
        self._held[ident] = Snapshot(entries, scope, now)
        return ident

    def find(self, ident: str, scope: str) -> list[Any] | None:
        held = self._held.get(ident)
        return held.entries if held is not None and held.scope == scope else None


class ReadModel:
    """The stores of every kind the API serves, the events of Ray objects, the live records and the informers."""

    def __init__(
        self,
        kube: KubeClient,
        records: Records,
        authorizer: Authorizer | None,
        *,
        serving: bool = True,
        namespace: str | None = None,
    ) -> None:
        self.kube = kube
        self.serving = serving
        self.namespace = namespace
        """The one namespace watched (None: all)."""
        self.records = LiveRecords(records)
        self.authorizer = authorizer
        self.snapshots = Snapshots()
        self.stores: dict[Resource, Store[Any]] = {}
        self.events = {kind: EventIndex(kind) for kind in (RAY_CLUSTER_KIND, RAY_SERVICE_KIND)}
        self._sources: list[tuple[Resource | None, Kind, Handler, str, str, str]] = []
        self.informers: list[Informer] = []
        for kind, index in self.events.items():
            self._sources.append((None, EVENTS, index, "", f"regarding.kind={kind}", f"events-{kind}"))

    def add(
        self,
        resource: Resource,
        kind: Kind,
        project: Project,
        *,
        label_selector: str = "",
        gone: Gone | None = None,
        sort: SortKey = key_of,
    ) -> Store[Any]:
        store: Store[Any] = Store(str(resource), project, gone, sort)
        self.stores[resource] = store
        self._sources.append((resource, kind, store, label_selector, "", str(resource)))
        return store

    async def start(self) -> list[asyncio.Task[None]]:
        """Load the live records, then run one informer per source (until the tasks are cancelled)."""
        for resource in self.stores:
            await self.records.load(resource)
        self.informers = [
            Informer(
                self.kube,
                kind,
                handler,
                namespace=self.namespace,
                label_selector=labels,
                field_selector=fields,
                name=name,
            )
            for _, kind, handler, labels, fields, name in self._sources
        ]
        return [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in self.informers]

    def synced(self) -> bool:
        return bool(self.informers) and all(i.synced.is_set() for i in self.informers)

    def covers(self, namespace: str | None) -> bool:
        """Whether reads of ``namespace`` (None: every namespace) can be served from here."""
        return self.namespace is None or namespace == self.namespace

    def ready(self) -> bool:
        """Whether reads are served from here: every informer has listed once and is watching. Otherwise (at
        start, or while Kubernetes is unreachable) reads go to Kubernetes, so they are never silently stale."""
        return (
            self.serving
            and all(i.synced.is_set() and i.connected for i in self.informers)
            and bool(self.informers)
        )

    def unsynced(self) -> list[str]:
        return (
            [i.name for i in self.informers if not i.synced.is_set()] if self.informers else ["not started"]
        )

    # -- authorization ----------------------------------------------------------------------------------------

    async def may(self, verb: str, kind: Kind, namespace: str) -> bool:
        """Whether the caller of this request may ``verb`` ``kind`` in ``namespace`` ("" for all), as Kubernetes
        would decide it had the request gone there; without authentication, Kubernetes is asked as the service."""
        identity = acting_as()
        if identity is None or self.authorizer is None:
            return True
        return await self.authorizer.may(identity, verb, kind.group, kind.plural, namespace)

    async def visible(self, kind: Kind, namespace: str | None, store: Store[Any]) -> set[str] | None:
        """The namespaces the caller may list (None: any); a namespace it may not list raises ``KubeForbiddenError``."""
        if namespace is not None:
            if not await self.may("list", kind, namespace):
                raise forbidden(kind, "list", namespace, "")
            return None
        if await self.may("list", kind, ""):
            return None
        namespaces = sorted(store.namespaces())
        allowed = await asyncio.gather(*(self.may("list", kind, ns) for ns in namespaces))
        return {ns for ns, ok in zip(namespaces, allowed, strict=True) if ok}


def forbidden(kind: Kind, verb: str, namespace: str, name: str) -> KubeForbiddenError:
    """The refusal Kubernetes would have answered, in its words."""
    identity = acting_as()
    user = identity.user if identity is not None else ""
    resource = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
    what = f'{resource} "{name}"' if name else resource
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = (
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{kind.plural}" in API group '
        f'"{kind.group}"{scope}'
    )
    refusal = KubeForbiddenError(403, "Forbidden", message)
    refusal.verb, refusal.resource, refusal.namespace = verb, kind.plural, namespace
    return refusal


def not_found_message(kind: Kind, name: str) -> str:
    resource = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
    return f'{resource} "{name}" not found'
