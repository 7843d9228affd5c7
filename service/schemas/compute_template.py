"""Compute template messages (upstream ``config.proto``)."""

from __future__ import annotations

from typing import Any

import msgspec

from service.schemas.base import ApiStruct
from service.schemas.common import UInt32


class PodToleration(ApiStruct):
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""


class ComputeTemplate(ApiStruct):
    name: str = ""
    namespace: str = ""
    cpu: UInt32 = 0
    memory: UInt32 = 0
    gpu: UInt32 = 0
    gpu_accelerator: str = ""
    tolerations: list[PodToleration] = msgspec.field(default_factory=list)
    extended_resources: dict[str, UInt32] = msgspec.field(default_factory=dict)
    memory_unit: str = ""
    # Extensions: audit fields from the SQL record.
    created_at: str = ""
    deleted_at: str = ""
    user: str = ""
    # Extensions: placement and limits applied to the pods of clusters built from the template, and the
    # template's version (its ConfigMap's resourceVersion; on a PUT, the version being replaced).
    node_selector: dict[str, str] = msgspec.field(default_factory=dict)
    affinity: dict[str, Any] | None = None
    """A Kubernetes ``Affinity`` (``nodeAffinity``, ``podAffinity``, ``podAntiAffinity``), as in a pod spec."""
    cpu_limit: UInt32 = 0
    """Whole CPUs; 0: the limit equals ``cpu``."""
    memory_limit: UInt32 = 0
    """In ``memoryUnit``; 0: the limit equals ``memory``."""
    resource_version: str = ""


class ListComputeTemplatesResponse(ApiStruct):
    compute_templates: list[ComputeTemplate]


ListAllComputeTemplatesResponse = ListComputeTemplatesResponse
