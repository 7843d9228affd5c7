"""Route paths: every API route is served under the current prefix and the seed's older one."""

from __future__ import annotations

PREFIXES = ("/apis/v1", "/apis/v1alpha2")


def paths(suffix: str) -> list[str]:
    return [prefix + suffix for prefix in PREFIXES]
