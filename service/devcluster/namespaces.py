"""Namespace rules: the namespaces a cluster starts with, how a new one looks, which may not be deleted
and what a namespace's deletion sweeps away."""

from __future__ import annotations

from collections.abc import Iterable

from service.devcluster.errors import ApiError
from service.devcluster.metadata import now_rfc3339
from service.devcluster.resources import NAMESPACES, RESOURCE_TYPES, JsonObj, ResourceType

INITIAL_NAMESPACES = ("default", "kube-system", "ray-system")
# Real Kubernetes refuses to delete these.
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


def complete_new_namespace(obj: JsonObj) -> None:
    """Add what the API server sets on every namespace it creates."""
    meta = obj["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}


def check_deletable(name: str) -> None:
    if name in PROTECTED_NAMESPACES:
        message = f'namespaces "{name}" is forbidden: this namespace may not be deleted'
        raise ApiError(403, "Forbidden", message, NAMESPACES.details(name))


def namespaced_storage_types() -> Iterable[ResourceType]:
    """One namespaced type per storage: what a namespace's deletion empties."""
    seen: dict[str, ResourceType] = {}
    for rtype in RESOURCE_TYPES:
        if rtype.namespaced:
            seen.setdefault(rtype.storage_key, rtype)
    return seen.values()


def as_terminating(view: JsonObj) -> JsonObj:
    """The deleted namespace as real Kubernetes shows it in the DELETE response, while it empties it."""
    view["metadata"]["deletionTimestamp"] = now_rfc3339()
    view["status"] = {"phase": "Terminating"}
    return view
