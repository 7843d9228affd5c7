"""Validate custom resources against the KubeRay CRDs, as strictly as the Kubernetes API server would accept them.

The CRDs come from ``tests.support.tools.crd_dir()`` (the pinned KubeRay release, or ``$KUBERAY_CRD_DIR``). Their ``openAPIV3Schema`` is translated
for ``jsonschema``: ``x-kubernetes-int-or-string`` becomes "integer or string", ``x-kubernetes-preserve-unknown-fields``
allows anything below it, and every other object schema with ``properties`` rejects unknown fields, so a field that
Kubernetes would silently prune fails validation. The root ``metadata`` is checked leniently (only the shape of
``name``, ``namespace``, ``labels`` and ``annotations``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import yaml

from tests.support.tools import crd_dir

SERVED_VERSION = "v1"
_MAX_REPORTED = 10
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_ROOT_METADATA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "resourceVersion": {"type": "string"},
    },
}
_CONFIGMAP = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata"],
    "properties": {
        "apiVersion": {"const": "v1"},
        "kind": {"const": "ConfigMap"},
        "metadata": _ROOT_METADATA,
        "data": _STRING_MAP,
    },
    "additionalProperties": False,
}


class CRValidationError(AssertionError):
    """The object would be rejected or pruned by the Kubernetes API server."""


def validate_cr(obj: Mapping[str, Any]) -> None:
    """Raise ``CRValidationError`` listing every problem of ``obj`` (a RayCluster, RayJob, RayService or ConfigMap)."""
    kind = obj.get("kind")
    if kind == "ConfigMap":
        schema = _CONFIGMAP
    else:
        schemas = _schemas()
        if kind not in schemas:
            raise CRValidationError(f"no CRD for kind {kind!r} (known: {', '.join(sorted(schemas))})")
        schema = schemas[kind]
        expected = f"ray.io/{SERVED_VERSION}"
        if obj.get("apiVersion") != expected:
            raise CRValidationError(f"{kind}: apiVersion {obj.get('apiVersion')!r} is not {expected!r}")
    problems = list(_problems(schema, obj))
    if problems:
        name = (obj.get("metadata") or {}).get("name", "?")
        listed = "\n  ".join(problems[:_MAX_REPORTED])
        more = f"\n  ... and {len(problems) - _MAX_REPORTED} more" if len(problems) > _MAX_REPORTED else ""
        raise CRValidationError(f"{kind} {name!r} does not match its CRD:\n  {listed}{more}")


def _problems(schema: Mapping[str, Any], obj: Mapping[str, Any]) -> Iterator[str]:
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "."
        message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
        yield f"{path}: {message}"


@functools.cache
def _schemas() -> dict[str, dict[str, Any]]:
    directory = crd_dir()
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"no CRD files in {directory} (set KUBERAY_CRD_DIR)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: dict[str, dict[str, Any]] = {}
    for path in files:
        with path.open() as stream:
            for doc in yaml.load_all(stream, Loader=loader):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    if version["name"] == SERVED_VERSION:
                        out[spec["names"]["kind"]] = _root_schema(version["schema"]["openAPIV3Schema"])
    return out


def _root_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    translated = _translate(schema)
    translated["properties"]["metadata"] = _ROOT_METADATA
    return translated


def _translate(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A jsonschema equivalent of one structural-schema node (see the module docstring)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return {"type": schema["type"]} if "type" in schema else {}
    out = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    if "properties" in out:
        out["properties"] = {name: _translate(sub) for name, sub in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(out.get("additionalProperties"), Mapping):
        out["additionalProperties"] = _translate(out["additionalProperties"])
    if isinstance(out.get("items"), Mapping):
        out["items"] = _translate(out["items"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in out:
            out[key] = [_translate(sub) for sub in out[key]]
    return out
