"""The served resource types: group, version, plural, kind, scope, status subresource and storage shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JsonObj = dict[str, Any]


@dataclass(frozen=True)
class ResourceType:
    """One served resource, and the behaviours that differ between kinds."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    # CRD-served kinds (ray.io): generation, body must name its kind, DELETE returns the object.
    custom: bool = False
    # With a status subresource, writes to the main resource keep the stored status.
    status_subresource: bool = False
    # Two types with the same storage are one set of objects seen through two API versions.
    storage: str = ""
    # Extra fieldSelector labels (beyond metadata.name/namespace) and the dotted path each reads.
    field_paths: tuple[tuple[str, str], ...] = ()
    to_storage: Callable[[JsonObj], JsonObj] | None = None
    from_storage: Callable[[JsonObj], JsonObj] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """The name used in messages: "rayclusters.ray.io", "configmaps"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """The kind used in Invalid messages: "RayCluster.ray.io", "ConfigMap"."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def storage_key(self) -> str:
        return self.storage or f"{self.group}/{self.plural}"

    def details(self, name: str) -> JsonObj:
        details: JsonObj = {"name": name}
        if self.group:
            details["group"] = self.group
        details["kind"] = self.plural
        return details

    def field_path(self, label: str) -> str | None:
        if label in ("metadata.name", "metadata.namespace"):
            return label
        return dict(self.field_paths).get(label)


# Core v1 and events.k8s.io/v1 events are one set of objects, stored in the events.k8s.io shape; these
# are the fields that differ in name between the two shapes.
_CORE_TO_EVENTS_V1 = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_EVENTS_V1_TO_CORE = {v: k for k, v in _CORE_TO_EVENTS_V1.items()}


def _rename(obj: JsonObj, names: dict[str, str]) -> JsonObj:
    return {names.get(k, k): v for k, v in obj.items()}


def _core_event_out(stored: JsonObj) -> JsonObj:
    view = _rename(stored, _EVENTS_V1_TO_CORE)
    view.setdefault("involvedObject", {})
    for key in ("eventTime", "firstTimestamp", "lastTimestamp"):
        view.setdefault(key, None)  # Go serialises these zero timestamps as null, not absent
    return view


def _events_v1_out(stored: JsonObj) -> JsonObj:
    view = dict(stored)
    view.setdefault("regarding", {})
    # Legacy events have no eventTime and real Kubernetes sends null; note kubernetes_asyncio's
    # EventsV1Event model refuses that unless client-side validation is off.
    view.setdefault("eventTime", None)
    return view


_OBJECT_REF_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")

NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    namespaced=False,
    short_names=("ns",),
    status_subresource=True,
)
CONFIGMAPS = ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", short_names=("cm",))
# Secrets hold a Ray cluster's auth token (job submission reads it as the caller).
SECRETS = ResourceType("", "v1", "secrets", "secret", "Secret")
# Services are only stored: nothing allocates cluster IPs; the proxy sends to loopback (see handlers).
SERVICES = ResourceType("", "v1", "services", "service", "Service", short_names=("svc",))
CORE_EVENTS = ResourceType(
    "",
    "v1",
    "events",
    "event",
    "Event",
    short_names=("ev",),
    storage="events.k8s.io/events",
    field_paths=(
        *((f"involvedObject.{f}", f"involvedObject.{f}") for f in _OBJECT_REF_FIELDS),
        ("reason", "reason"),
        ("reportingComponent", "reportingComponent"),
        ("source", "source.component"),
        ("type", "type"),
    ),
    to_storage=lambda view: _rename(view, _CORE_TO_EVENTS_V1),
    from_storage=_core_event_out,
)
EVENTS_V1 = ResourceType(
    "events.k8s.io",
    "v1",
    "events",
    "event",
    "Event",
    short_names=("ev",),
    storage="events.k8s.io/events",
    field_paths=(
        *((f"regarding.{f}", f"regarding.{f}") for f in _OBJECT_REF_FIELDS),
        ("reason", "reason"),
        ("reportingController", "reportingController"),
        ("type", "type"),
    ),
    from_storage=_events_v1_out,
)
RAY_CLUSTERS = ResourceType(
    "ray.io", "v1", "rayclusters", "raycluster", "RayCluster", custom=True, status_subresource=True
)
RAY_JOBS = ResourceType("ray.io", "v1", "rayjobs", "rayjob", "RayJob", custom=True, status_subresource=True)
RAY_SERVICES = ResourceType(
    "ray.io", "v1", "rayservices", "rayservice", "RayService", custom=True, status_subresource=True
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    NAMESPACES,
    CONFIGMAPS,
    SECRETS,
    SERVICES,
    CORE_EVENTS,
    EVENTS_V1,
    RAY_CLUSTERS,
    RAY_JOBS,
    RAY_SERVICES,
)
