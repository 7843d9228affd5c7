"""The Kubernetes ``Status`` form of an error, which the Kubernetes-native paths answer instead of V1's body."""

from __future__ import annotations

from typing import Any

from service.errors import STATUS_REASONS

KUBE_NATIVE_PREFIXES = ("/apis/ray.io/", "/apis/events.k8s.io/", "/api/", "/openapi")


def is_kube_native(path: str) -> bool:
    return path.startswith(KUBE_NATIVE_PREFIXES) or path in ("/version", "/api", "/apis")


def status_body(
    status: int, message: str, reason: str = "", details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or STATUS_REASONS.get(status, ""),
    }
    if details:
        body["details"] = details
    body["code"] = status
    return body
