"""One list + watch of a kind, kept running: the source of the read model and of deletion notices.

The list is read a page at a time (so a large list is never held whole, raw and decoded at once), the watch
resumes from the newest resourceVersion (bookmarks keep it fresh), a 410 Gone starts over from a new list, and
failures back off. For every (re)list the handler sees ``begin``, then ``listed`` for each page, then ``end``
(what was not listed is gone); after that ``apply`` for each change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeError, KubeGoneError
from service.metrics import INFORMER_EVENTS, INFORMER_LISTS
from service.vocabulary import Kind

log = logging.getLogger("kuberay_apiserver.informer")

PAGE = 500
MAX_BACKOFF = 30.0


class Handler(Protocol):
    def begin(self) -> None:
        """A full list starts."""

    def listed(self, objects: Iterable[Obj]) -> None:
        """One page of it."""

    def end(self, version: str) -> None:
        """It is complete (as of ``version``): objects it did not show were deleted while nobody watched."""

    def apply(self, event_type: str, obj: Obj) -> None:
        """One change: ADDED, MODIFIED or DELETED."""


def resource_version_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def newer(candidate: str, current: str) -> bool:
    """Whether resourceVersion ``candidate`` is newer than ``current`` (numeric in practice; opaque otherwise)."""
    if not current:
        return True
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return candidate != current


class Informer:
    def __init__(
        self,
        kube: KubeClient,
        kind: Kind,
        handler: Handler,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        name: str = "",
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.kind = kind
        self.handler = handler
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.name = name or kind.plural
        self.synced = asyncio.Event()
        self.connected = False
        """Whether its watch is up (after a failure, until it is again, what it holds may be behind)."""
        self.resource_version = ""
        self.relists = 0

    def __repr__(self) -> str:
        return f"Informer({self.name})"

    async def _list(self) -> None:
        token = ""
        self.handler.begin()
        while True:
            page = await self.kube.list(
                self.kind,
                self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=PAGE,
                continue_token=token,
            )
            self.handler.listed(page.get("items") or [])
            metadata = page.get("metadata") or {}
            token = str(metadata.get("continue") or "")
            if not token:
                version = str(metadata.get("resourceVersion") or "")
                break
        self.handler.end(version)
        self._advance(version)
        self.relists += 1
        INFORMER_LISTS.labels(resource=self.name).inc()
        self.synced.set()

    def _opened(self) -> None:
        self.connected = True

    def _advance(self, version: str) -> None:
        if version and newer(version, self.resource_version):
            self.resource_version = version

    async def run(self) -> None:
        """Until cancelled."""
        backoff = 1.0
        listed = False
        while True:
            try:
                if not listed:
                    await self._list()
                    listed = True
                started = asyncio.get_running_loop().time()
                async for event in self.kube.watch(
                    self.kind,
                    self.namespace,
                    resource_version=self.resource_version,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    on_open=self._opened,
                ):
                    backoff = 1.0
                    if event.type != "BOOKMARK":
                        self.handler.apply(event.type, event.object)
                        INFORMER_EVENTS.labels(resource=self.name, type=event.type).inc()
                    self._advance(resource_version_of(event.object))
                self.connected = False  # until the next watch is accepted
                if asyncio.get_running_loop().time() - started > 1.0:
                    continue  # the server ended a long watch, as it does: resume from the newest version
            except KubeGoneError:
                self.connected = False
                log.info("%r: the resourceVersion is too old; listing again", self)
                listed = False
                continue
            except KubeError as exc:
                self.connected = False
                log.warning("%r interrupted: %s", self, exc.message)
            except Exception:
                self.connected = False
                log.exception("%r failed", self)
            self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
