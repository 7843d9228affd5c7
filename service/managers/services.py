"""RayServices, including full-replace updates with optimistic concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import yaml

from service import names
from service.converters.cluster import format_go_time
from service.converters.errors import BuildError
from service.converters.events import event_from_kube
from service.converters.service import (
    serve_graph_to_config_v2,
    service_from_cr,
    service_to_cr,
    service_update_cr,
)
from service.errors import AbortedError, ApiError, invalid_input, invalid_input_details, not_found
from service.kube.client import Obj
from service.kube.errors import KubeConflictError, KubeError, KubeNotFoundError
from service.managers.cluster_updates import check_bounds
from service.managers.clusters import RayResourceManager, events_by_object
from service.managers.context import Caller
from service.managers.kube_errors import api_error
from service.managers.lifecycle import Write
from service.managers.read_model import Entry
from service.managers.resources import snapshot_of
from service.managers.texts import SERVICE_BODY_EMPTY, UPDATE_NAME_EMPTY
from service.managers.validation import require, validate_cluster_spec, validate_namespace
from service.schemas.common import Event
from service.schemas.service import RayService
from service.schemas.updates import ServiceConfigsUpdate
from service.vocabulary import (
    RAY_CLUSTER_KIND,
    RAY_CLUSTERS,
    RAY_SERVICE_KIND,
    RAY_SERVICES,
    UPDATE_TIMESTAMP_ANNOTATION,
    Action,
    Resource,
)

UPDATE_WRAP = "Update ray service failed."


class ServiceManager(RayResourceManager[RayService]):
    resource = Resource.SERVICES
    kind = RAY_SERVICES
    message_type = RayService

    async def build(self, namespace: str, message: RayService, user: str, legacy: bool) -> Obj:
        wrap = self.texts.validate_wrap
        self.validate_common(namespace, message, user, wrap)
        spec = validate_cluster_spec(message.cluster_spec, wrap, legacy=legacy)
        templates = await self.templates.resolve(namespace, spec)
        request = msgspec.structs.replace(message, user=user, cluster_spec=spec)
        try:
            return service_to_cr(request, namespace, templates, dt.datetime.now(dt.UTC))
        except BuildError as exc:
            raise self.build_failed(exc) from None

    async def update(
        self, caller: Caller, namespace: str, name: str, message: RayService | None, *, legacy: bool = False
    ) -> RayService:
        """Replace the service's spec; a concurrent change in between makes this one fail with ABORTED."""
        user = caller.user_for(message.user if message is not None else "")
        body_user = message.user if message is not None else ""
        change = self.change(
            Action.UPDATE, caller, namespace, name, body_user, snapshot_of(message) if message else None
        )

        async def prepare() -> Write:
            if message is None:  # gRPC without a service message: upstream checks this before anything else
                raise invalid_input(SERVICE_BODY_EMPTY)
            wrap = "Validate update service request failed."
            require(bool(name), UPDATE_NAME_EMPTY, wrap)
            validate_namespace(namespace, message.namespace, self.texts.namespace_mismatch, wrap)
            require(bool(message.name), self.texts.body_name_empty, wrap)
            self.check_name(name, wrap)
            require(bool(user), "User who updated the Service is empty. Please specify a valid value.", wrap)
            spec = validate_cluster_spec(message.cluster_spec, wrap, legacy=legacy)
            # Upstream silently uses the body's name; a mismatch is almost certainly a client bug.
            require(
                message.name == name,
                f"The name in the request ({message.name}) is different from the name in the path ({name}).",
                wrap,
            )
            try:
                existing = await self.kube.get(self.kind, namespace, name)
            except KubeNotFoundError as exc:
                raise not_found(
                    f"Update service fail, no service named: {name}", UPDATE_WRAP, exc.message
                ) from None
            except KubeError as exc:
                raise api_error(exc, UPDATE_WRAP) from None
            templates = await self.templates.resolve(namespace, spec)
            request = msgspec.structs.replace(message, user=user, cluster_spec=spec)
            try:
                body = service_update_cr(request, namespace, templates, dt.datetime.now(dt.UTC), existing)
            except BuildError as exc:
                raise invalid_input_details("Failed to update a Ray Service", str(exc), UPDATE_WRAP) from None
            return Write(
                verb="update",
                kind=self.kind,
                namespace=namespace,
                name=name,
                body=body,
                previous_resource_version=str((existing.get("metadata") or {}).get("resourceVersion") or ""),
                previous=self.snapshot(existing),
                explain=lambda exc: self.update_error(exc, namespace, name),
            )

        applied = await self.lifecycle.run(change, prepare)
        self.remember(applied)
        result: RayService = await self.answer(applied, user)
        return result

    async def update_configs(
        self, caller: Caller, namespace: str, name: str, patch: ServiceConfigsUpdate | None
    ) -> RayService:
        """Scale worker groups of the service's cluster and/or replace its serve configuration."""
        patch = patch or ServiceConfigsUpdate()

        async def edit(obj: Obj) -> Obj:
            apply_configs_update(obj.setdefault("spec", {}), patch)
            metadata = obj.setdefault("metadata", {})
            metadata["annotations"] = {
                **(metadata.get("annotations") or {}),
                UPDATE_TIMESTAMP_ANNOTATION: format_go_time(dt.datetime.now(dt.UTC)),
            }
            return obj

        result: RayService = await self.revise(
            caller, namespace, name, snapshot_of(patch), patch.resource_version, edit
        )
        return result

    def update_error(self, exc: KubeError, namespace: str, name: str) -> ApiError:
        if isinstance(exc, KubeConflictError):
            return AbortedError(
                f"RayService {namespace}/{name} was changed by someone else while this update was applied; "
                f"read it again and retry: {exc.message}"
            )
        if isinstance(exc, KubeNotFoundError):
            return not_found(f"Service {name} not found", UPDATE_WRAP, exc.message)
        return api_error(exc, f"Failed to update service for ({namespace}/{name})")

    async def to_api(self, objs: Sequence[Obj]) -> list[RayService]:
        if not objs:
            return []
        namespaces = {obj.get("metadata", {}).get("namespace", "") for obj in objs}
        scope = next(iter(namespaces)) if len(namespaces) == 1 else None
        service_events, cluster_events = await asyncio.gather(
            events_by_object(self.kube, scope, RAY_SERVICE_KIND),
            events_by_object(self.kube, scope, RAY_CLUSTER_KIND),
        )
        clusters = await self._active_clusters(objs, scope)
        items = []
        for obj, cluster in zip(objs, clusters, strict=True):
            metadata = obj.get("metadata", {})
            namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
            own = [event_from_kube(e, name) for e in service_events.get((namespace, name), [])]
            active = _active_cluster_name(obj)
            theirs = (
                [event_from_kube(e, name) for e in cluster_events.get((namespace, active), [])]
                if active
                else []
            )
            items.append(service_from_cr(obj, own, cluster, theirs))
        return items

    async def _active_clusters(self, objs: Sequence[Obj], scope: str | None) -> list[Obj | None]:
        """The active RayCluster of each service: one GET for a single service, one LIST for a page."""
        wanted = [(obj["metadata"].get("namespace", ""), _active_cluster_name(obj)) for obj in objs]
        if not any(name for _, name in wanted):
            return [None] * len(objs)
        if len(objs) == 1:
            namespace, name = wanted[0]
            try:
                return [await self.kube.get(RAY_CLUSTERS, namespace, name)]
            except KubeError:
                return [
                    None
                ]  # the status still names it, but it is gone or unreadable: show the service anyway
        try:
            listed = await self.kube.list(RAY_CLUSTERS, scope)
        except KubeError:
            return [None] * len(objs)
        by_key = {
            (c["metadata"].get("namespace", ""), c["metadata"].get("name", "")): c
            for c in listed.get("items") or []
        }
        return [by_key.get(key) if key[1] else None for key in wanted]

    cacheable = False  # its message shows its active cluster and that cluster's events

    def convert(self, obj: Obj) -> RayService:
        return service_from_cr(obj, [], None, [])

    def keep_raw(self, obj: Obj) -> Obj | None:
        return obj

    def compose(self, entry: Entry[RayService]) -> RayService:
        reads = self.reads
        assert reads is not None and entry.raw is not None
        obj, namespace, name = entry.raw, entry.namespace, entry.name
        own = [event_from_kube(e, name) for e in reads.events[RAY_SERVICE_KIND].about(namespace, name)]
        active = _active_cluster_name(obj)
        cluster: Obj | None = None
        theirs: list[Event] = []
        if active:
            clusters = reads.stores.get(Resource.CLUSTERS)
            found = clusters.get(namespace, active) if clusters is not None else None
            if found is not None:
                cluster = {
                    "status": {"state": found.item.cluster_state, "endpoints": found.item.service_endpoint}
                }
            theirs = [
                event_from_kube(e, name) for e in reads.events[RAY_CLUSTER_KIND].about(namespace, active)
            ]
        return service_from_cr(obj, own, cluster, theirs)

    def with_record(self, item: RayService, created_at: str, user: str, deleted_at: str) -> RayService:
        return msgspec.structs.replace(item, created_at=created_at, user=user, delete_at=deleted_at)

    def with_status(self, item: RayService, status: dict[str, Any] | None) -> RayService:
        if not status:
            return item
        (converted,) = [service_from_cr({"status": status}, [], None, [])]
        return msgspec.structs.replace(item, ray_service_status=converted.ray_service_status)

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        return snapshot_of(service_from_cr({**obj, "status": {}}, [], None, []))


