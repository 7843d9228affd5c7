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
from service.db.records import Action, Records, Resource
from service.errors import invalid_input_details
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeError
from service.managers.context import RequestContext
from service.managers.resources import RayResourceManager, Texts, snapshot_of
from service.managers.templates import ComputeTemplateManager
from service.managers.validation import require, validate_cluster_spec, validate_namespace
from service.schemas.cluster import Cluster
from service.schemas.common import Event

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
        events = await kube.list_events(namespace, selector)
    except KubeError:
        return grouped
    for event in events:
        regarding = event.get("regarding") or {}
        key = (event.get("metadata", {}).get("namespace", ""), regarding.get("name", ""))
        grouped[key].append(event)
    return grouped


class ClusterManager(RayResourceManager[Cluster]):
    plural = "rayclusters"
    resource = Resource.CLUSTERS
    message_type = Cluster
    texts = Texts(
        kind="Cluster",
        name_empty="Cluster name is empty. Please specify a valid value.",
        get_wrap="Get cluster failed.",
        delete_wrap="Get cluster failure",
        create_wrap="Create Cluster failed.",
        crd_kind="RayCluster",
    )

    def __init__(self, kube: KubeClient, records: Records, templates: ComputeTemplateManager) -> None:
        super().__init__(kube, records)
        self.templates = templates

    async def create(self, ctx: RequestContext, namespace: str, cluster: Cluster) -> Cluster:
        user = ctx.user_for(cluster.user)
        spec = snapshot_of(cluster)

        async def work() -> Cluster:
            wrap = "Validate create cluster request failed."
            validate_namespace(namespace, cluster.namespace, "in the cluster definition", wrap)
            require(bool(cluster.name), "Cluster name is empty. Please specify a valid value.", wrap)
            require(bool(user), "User who create the cluster is empty. Please specify a valid value.", wrap)
            validate_cluster_spec(cluster.cluster_spec, wrap)
            templates = await self.templates.resolve(namespace, cluster.cluster_spec)
            request = msgspec.structs.replace(cluster, user=user)
            try:
                body = cluster_to_cr(request, namespace, templates, dt.datetime.now(dt.UTC))
            except BuildError as exc:
                raise invalid_input_details(
                    "Failed to create a Ray cluster", str(exc), self.texts.create_wrap
                ) from None
            return await self.create_cr(ctx, namespace, cluster.name, user, body, spec)

        return await self.recorded(ctx, Action.CREATE, namespace, cluster.name, user, spec, work)

    def is_listed(self, cr: Obj) -> bool:
        # Clusters that the operator made for a RayJob or RayService belong to those, not to the cluster list.
        owners = cr.get("metadata", {}).get("ownerReferences") or []
        return not any(owner.get("kind") in _OWNER_KINDS for owner in owners)

    async def to_api(self, crs: Sequence[Obj]) -> list[Cluster]:
        if not crs:
            return []
        namespaces = {cr.get("metadata", {}).get("namespace", "") for cr in crs}
        scope = next(iter(namespaces)) if len(namespaces) == 1 else None
        only = crs[0].get("metadata", {}).get("name", "") if len(crs) == 1 else ""
        grouped = await events_by_object(self.kube, scope, "RayCluster", only)
        items = []
        for cr in crs:
            metadata = cr.get("metadata", {})
            key = (metadata.get("namespace", ""), metadata.get("name", ""))
            prefix = (metadata.get("labels") or {}).get("ray.io/cluster-name", metadata.get("name", ""))
            events: list[Event] = [event_from_kube(event, prefix) for event in grouped.get(key, [])]
            items.append(cluster_from_cr(cr, events))
        return items

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

    def snapshot(self, cr: Obj) -> dict[str, Any]:
        item = cluster_from_cr(cr, [])
        return snapshot_of(
            msgspec.structs.replace(item, cluster_state="", service_endpoint={}, created_at="")
        )
