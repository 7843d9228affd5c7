"""Ray objects as Kubernetes stores them (upstream's V2 routes): reads as the caller, every write through the
change-and-record runner, so it is audited like a V1 write (same resource and action vocabulary)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Sequence
from typing import Any

from service.converters.errors import BuildError
from service.converters.native_templates import named_templates, with_templates
from service.db.records import Change, Records
from service.errors import STATUS_REASONS, ApiError, Code, StatusError
from service.kube.client import KubeClient, Obj, Proxied, open_service_proxy, open_watch
from service.kube.errors import KubeError
from service.managers.context import Caller
from service.managers.lifecycle import Applied, Lifecycle, Write
from service.managers.resources import ResourceManager, change_of, observed_before
from service.managers.templates import ComputeTemplateManager
from service.names import label_problem
from service.schemas.compute_template import ComputeTemplate
from service.vocabulary import (
    APP_NAME,
    APP_NAME_LABEL,
    CORE_EVENTS,
    CORE_SERVICES,
    EVENTS,
    RAY_CLUSTERS,
    RAY_JOBS,
    RAY_SERVICES,
    USER_LABEL,
    Action,
    Kind,
    Resource,
)

KINDS: dict[str, tuple[Kind, Resource]] = {
    RAY_CLUSTERS.plural: (RAY_CLUSTERS, Resource.CLUSTERS),
    RAY_JOBS.plural: (RAY_JOBS, Resource.JOBS),
    RAY_SERVICES.plural: (RAY_SERVICES, Resource.SERVICES),
}


def status_error(exc: KubeError) -> ApiError:
    """Kubernetes' own refusal, kept as Kubernetes answered it."""
    status = exc.status or 503
    return StatusError(status, exc.reason or STATUS_REASONS.get(status, ""), exc.message)


def kind_of(plural: str) -> tuple[Kind, Resource]:
    try:
        return KINDS[plural]
    except KeyError:
        raise StatusError(404, "NotFound", "the server could not find the requested resource") from None


