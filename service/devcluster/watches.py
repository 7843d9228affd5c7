"""Watches: the changes they follow, the history they resume from and the events each one has waiting."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.devcluster.errors import ApiError
from service.devcluster.resources import JsonObj, ResourceType
from service.devcluster.selectors import Selector

if TYPE_CHECKING:
    from service.devcluster.store import Store

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass(frozen=True)
class Change:
    """One committed write, as kept in the watch history (stored shapes, never mutated)."""

    rv: int
    type: str
    storage: str
    key: str
    old: JsonObj | None
    new: JsonObj


class Watcher:
    """One open watch: the events waiting to be sent, filled by the store as writes commit."""

    def __init__(
        self, store: Store, rtype: ResourceType, namespace: str | None, selector: Selector, max_pending: int
    ) -> None:
        self._store = store
        self.rtype = rtype
        self.namespace = namespace
        self.selector = selector
        self._max_pending = max_pending
        self._pending: deque[JsonObj] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False

    def push(self, event: JsonObj) -> None:
        self._pending.append(event)
        self._wakeup.set()

    def offer(self, change: Change) -> None:
        """Queue the event this change means for this watch, if any."""
        if self._closed:
            return
        event = self.event_for(change)
        if event is None:
            return
        if len(self._pending) >= self._max_pending:
            # A consumer this far behind is cut off, as real Kubernetes does; it resumes from its last
            # resourceVersion out of the history.
            self.close()
            return
        self.push(event)

    def event_for(self, change: Change) -> JsonObj | None:
        """Selectors turn a MODIFIED into ADDED/DELETED when the object enters/leaves the selection."""
        if change.storage != self.rtype.storage_key:
            return None
        if self.namespace is not None and not change.key.startswith(self.namespace + "/"):
            return None
        new = self._store.present(self.rtype, change.new)
        if self.selector.empty:
            return {"type": change.type, "object": new}
        if change.type == DELETED:
            return {"type": DELETED, "object": new} if self.selector.matches(new) else None
        was = change.old is not None and self.selector.matches(self._store.present(self.rtype, change.old))
        now = self.selector.matches(new)
        if was and now:
            return {"type": MODIFIED, "object": new}
        if now:
            return {"type": ADDED, "object": new}
        if was:
            return {"type": DELETED, "object": new}
        return None

    async def next(self) -> JsonObj | None:
        """The next event, or None once the watch is closed and drained."""
        while not self._pending:
            if self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._pending.popleft()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        self._store.forget_watcher(self)


class WatchHub:
    """The recent changes a watch can resume from, and the open watches every new change goes to."""

    def __init__(self, history_size: int) -> None:
        self._history: deque[Change] = deque(maxlen=history_size)
        self._compacted_rv = 0  # changes at or before this resourceVersion have left the history
        self._watchers: set[Watcher] = set()

    def publish(self, change: Change) -> None:
        """Keep `change` in the history and queue its events on the open watches."""
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(change)
        for watcher in list(self._watchers):
            watcher.offer(change)

    def replay(self, watcher: Watcher, since: int) -> bool:
        """Queue on `watcher` the events of the changes after resourceVersion `since`.

        False if some of them have left the history: the watcher then holds a 410 ERROR and is closed.
        """
        if since < self._compacted_rv:
            message = f"too old resource version: {since} ({self._compacted_rv})"
            expired = ApiError(410, "Expired", message)
            watcher.push({"type": "ERROR", "object": expired.status()})
            watcher.close()
            return False
        for change in self._history:
            if change.rv > since and (event := watcher.event_for(change)) is not None:
                watcher.push(event)
        return True

    def add(self, watcher: Watcher) -> None:
        self._watchers.add(watcher)

    def discard(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    def close_all(self) -> None:
        for watcher in list(self._watchers):
            watcher.close()
