"""Object metadata helpers: timestamps, storage keys, generated names and the parts of an object compared."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from service.devcluster.resources import JsonObj


def now_rfc3339() -> str:
    """Kubernetes timestamps: UTC, whole seconds, 'Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_key(namespace: str | None, name: str) -> str:
    """The etcd-style key whose byte order is the order of list results."""
    return f"{namespace}/{name}" if namespace else name


def generate_suffix() -> str:
    """The random end of a name made from metadata.generateName."""
    # apimachinery's alphabet: no vowels (no accidental words) and no look-alike characters.
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(5))


def spec_part(obj: JsonObj) -> JsonObj:
    """Everything whose change bumps metadata.generation of a custom resource."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def without_rv(obj: JsonObj) -> JsonObj:
    """The object without metadata.resourceVersion, to tell whether a write changes anything."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}
