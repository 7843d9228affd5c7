"""The managers of one running service, shared by the HTTP and gRPC layers, and how they are built."""

from __future__ import annotations

import os

import msgspec

from service.db.records import Records
from service.db.session import Database
from service.kube.client import KubeClient
from service.managers.audit import AuditManager
from service.managers.authorization import Authorizer
from service.managers.clusters import ClusterManager
from service.managers.dashboards import Dashboards
from service.managers.health import HealthManager
from service.managers.job_submissions import JobSubmissionManager
from service.managers.jobs import JobManager
from service.managers.lifecycle import Lifecycle
from service.managers.native import NativeManager
from service.managers.read_model import ReadModel
from service.managers.services import ServiceManager
from service.managers.templates import ComputeTemplateManager
from service.managers.watcher import DeletionRecorder
from service.settings import Settings


class Managers(msgspec.Struct):
    templates: ComputeTemplateManager
    clusters: ClusterManager
    jobs: JobManager
    services: ServiceManager
    audit: AuditManager
    health: HealthManager
    native: NativeManager
    job_submissions: JobSubmissionManager
    reads: ReadModel | None = None
    deletions: DeletionRecorder | None = None


def build_managers(kube: KubeClient, db: Database, settings: Settings) -> Managers:
    records = Records(db)
    authorizer = Authorizer(kube, settings.token_cache_seconds) if settings.auth != "none" else None
    lifecycle = Lifecycle(kube, records)
    templates = ComputeTemplateManager(kube, records, lifecycle)
    clusters = ClusterManager(kube, records, lifecycle, templates)
    jobs = JobManager(kube, records, lifecycle, templates)
    services = ServiceManager(kube, records, lifecycle, templates)
    reads: ReadModel | None = None
    deletions: DeletionRecorder | None = None
    if settings.watch:
        reads = ReadModel(
            kube, records, authorizer, serving=settings.read_cache, namespace=settings.watch_namespace or None
        )
        deletions = DeletionRecorder(records, reads.records)
        templates.attach(reads, sort=lambda namespace, name: (namespace, name))
        for manager in (clusters, jobs, services):
            manager.attach(reads, gone=deletions.for_resource(manager.resource))
    job_submissions = JobSubmissionManager(
        clusters,
        lifecycle,
        Dashboards(kube, settings.dashboard_urls, runs_in_pod(settings), settings.dashboard_timeout),
        settings.log_follow_seconds,
        settings.log_poll_seconds,
    )
    return Managers(
        templates=templates,
        clusters=clusters,
        jobs=jobs,
        services=services,
        audit=AuditManager(db, authorizer),
        health=HealthManager(kube, records, settings.kube_timeout, reads),
        native=NativeManager(kube, records, lifecycle, [clusters, jobs, services], templates, authorizer),
        job_submissions=job_submissions,
        reads=reads,
        deletions=deletions,
    )


def runs_in_pod(settings: Settings) -> bool:
    """Whether the service runs in a pod of the cluster it talks to (in-cluster configuration): then cluster DNS
    names resolve, and a Ray dashboard is reached by its head service's name."""
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    return (
        in_cluster
        and not settings.dev_cluster
        and not settings.kubeconfig
        and not os.environ.get("KUBECONFIG")
    )