def _active_cluster_name(obj: Obj) -> str:
    return str(((obj.get("status") or {}).get("activeServiceStatus") or {}).get("rayClusterName") or "")


CONFIGS_WRAP = "Validate update service configs request failed."


def apply_configs_update(spec: dict[str, Any], patch: ServiceConfigsUpdate) -> None:
    """A RayService ``spec`` with new worker replica bounds and/or serve configuration."""
    require(
        bool(patch.worker_group_update_spec or patch.serve_config_v2 or patch.serve_deployment_graph_spec),
        "Nothing to update: give workerGroupUpdateSpec (groups to scale, by groupName), serveConfigV2 or "
        "serveDeploymentGraphSpec.",
        CONFIGS_WRAP,
    )
    require(
        not (patch.serve_config_v2 and patch.serve_deployment_graph_spec is not None),
        "Give either serveConfigV2 or serveDeploymentGraphSpec (which is translated into serveConfigV2), not both.",
        CONFIGS_WRAP,
    )
    config = patch.serve_config_v2
    if patch.serve_deployment_graph_spec is not None:
        try:
            config = serve_graph_to_config_v2(patch.serve_deployment_graph_spec)
        except BuildError as exc:
            raise invalid_input_details("Failed to update a Ray Service", str(exc), CONFIGS_WRAP) from None
    if config:
        try:
            parsed = yaml.safe_load(config)
        except yaml.YAMLError as exc:
            raise invalid_input(f"serveConfigV2 is not valid YAML: {exc}", CONFIGS_WRAP) from None
        require(
            isinstance(parsed, dict),
            "serveConfigV2 must be a YAML mapping (with applications).",
            CONFIGS_WRAP,
        )
        spec["serveConfigV2"] = config
    cluster = spec.setdefault("rayClusterConfig", {})
    groups = {str(g.get("groupName") or ""): g for g in cluster.get("workerGroupSpecs") or []}
    seen: set[str] = set()
    for update in patch.worker_group_update_spec:
        require(
            update.group_name in groups,
            f"Worker group {names.shown(update.group_name)} does not exist in the service's cluster (its worker "
            f"groups: {', '.join(groups) or 'none'}): scale only existing groups.",
            CONFIGS_WRAP,
        )
        require(
            update.group_name not in seen,
            f"Worker group {update.group_name} is given twice in workerGroupUpdateSpec: give each group once.",
            CONFIGS_WRAP,
        )
        seen.add(update.group_name)
        group = groups[update.group_name]
        for value, key in (
            (update.replicas, "replicas"),
            (update.min_replicas, "minReplicas"),
            (update.max_replicas, "maxReplicas"),
        ):
            if value is None:
                continue
            require(
                value >= 0,
                f"Worker group {update.group_name}: {key} can not be negative ({value}). Please specify a valid value.",
                CONFIGS_WRAP,
            )
            group[key] = value
        check_bounds(group)
