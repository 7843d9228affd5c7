"""The managers of one running service, shared by the HTTP and gRPC layers."""

from __future__ import annotations

import msgspec

from service.managers.audit import AuditManager
from service.managers.clusters import ClusterManager
from service.managers.jobs import JobManager
from service.managers.services import ServiceManager
from service.managers.templates import ComputeTemplateManager


class Managers(msgspec.Struct):
    templates: ComputeTemplateManager
    clusters: ClusterManager
    jobs: JobManager
    services: ServiceManager
    audit: AuditManager
