"""RayServices, including full-replace updates with optimistic concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from service.converters.errors import BuildError
from service.converters.events import event_from_kube
from service.converters.service import service_from_cr, service_to_cr, service_update_cr
from service.db.records import Action, Records, Resource, as_utc
from service.errors import AbortedError, invalid_input, invalid_input_details, not_found
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeConflictError, KubeError, KubeNotFoundError
from service.managers.clusters import events_by_object
from service.managers.context import RequestContext
from service.managers.kube_errors import api_error
from service.managers.resources import RayResourceManager, Texts, snapshot_of
from service.managers.templates import ComputeTemplateManager
from service.managers.validation import require, validate_cluster_spec, validate_namespace
from service.schemas.base import format_time
from service.schemas.service import RayService


class ServiceManager(RayResourceManager[RayService]):
    plural = "rayservices"
    resource = Resource.SERVICES
    message_type = RayService
    texts = Texts(
        kind="Service",
        name_empty="ray service name is empty. Please specify a valid value.",
        get_wrap="get ray service failed",
        delete_wrap="delete ray service failure",
        create_wrap="Create ray service failed.",
        crd_kind="RayService",
    )

    def __init__(self, kube: KubeClient, records: Records, templates: ComputeTemplateManager) -> None:
        super().__init__(kube, records)
        self.templates = templates

    def _validate(self, namespace: str, service: RayService, user: str, wrap: str, updating: bool) -> None:
        validate_namespace(namespace, service.namespace, "in the service definition", wrap)
        require(bool(service.name), "Service name is empty. Please specify a valid value.", wrap)
        who = "updated" if updating else "created"
        require(bool(user), f"User who {who} the Service is empty. Please specify a valid value.", wrap)
        validate_cluster_spec(service.cluster_spec, wrap)

    async def create(self, ctx: RequestContext, namespace: str, service: RayService) -> RayService:
        user = ctx.user_for(service.user)
        spec = snapshot_of(service)

        async def work() -> RayService:
            self._validate(
                namespace, service, user, "Validate create service request failed.", updating=False
            )
            templates = await self.templates.resolve(namespace, service.cluster_spec)
            request = msgspec.structs.replace(service, user=user)
            try:
                body = service_to_cr(request, namespace, templates, dt.datetime.now(dt.UTC))
            except BuildError as exc:
                raise invalid_input_details(
                    "Failed to create a Ray Service", str(exc), self.texts.create_wrap
                ) from None
            return await self.create_cr(ctx, namespace, service.name, user, body, spec)

        return await self.recorded(ctx, Action.CREATE, namespace, service.name, user, spec, work)

    async def update(self, ctx: RequestContext, namespace: str, name: str, service: RayService) -> RayService:
        """Replace the service's spec; a concurrent change in between makes this one fail with ABORTED."""
        user = ctx.user_for(service.user)
        spec = snapshot_of(service)

        async def work() -> RayService:
            wrap = "Validate update service request failed."
            if not name:
                raise invalid_input("Name is empty. Please specify a valid value.", wrap)
            self._validate(namespace, service, user, wrap, updating=True)
            # Upstream silently uses the body's name; a mismatch is almost certainly a client bug.
            require(
                service.name == name,
                f"The name in the request ({service.name}) is different from the name in the path ({name}).",
                wrap,
            )
            try:
                existing = await self.kube.get_ray(self.plural, namespace, name)
            except KubeNotFoundError as exc:
                message = f"Update service fail, no service named: {name} "
                raise not_found(message.strip(), "Update ray service failed.", exc.message) from None
            except KubeError as exc:
                raise api_error(exc, "Update ray service failed.") from None
            templates = await self.templates.resolve(namespace, service.cluster_spec)
            request = msgspec.structs.replace(service, user=user)
            try:
                body = service_update_cr(request, namespace, templates, dt.datetime.now(dt.UTC), existing)
            except BuildError as exc:
                raise invalid_input_details(
                    "Failed to update a Ray Service", str(exc), "Update ray service failed."
                ) from None
            try:
                updated = await self.kube.replace_ray(self.plural, namespace, name, body)
            except KubeConflictError as exc:
                raise AbortedError(
                    f"RayService {namespace}/{name} was changed by someone else while this update was applied; "
                    f"read it again and retry: {exc.message}"
                ) from None
            except KubeNotFoundError as exc:
                raise not_found(
                    f"Service {name} not found", "Update ray service failed.", exc.message
                ) from None
            except KubeError as exc:
                raise api_error(exc, f"Failed to update service for ({namespace}/{name})") from None
            row = await self.records.success(
                action=Action.UPDATE,
                resource=self.resource,
                namespace=namespace,
                name=name,
                user=user,
                spec=spec,
                uid=updated.get("metadata", {}).get("uid", ""),
                request_id=ctx.request_id,
            )
            (item,) = await self.to_api([updated])
            return self.with_record(item, format_time(as_utc(row.created_at)), row.user, "")

        return await self.recorded(ctx, Action.UPDATE, namespace, name, user, spec, work)

    async def to_api(self, crs: Sequence[Obj]) -> list[RayService]:
        if not crs:
            return []
        namespaces = {cr.get("metadata", {}).get("namespace", "") for cr in crs}
        scope = next(iter(namespaces)) if len(namespaces) == 1 else None
        service_events, cluster_events = await asyncio.gather(
            events_by_object(self.kube, scope, "RayService"), events_by_object(self.kube, scope, "RayCluster")
        )
        clusters = await self._active_clusters(crs, scope)
        items = []
        for cr, cluster in zip(crs, clusters, strict=True):
            metadata = cr.get("metadata", {})
            namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
            own = [event_from_kube(e, name) for e in service_events.get((namespace, name), [])]
            active = _active_cluster_name(cr)
            theirs = (
                [event_from_kube(e, name) for e in cluster_events.get((namespace, active), [])]
                if active
                else []
            )
            items.append(service_from_cr(cr, own, cluster, theirs))
        return items

    async def _active_clusters(self, crs: Sequence[Obj], scope: str | None) -> list[Obj | None]:
        """The active RayCluster of each service: one GET for a single service, one LIST for a page."""
        wanted = [(cr["metadata"].get("namespace", ""), _active_cluster_name(cr)) for cr in crs]
        if not any(name for _, name in wanted):
            return [None] * len(crs)
        if len(crs) == 1:
            namespace, name = wanted[0]
            try:
                return [await self.kube.get_ray("rayclusters", namespace, name)]
            except KubeError:
                return [
                    None
                ]  # the status still names it, but it is gone or unreadable: show the service anyway
        try:
            listed = await self.kube.list_ray("rayclusters", scope)
        except KubeError:
            return [None] * len(crs)
        by_key = {
            (c["metadata"].get("namespace", ""), c["metadata"].get("name", "")): c
            for c in listed.get("items") or []
        }
        return [by_key.get(key) if key[1] else None for key in wanted]

    def with_record(self, item: RayService, created_at: str, user: str, deleted_at: str) -> RayService:
        return msgspec.structs.replace(item, created_at=created_at, user=user, delete_at=deleted_at)

    def with_status(self, item: RayService, status: dict[str, Any] | None) -> RayService:
        if not status:
            return item
        (converted,) = [service_from_cr({"status": status}, [], None, [])]
        return msgspec.structs.replace(item, ray_service_status=converted.ray_service_status)

    def snapshot(self, cr: Obj) -> dict[str, Any]:
        return snapshot_of(service_from_cr({**cr, "status": {}}, [], None, []))


def _active_cluster_name(cr: Obj) -> str:
    return str(((cr.get("status") or {}).get("activeServiceStatus") or {}).get("rayClusterName") or "")
