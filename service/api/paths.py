"""Route paths: every API route is served under the current prefix and the seed's older one."""

from __future__ import annotations

from typing import Any

PREFIXES = ("/apis/v1", "/apis/v1alpha2")


def paths(suffix: str) -> list[str]:
    return [prefix + suffix for prefix in PREFIXES]


def rpc(name: str) -> dict[str, Any]:
    """Route options naming the upstream RPC a handler implements.

    The OpenAPI operation of the ``/apis/v1`` path is named after the RPC (``CreateCluster``); the alias path gets
    a suffix, since operation ids must be unique. Metrics and logs read the plain name from ``opt["rpc"]``.
    """

    def operation_id(_handler: Any, _method: Any, components: list[Any]) -> str:
        return f"{name}V1alpha2" if "v1alpha2" in components else name

    return {"operation_id": operation_id, "opt": {"rpc": name}}
