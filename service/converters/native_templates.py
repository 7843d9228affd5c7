"""Compute templates named in Ray objects written through the Kubernetes-native routes (upstream's V2 middleware):
a head or worker group with a string ``computeTemplate`` gets that template's resources and tolerations."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from service.converters.pod_template import HEAD_CONTAINER, WORKER_CONTAINER, apply_template
from service.schemas.compute_template import ComputeTemplate
from service.vocabulary import RAY_CLUSTER_PLURAL, RAY_JOB_PLURAL, RAY_SERVICE_PLURAL

TEMPLATE_FIELD = "computeTemplate"

# Where each kind keeps its cluster spec (the object holding headGroupSpec and workerGroupSpecs).
CLUSTER_SPEC_PATH: dict[str, tuple[str, ...]] = {
    RAY_CLUSTER_PLURAL: ("spec",),
    RAY_JOB_PLURAL: ("spec", "rayClusterSpec"),
    RAY_SERVICE_PLURAL: ("spec", "rayClusterConfig"),
}


def _cluster_spec(plural: str, body: Mapping[str, Any]) -> Any:
    current: Any = body
    for key in CLUSTER_SPEC_PATH.get(plural, ()):
        current = current.get(key) if isinstance(current, dict) else None
    return current if isinstance(current, dict) else None


def _groups(cluster_spec: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Each group map of a cluster spec with the name of its Ray container."""
    if not isinstance(cluster_spec, dict):
        return
    head = cluster_spec.get("headGroupSpec")
    if isinstance(head, dict):
        yield head, HEAD_CONTAINER
    workers = cluster_spec.get("workerGroupSpecs")
    for worker in workers if isinstance(workers, list) else []:
        if isinstance(worker, dict):
            yield worker, WORKER_CONTAINER


def _template_name(group: Mapping[str, Any]) -> str:
    name = group.get(TEMPLATE_FIELD)
    return name if isinstance(name, str) else ""


def named_templates(plural: str, body: Mapping[str, Any]) -> list[str]:
    """The distinct compute templates the object's groups name, in order of appearance."""
    names: list[str] = []
    for group, _ in _groups(_cluster_spec(plural, body)):
        name = _template_name(group)
        if name and name not in names:
            names.append(name)
    return names


def with_templates(plural: str, body: Mapping[str, Any], templates: Mapping[str, ComputeTemplate]) -> Any:
    """A copy of ``body`` with the named templates applied to their groups' pod templates (``templates`` holds
    every name ``named_templates`` gave). The ``computeTemplate`` fields stay: Kubernetes prunes them."""
    result = copy.deepcopy(dict(body))
    for group, container in _groups(_cluster_spec(plural, result)):
        name = _template_name(group)
        if name:
            group["template"] = apply_template(group.get("template"), templates[name], container)
    return result
