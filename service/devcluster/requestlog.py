"""The request log: the last requests the dev cluster received, so a test can tell what reached it."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

from service.devcluster.resources import JsonObj

REQUEST_LOG_SIZE = 20_000


@dataclass(frozen=True)
class LoggedRequest:
    """One received request: its place in arrival order, its method and its raw path with the query."""

    index: int
    method: str
    path: str

    def to_json(self) -> JsonObj:
        return {"index": self.index, "method": self.method, "path": self.path}


class RequestLog:
    """A ring of the last `size` requests, indexed 0, 1, 2, ... in the order they arrived."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        if size < 1:
            raise ValueError("the request log must hold at least one request")
        self._entries: deque[LoggedRequest] = deque(maxlen=size)
        self._next = 0

    @property
    def next_index(self) -> int:
        """The index the next request will get."""
        return self._next

    def record(self, method: str, path: str) -> LoggedRequest:
        entry = LoggedRequest(self._next, method, path)
        self._entries.append(entry)
        self._next += 1
        return entry

    def since(self, index: int = 0) -> list[LoggedRequest]:
        """The kept requests whose index is `index` or later, oldest first."""
        # Indexes in the ring are consecutive, so the first wanted one sits at a known offset.
        first_kept = self._next - len(self._entries)
        return list(itertools.islice(self._entries, max(0, index - first_kept), None))
