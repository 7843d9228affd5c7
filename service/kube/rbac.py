"""The Kubernetes permissions this service needs, in one place.

The Helm chart renders exactly these rules and a test compares the two, so a new Kubernetes call must be
added here first.
"""

from __future__ import annotations

from typing import NamedTuple


class PolicyRule(NamedTuple):
    """One RBAC rule: an API group, its resources and the verbs used on them."""

    api_group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]


REQUIRED_RULES: tuple[PolicyRule, ...] = (
    # Compute templates are ConfigMaps; the read model lists and watches them by label.
    PolicyRule("", ("configmaps",), ("get", "list", "watch", "create", "delete")),
    # Events shown with clusters and services (the read model lists and watches them).
    PolicyRule("events.k8s.io", ("events",), ("list", "watch")),
    # The Kubernetes-native routes: events about Ray objects in their core form (kubectl describe), and requests
    # to KubeRay's Services (the Ray dashboard) through Kubernetes' service proxy.
    PolicyRule("", ("events",), ("list", "watch")),
    PolicyRule("", ("services",), ("list",)),
    PolicyRule("", ("services/proxy",), ("get", "create", "update", "patch", "delete")),
    # The Ray custom resources; the read model's watches also notice deletions made outside the API. `patch`:
    # server-side apply on the Kubernetes-native routes.
    PolicyRule(
        "ray.io",
        ("rayclusters", "rayjobs", "rayservices"),
        ("get", "list", "watch", "create", "update", "patch", "delete"),
    ),
    # Their status subresource, written only through the Kubernetes-native routes (`.../{name}/status`).
    PolicyRule(
        "ray.io",
        ("rayclusters/status", "rayjobs/status", "rayservices/status"),
        ("get", "update", "patch"),
    ),
)


# With authentication on (any mode but none): the service acts as each caller, asks Kubernetes who a token
# belongs to, and what a caller may read. Cluster-scoped: the chart renders them as a ClusterRole of their own.
AUTH_RULES: tuple[PolicyRule, ...] = (
    PolicyRule("", ("users", "groups", "serviceaccounts"), ("impersonate",)),
    PolicyRule("authentication.k8s.io", ("tokenreviews",), ("create",)),
    PolicyRule("authorization.k8s.io", ("subjectaccessreviews",), ("create",)),
    PolicyRule("", ("namespaces",), ("list",)),
)
