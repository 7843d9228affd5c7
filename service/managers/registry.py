"""The managers of one running service, shared by the HTTP and gRPC layers, and how they are built."""

from __future__ import annotations

import msgspec

from service.db.records import Records
from service.db.session import Database
from service.kube.client import KubeClient
from service.managers.audit import AuditManager
from service.managers.clusters import ClusterManager
from service.managers.health import HealthManager
from service.managers.jobs import JobManager
from service.managers.lifecycle import Lifecycle
from service.managers.services import ServiceManager
from service.managers.templates import ComputeTemplateManager


class Managers(msgspec.Struct):
    templates: ComputeTemplateManager
    clusters: ClusterManager
    jobs: JobManager
    services: ServiceManager
    audit: AuditManager
    health: HealthManager


def build_managers(kube: KubeClient, db: Database, health_timeout: float) -> Managers:
    records = Records(db)
    lifecycle = Lifecycle(kube, records)
    templates = ComputeTemplateManager(kube, records, lifecycle)
    return Managers(
        templates=templates,
        clusters=ClusterManager(kube, records, lifecycle, templates),
        jobs=JobManager(kube, records, lifecycle, templates),
        services=ServiceManager(kube, records, lifecycle, templates),
        audit=AuditManager(db),
        health=HealthManager(kube, records, health_timeout),
    )
