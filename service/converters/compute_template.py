"""Compute templates stored as ConfigMaps, in upstream's layout so that both servers share them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from service import vocabulary
from service.converters.errors import BuildError
from service.converters.events import api_time
from service.converters.quantity import QuantityError, parse_quantity
from service.schemas.compute_template import ComputeTemplate, PodToleration

DEFAULT_MEMORY_UNIT = "Gi"
_UINT32_MAX = 2**32 - 1


def compute_template_to_configmap(template: ComputeTemplate, namespace: str) -> dict[str, Any]:
    """The ConfigMap holding ``template``; raises ``BuildError`` for a bad memory quantity."""
    unit = template.memory_unit or DEFAULT_MEMORY_UNIT
    memory = f"{template.memory}{unit}"
    try:
        parse_quantity(memory)
    except QuantityError as exc:
        raise BuildError(f'invalid memory quantity "{memory}": {exc}') from None
    data = {
        "name": template.name,
        "namespace": namespace,
        "cpu": str(template.cpu),
        "memory": str(template.memory),
        "memory_unit": unit,
        "gpu": str(template.gpu),
        "gpu_accelerator": template.gpu_accelerator,
        # Upstream marshals a nil map, hence the literal "null" when there are none.
        "extended_resources": _json(template.extended_resources) if template.extended_resources else "null",
    }
    if template.tolerations:
        data["tolerations"] = _json([_toleration_json(t) for t in template.tolerations])
    # Extensions, only when set: a template without them is exactly upstream's.
    if template.node_selector:
        data["node_selector"] = _json(template.node_selector)
    if template.affinity:
        data["affinity"] = json.dumps(template.affinity, separators=(",", ":"), sort_keys=True)
    if template.cpu_limit:
        data["cpu_limit"] = str(template.cpu_limit)
    if template.memory_limit:
        data["memory_limit"] = str(template.memory_limit)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": template.name,
            "namespace": namespace,
            "labels": {
                vocabulary.CONFIG_TYPE_LABEL: vocabulary.COMPUTE_TEMPLATE_CONFIG_TYPE,
                vocabulary.COMPUTE_TEMPLATE_LABEL: template.name,
            },
        },
        "data": data,
    }


def compute_template_from_configmap(cm: Mapping[str, Any]) -> ComputeTemplate:
    """The template stored in ``cm``; unreadable fields become zero values, as upstream tolerates them."""
    metadata = cm.get("metadata") or {}
    data = cm.get("data") or {}
    return ComputeTemplate(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        cpu=_uint32(data.get("cpu")),
        memory=_uint32(data.get("memory")),
        gpu=_uint32(data.get("gpu")),
        gpu_accelerator=data.get("gpu_accelerator", ""),
        memory_unit=data.get("memory_unit", ""),
        extended_resources=_extended_resources(data.get("extended_resources")),
        tolerations=_tolerations(data.get("tolerations")),
        created_at=api_time(metadata.get("creationTimestamp")),
        node_selector=_string_map(data.get("node_selector")),
        affinity=_object(data.get("affinity")),
        cpu_limit=_uint32(data.get("cpu_limit", 0)),
        memory_limit=_uint32(data.get("memory_limit", 0)),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


def _json(value: Any) -> str:
    # Go's encoding: compact, map keys sorted, struct fields (tolerations) in declaration order.
    if isinstance(value, dict):
        value = dict(sorted(value.items()))
    return json.dumps(value, separators=(",", ":"))


def _toleration_json(toleration: PodToleration) -> dict[str, str]:
    fields = {
        "key": toleration.key,
        "operator": toleration.operator,
        "value": toleration.value,
        "effect": toleration.effect,
    }
    return {k: v for k, v in fields.items() if v}


def _uint32(text: Any) -> int:
    try:
        value = int(str(text))
    except ValueError:
        return 0
    return value if 0 <= value <= _UINT32_MAX else 0


def _load_json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _extended_resources(text: Any) -> dict[str, int]:
    value = _load_json(text)
    if not isinstance(value, dict):
        return {}
    return {
        str(k): v
        for k, v in value.items()
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _UINT32_MAX
    }


def _tolerations(text: Any) -> list[PodToleration]:
    value = _load_json(text)
    if not isinstance(value, list):
        return []
    return [
        PodToleration(**{k: str(item[k]) for k in ("key", "operator", "value", "effect") if item.get(k)})
        for item in value
        if isinstance(item, dict)
    ]


def _string_map(text: Any) -> dict[str, str]:
    value = _load_json(text)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _object(text: Any) -> dict[str, Any] | None:
    value = _load_json(text)
    return value if isinstance(value, dict) and value else None
