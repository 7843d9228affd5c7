"""Compute template messages (upstream ``config.proto``)."""

from __future__ import annotations

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


class ListComputeTemplatesResponse(ApiStruct):
    compute_templates: list[ComputeTemplate]


ListAllComputeTemplatesResponse = ListComputeTemplatesResponse
