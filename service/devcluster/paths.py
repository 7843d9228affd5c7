"""Kubernetes API resource paths: which resource type, namespace, name and subresource a path names.

Paths are parsed by hand rather than with aiohttp routes, because Kubernetes paths are ambiguous by
segment count (/api/v1/namespaces/x/configmaps vs /api/v1/namespaces/x/status).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.devcluster.resources import RESOURCE_TYPES, ResourceType


@dataclass(frozen=True)
class Target:
    """What a resource path names. namespace None: all namespaces, or a cluster-scoped type."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_target(parts: list[str]) -> Target | None:
    """Map /api/v1/... and /apis/<group>/<version>/... path segments to a resource, None if unknown."""
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    types = {t.plural: t for t in RESOURCE_TYPES if t.group == group and t.version == version}
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in types and types[rest[2]].namespaced:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3 or rest[0] not in types:
        return None
    rtype = types[rest[0]]
    if rtype.namespaced and namespace is None and len(rest) > 1:
        return None  # a namespaced object needs its namespace in the path
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and (subresource != "status" or not rtype.status_subresource):
        return None
    return Target(rtype, namespace, name, subresource)
