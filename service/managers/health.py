"""Readiness: the database takes writes, the Kubernetes API answers, and the informers have listed once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import msgspec

from service.db.records import Records
from service.errors import ApiError
from service.kube.client import KubeClient
from service.kube.errors import KubeError
from service.managers.read_model import ReadModel


class Readiness(msgspec.Struct, frozen=True):
    ready: bool
    checks: dict[str, str]


class HealthManager:
    def __init__(
        self, kube: KubeClient, records: Records, timeout: float, reads: ReadModel | None = None
    ) -> None:
        self.kube = kube
        self.records = records
        self.timeout = timeout
        self.reads = reads

    async def readiness(self) -> Readiness:
        """Both dependencies checked at once, each within ``timeout``; a failure names the one that failed."""

        async def check(probe: Awaitable[object]) -> str:
            try:
                async with asyncio.timeout(self.timeout):
                    await probe
            except (ApiError, KubeError) as exc:
                return f"unavailable: {exc.message}"
            except TimeoutError:
                return f"unavailable: no answer within {self.timeout:g}s"
            return "ok"

        database, kubernetes = await asyncio.gather(check(self.records.ping()), check(self.kube.version()))
        checks = {"database": database, "kubernetes": kubernetes}
        if self.reads is not None:
            waiting = self.reads.unsynced()
            checks["informers"] = "ok" if not waiting else f"listing: {', '.join(waiting)}"
        return Readiness(ready=all(value == "ok" for value in checks.values()), checks=checks)
