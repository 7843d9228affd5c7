"""The record fields of live objects (when and by whom each was created through the API), held in memory.

Loaded once per resource, then kept current by this replica's own changes. An object this replica has no record
for but that an API change wrote (it carries the intent annotation, say from another replica) is looked up in
SQL once; a miss is retried after a second, since that change may not have settled yet.
"""

from __future__ import annotations

import dataclasses
import time

from service.db.models import ResourceRow
from service.db.records import Records, as_utc
from service.schemas.base import format_time
from service.vocabulary import Resource

MISS_SECONDS = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class LiveRecord:
    uid: str
    created: str
    user: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Miss:
    uid: str
    at: float


def record_of(row: ResourceRow) -> LiveRecord:
    return LiveRecord(uid=row.uid, created=format_time(as_utc(row.created_at)), user=row.user)


class LiveRecords:
    def __init__(self, records: Records) -> None:
        self.records = records
        self._rows: dict[Resource, dict[tuple[str, str], LiveRecord | _Miss]] = {}

    async def load(self, resource: Resource) -> None:
        rows = await self.records.live(resource, None)
        self._rows[resource] = {key: record_of(row) for key, row in rows.items()}

    def loaded(self, resource: Resource) -> bool:
        return resource in self._rows

    def cached(self, resource: Resource, namespace: str, name: str, uid: str) -> LiveRecord | bool | None:
        """The record of that object; None when it has none; False when only SQL can tell."""
        found = self._rows.get(resource, {}).get((namespace, name))
        if isinstance(found, LiveRecord):
            if not found.uid or not uid or found.uid == uid:
                return found
            return False if uid else None
        if isinstance(found, _Miss) and found.uid == uid and time.monotonic() - found.at < MISS_SECONDS:
            return None
        return False

    async def lookup(self, resource: Resource, namespace: str, name: str, uid: str) -> LiveRecord | None:
        row = await self.records.get_live(resource, namespace, name)
        rows = self._rows.setdefault(resource, {})
        current = rows.get((namespace, name))
        if isinstance(current, LiveRecord) and current.uid == uid:
            return current  # this replica's own change settled while SQL was asked
        if row is None or (row.uid and uid and row.uid != uid):
            rows[(namespace, name)] = _Miss(uid, time.monotonic())
            return None
        record = record_of(row)
        rows[(namespace, name)] = record
        return record

    def put(self, resource: Resource, row: ResourceRow) -> None:
        if row.deleted_at is not None:
            self.drop(resource, row.namespace, row.name)
        else:
            self._rows.setdefault(resource, {})[(row.namespace, row.name)] = record_of(row)

    def drop(self, resource: Resource, namespace: str, name: str) -> None:
        self._rows.get(resource, {}).pop((namespace, name), None)
