"""Open watches: the committed changes they follow and the events each one has waiting."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