class NativeManager:
    """Get, list, create, replace and delete Ray objects in their Kubernetes form."""

    def __init__(
        self,
        kube: KubeClient,
        records: Records,
        lifecycle: Lifecycle,
        kinds: Sequence[ResourceManager[Any]],
        templates: ComputeTemplateManager,
    ) -> None:
        self.kube = kube
        self.templates = templates
        self.records = records
        self.lifecycle = lifecycle
        self.kinds = {manager.resource: manager for manager in kinds}

    def snapshot(self, resource: Resource, obj: Obj) -> dict[str, Any] | None:
        """The V1 form of an object, as history rows keep it (so V1 lists with includeDeleted show it)."""
        try:
            return self.kinds[resource].snapshot(obj)
        except Exception:  # an object V1 cannot express: history keeps no spec for it
            return None

    async def get(self, plural: str, namespace: str, name: str) -> Obj:
        kind, _ = kind_of(plural)
        try:
            return await self.kube.get(kind, namespace, name)
        except KubeError as exc:
            raise status_error(exc) from None

    async def watch(self, plural: str, namespace: str | None, query: dict[str, str]) -> AsyncIterator[bytes]:
        """Kubernetes' watch events (bookmarks included), streamed as they come, as the caller."""
        return await _watch(self.kube, kind_of(plural)[0], namespace, query)

    async def list(self, plural: str, namespace: str | None, query: dict[str, str]) -> Obj:
        return await _list(self.kube, kind_of(plural)[0], namespace, query)

    async def list_events(self, core: bool, namespace: str, query: dict[str, str]) -> Obj:
        """Events about Ray objects only (upstream's V2 events route), as the caller."""
        kind = CORE_EVENTS if core else EVENTS
        return await _list(self.kube, kind, namespace, ray_events_only(core, query))

    async def watch_events(self, core: bool, namespace: str, query: dict[str, str]) -> AsyncIterator[bytes]:
        kind = CORE_EVENTS if core else EVENTS
        return await _watch(self.kube, kind, namespace, ray_events_only(core, query))

    async def proxy(
        self,
        method: str,
        namespace: str,
        service: str,
        rest: builtins.list[str],
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Proxied:
        """A request through Kubernetes' service proxy (upstream's V2 proxy route), as the caller, only to a
        Service of KubeRay's (label ``app.kubernetes.io/name=kuberay``) in the namespace."""
        name = proxied_service_name(service)
        if name is None:
            raise StatusError(400, "BadRequest", f"invalid service format: {service}")
        try:
            listed = await self.kube.list(
                CORE_SERVICES, namespace, label_selector=f"{APP_NAME_LABEL}={APP_NAME}"
            )
        except KubeError as exc:
            raise status_error(exc) from None
        if not any((item.get("metadata") or {}).get("name") == name for item in listed.get("items") or []):
            raise StatusError(
                404,
                "NotFound",
                f"kuberay service not found: no Service {name} labelled {APP_NAME_LABEL}={APP_NAME} "
                f"in namespace {namespace}",
            )
        try:
            return await open_service_proxy(self.kube, method, namespace, service, rest, query, headers, body)
        except KubeError as exc:
            raise status_error(exc) from None

    def _change(
        self, action: Action, resource: Resource, caller: Caller, ns: str, name: str, body: Any
    ) -> Change:
        labels = ((body or {}).get("metadata") or {}).get("labels") or {}
        spec = self.snapshot(resource, body) if body else None
        return change_of(action, resource, caller, ns, name, str(labels.get(USER_LABEL) or ""), spec)

    async def create(self, caller: Caller, plural: str, namespace: str, body: Obj) -> Obj:
        kind, resource = kind_of(plural)
        body = _checked(kind, namespace, body)
        name = str(body["metadata"].get("name") or "")

        async def prepare() -> Write:
            if not name:
                raise StatusError(422, "Invalid", f"{kind.kind} is invalid: metadata.name: Required value")
            sent = await self._with_templates(plural, namespace, body)
            return Write(
                verb="create", kind=kind, namespace=namespace, name=name, body=sent, explain=status_error
            )

        change = self._change(Action.CREATE, resource, caller, namespace, name, body)
        return self._remembered(resource, await self.lifecycle.run(change, prepare))

    async def replace(
        self, caller: Caller, plural: str, namespace: str, name: str, body: Obj, templates: bool = False
    ) -> Obj:
        """Replace an object; with ``templates`` (a PUT, as upstream), compute templates it names are applied."""
        kind, resource = kind_of(plural)
        body = _checked(kind, namespace, body)

        async def prepare() -> Write:
            given = str(body["metadata"].get("name") or "")
            if given != name:
                raise StatusError(
                    400,
                    "BadRequest",
                    f"the name of the object ({given}) does not match the name on the URL ({name})",
                )
            current = await self.get(plural, namespace, name)
            metadata = body["metadata"]
            if not metadata.get("resourceVersion"):
                metadata["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion", "")
            return Write(
                verb="update",
                kind=kind,
                namespace=namespace,
                name=name,
                body=await self._with_templates(plural, namespace, body) if templates else body,
                explain=status_error,
                previous_resource_version=str((current.get("metadata") or {}).get("resourceVersion") or ""),
                previous=current,
            )

        change = self._change(Action.UPDATE, resource, caller, namespace, name, body)
        return self._remembered(resource, await self.lifecycle.run(change, prepare))

    async def delete(self, caller: Caller, plural: str, namespace: str, name: str) -> Obj:
        kind, resource = kind_of(plural)

        async def prepare() -> Write:
            obj = await self.get(plural, namespace, name)
            before = observed_before(obj, self.snapshot(resource, obj))
            return Write(
                verb="delete",
                kind=kind,
                namespace=namespace,
                name=name,
                body=obj,
                uid=before.uid,
                before=before,
                explain=status_error,
            )

        change = self._change(Action.DELETE, resource, caller, namespace, name, None)
        return self._remembered(resource, await self.lifecycle.run(change, prepare), deleted=True)

    async def _with_templates(self, plural: str, namespace: str, body: Obj) -> Obj:
        """The object with the compute templates its groups name applied (read as the caller), as upstream's V2
        routes do; the audit row keeps the object as the caller sent it."""
        wanted = named_templates(plural, body)
        if not wanted:
            return body
        found = await asyncio.gather(*(self._template(namespace, name) for name in wanted))
        try:
            result: Obj = with_templates(plural, body, dict(zip(wanted, found, strict=True)))
        except BuildError as exc:
            raise StatusError(422, "Invalid", exc.detail) from None
        return result

    async def _template(self, namespace: str, name: str) -> ComputeTemplate:
        try:
            return await self.templates.read(namespace, name)
        except ApiError as exc:
            refused = exc.code in (Code.FAILED_PRECONDITION, Code.INVALID_ARGUMENT, Code.NOT_FOUND)
            status = 422 if refused else exc.http_status
            raise StatusError(
                status,
                STATUS_REASONS.get(status, ""),
                f"Cannot get compute template for name '{name}' in namespace '{namespace}', error: {exc.message}",
            ) from None

    def _remembered(self, resource: Resource, applied: Applied, deleted: bool = False) -> Obj:
        """The V1 reads of this replica see the change at once, as they see V1 writes."""
        self.kinds[resource].remember(applied, deleted=deleted)
        return applied.obj


def _checked(kind: Kind, namespace: str, body: Any) -> Obj:
    if not isinstance(body, dict):
        raise StatusError(400, "BadRequest", "the request body must be a JSON object")
    if (
        body.get("kind", kind.kind) != kind.kind
        or body.get("apiVersion", kind.api_version) != kind.api_version
    ):
        raise StatusError(400, "BadRequest", f"the body must be a {kind.api_version} {kind.kind}")
    metadata = dict(body.get("metadata") or {})
    if metadata.get("namespace", namespace) != namespace:
        raise StatusError(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )
    metadata["namespace"] = namespace
    return {**body, "apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata}


def proxied_service_name(service: str) -> str | None:
    """The Service a proxy path names: ``[http:|https:]name[:port]`` as Kubernetes takes it; None when it is not
    in that form."""
    for scheme in ("https:", "http:"):
        if service.startswith(scheme):
            service = service[len(scheme) :]
            break
    name, _, port = service.partition(":")
    if label_problem(name) is not None or ":" in port:
        return None
    return name


def ray_events_only(core: bool, query: dict[str, str]) -> dict[str, str]:
    """The query with a field selector that keeps only events about Ray objects, added to the caller's own."""
    field = "involvedObject.apiVersion" if core else "regarding.apiVersion"
    ours = f"{field}={RAY_CLUSTERS.api_version}"
    given = query.get("fieldSelector", "").strip()
    return {**query, "fieldSelector": f"{given},{ours}" if given else ours}


async def _watch(
    kube: KubeClient, kind: Kind, namespace: str | None, query: dict[str, str]
) -> AsyncIterator[bytes]:
    passed = {
        key: query[key]
        for key in (
            "labelSelector",
            "fieldSelector",
            "resourceVersion",
            "resourceVersionMatch",
            "allowWatchBookmarks",
            "timeoutSeconds",
            "sendInitialEvents",
        )
        if query.get(key)
    }
    passed["timeoutSeconds"] = str(watch_seconds(query))
    try:
        return await open_watch(kube, kind, namespace, passed)
    except KubeError as exc:
        raise status_error(exc) from None


async def _list(kube: KubeClient, kind: Kind, namespace: str | None, query: dict[str, str]) -> Obj:
    try:
        result = await kube.list(
            kind,
            namespace,
            label_selector=query.get("labelSelector", ""),
            field_selector=query.get("fieldSelector", ""),
            limit=int(query.get("limit") or 0),
            continue_token=query.get("continue", ""),
            resource_version=query.get("resourceVersion", ""),
        )
    except ValueError:
        raise StatusError(400, "BadRequest", "limit must be an integer") from None
    except KubeError as exc:
        raise status_error(exc) from None
    return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List", **result}


WATCH_DEFAULT_SECONDS = 1800
WATCH_MAX_SECONDS = 3600


def watch_seconds(query: dict[str, str]) -> int:
    """How long a watch lives: its ``timeoutSeconds`` (default 30 min, at most an hour), as Kubernetes bounds it."""
    try:
        asked = int(query.get("timeoutSeconds") or WATCH_DEFAULT_SECONDS)
    except ValueError:
        raise StatusError(400, "BadRequest", "timeoutSeconds must be an integer") from None
    return max(1, min(asked, WATCH_MAX_SECONDS))
