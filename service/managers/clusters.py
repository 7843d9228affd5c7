"""RayClusters."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec

from service.converters.cluster import cluster_from_cr, cluster_to_cr
from service.converters.errors import BuildError
from service.converters.events import event_from_kube
from service.db.records import Records
from service.errors import invalid_input_details
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeError
from service.managers.cluster_updates import apply_update
from service.managers.context import Caller
from service.managers.lifecycle import Lifecycle
from service.managers.read_model import Entry, ReadModel
from service.managers.resources import ResourceManager, T, snapshot_of
from service.managers.templates import ComputeTemplateManager
from service.managers.validation import require, validate_cluster_spec, validate_namespace
from service.schemas.cluster import Cluster
from service.schemas.common import Event
from service.schemas.updates import ClusterUpdate
from service.vocabulary import CLUSTER_NAME_LABEL, EVENTS, RAY_CLUSTER_KIND, RAY_CLUSTERS, Resource

_OWNER_KINDS = {"RayJob", "RayService"}


async def events_by_object(
    kube: KubeClient, namespace: str | None, kind: str, name: str = ""
) -> dict[tuple[str, str], list[Obj]]:
    """Events about objects of ``kind`` (or the one named), fetched in one call, grouped by (namespace, name).

    Event lookup failures never fail the request (as upstream): the objects are shown without events.
    """
    grouped: dict[tuple[str, str], list[Obj]] = defaultdict(list)
    selector = f"regarding.kind={kind},regarding.name={name}" if name else f"regarding.kind={kind}"
    try:
        events = (await kube.list(EVENTS, namespace, field_selector=selector)).get("items") or []
    except KubeError:
        return grouped
    for event in events:
        regarding = event.get("regarding") or {}
        key = (event.get("metadata", {}).get("namespace", ""), regarding.get("name", ""))
        grouped[key].append(event)
    return grouped


class RayResourceManager(ResourceManager[T]):
    """Clusters, jobs and services: created from compute templates."""

    def __init__(
        self, kube: KubeClient, records: Records, lifecycle: Lifecycle, templates: ComputeTemplateManager
    ) -> None:
        super().__init__(kube, records, lifecycle)
        self.templates = templates

    def validate_common(self, namespace: str, message: Any, user: str, wrap: str) -> None:
        """Upstream's first rules for a create: namespace, name, user."""
        validate_namespace(namespace, message.namespace, self.texts.namespace_mismatch, wrap)
        require(bool(message.name), self.texts.body_name_empty, wrap)
        self.check_name(message.name, wrap)
        require(bool(user), self.texts.user_empty, wrap)

    def build_failed(self, exc: BuildError) -> Exception:
        return invalid_input_details(self.texts.build_failed, str(exc), self.texts.create_wrap)


class ClusterManager(RayResourceManager[Cluster]):
    resource = Resource.CLUSTERS
    kind = RAY_CLUSTERS
    message_type = Cluster

    async def build(self, namespace: str, message: Cluster, user: str, legacy: bool) -> Obj:
        wrap = self.texts.validate_wrap
        self.validate_common(namespace, message, user, wrap)
        spec = validate_cluster_spec(message.cluster_spec, wrap, legacy=legacy)
        templates = await self.templates.resolve(namespace, spec)
        request = msgspec.structs.replace(message, user=user, cluster_spec=spec)
        try:
            return cluster_to_cr(request, namespace, templates, dt.datetime.now(dt.UTC))
        except BuildError as exc:
            raise self.build_failed(exc) from None

    async def update(self, caller: Caller, namespace: str, name: str, patch: ClusterUpdate | None) -> Cluster:
        """Scale, add or remove worker groups (see ``cluster_updates``), audited with old and new values."""
        patch = patch or ClusterUpdate()

        async def edit(obj: Obj) -> Obj:
            return await apply_update(
                obj, patch, lambda spec: self.templates.resolve(namespace, spec), dt.datetime.now(dt.UTC)
            )

        return await self.revise(caller, namespace, name, snapshot_of(patch), patch.resource_version, edit)

    def is_listed(self, obj: Obj) -> bool:
        # Clusters that the operator made for a RayJob or RayService belong to those, not to the cluster list.
        owners = obj.get("metadata", {}).get("ownerReferences") or []
        return not any(owner.get("kind") in _OWNER_KINDS for owner in owners)

    async def to_api(self, objs: Sequence[Obj]) -> list[Cluster]:
        if not objs:
            return []
        namespaces = {obj.get("metadata", {}).get("namespace", "") for obj in objs}
        scope = next(iter(namespaces)) if len(namespaces) == 1 else None
        only = objs[0].get("metadata", {}).get("name", "") if len(objs) == 1 else ""
        grouped = await events_by_object(self.kube, scope, RAY_CLUSTER_KIND, only)
        items = []
        for obj in objs:
            metadata = obj.get("metadata", {})
            key = (metadata.get("namespace", ""), metadata.get("name", ""))
            prefix = (metadata.get("labels") or {}).get(CLUSTER_NAME_LABEL, metadata.get("name", ""))
            events: list[Event] = [event_from_kube(event, prefix) for event in grouped.get(key, [])]
            items.append(cluster_from_cr(obj, events))
        return items

    def convert(self, obj: Obj) -> Cluster:
        return cluster_from_cr(obj, [])

    def keep_raw(self, obj: Obj) -> Obj | None:
        metadata = obj.get("metadata", {})
        prefix = (metadata.get("labels") or {}).get(CLUSTER_NAME_LABEL, metadata.get("name", ""))
        return {"prefix": prefix} if prefix != metadata.get("name", "") else None

    def compose(self, entry: Entry[Cluster]) -> Cluster:
        assert self.reads is not None
        events = self.reads.events[RAY_CLUSTER_KIND].about(entry.namespace, entry.name)
        if not events:
            return entry.item
        prefix = str((entry.raw or {}).get("prefix") or entry.name)
        return msgspec.structs.replace(entry.item, events=[event_from_kube(e, prefix) for e in events])

    def attach(self, reads: ReadModel, **options: Any) -> None:
        super().attach(reads, **options)
        store = self.store
        assert store is not None

        def events_changed(about: tuple[str, str]) -> None:
            entry = store.get(*about)
            if entry is not None:
                entry.encoded = None

        reads.events[RAY_CLUSTER_KIND].listeners.append(events_changed)

    def with_record(self, item: Cluster, created_at: str, user: str, deleted_at: str) -> Cluster:
        return msgspec.structs.replace(item, created_at=created_at, user=user, deleted_at=deleted_at)

    def with_status(self, item: Cluster, status: dict[str, Any] | None) -> Cluster:
        if not status:
            return item
        return msgspec.structs.replace(
            item,
            cluster_state=str(status.get("state") or ""),
            service_endpoint={str(k): str(v) for k, v in (status.get("endpoints") or {}).items()},
        )

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        item = cluster_from_cr(obj, [])
        return snapshot_of(
            msgspec.structs.replace(item, cluster_state="", service_endpoint={}, created_at="")
        )
