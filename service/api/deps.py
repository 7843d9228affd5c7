"""What handlers receive by dependency injection: the managers and who is calling."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from service.api.edge import request_id_of
from service.identity import Identity
from service.managers.audit import AuditManager
from service.managers.clusters import ClusterManager
from service.managers.context import ANONYMOUS, Caller
from service.managers.health import HealthManager
from service.managers.job_submissions import JobSubmissionManager
from service.managers.jobs import JobManager
from service.managers.native import NativeManager
from service.managers.registry import Managers
from service.managers.services import ServiceManager
from service.managers.templates import ComputeTemplateManager


def _managers(state: State) -> Managers:
    managers: Managers = state.managers
    return managers


def provide_templates(state: State) -> ComputeTemplateManager:
    return _managers(state).templates


def provide_clusters(state: State) -> ClusterManager:
    return _managers(state).clusters


def provide_jobs(state: State) -> JobManager:
    return _managers(state).jobs


def provide_job_submissions(state: State) -> JobSubmissionManager:
    return _managers(state).job_submissions


def provide_services(state: State) -> ServiceManager:
    return _managers(state).services


def provide_audit(state: State) -> AuditManager:
    return _managers(state).audit


def provide_health(state: State) -> HealthManager:
    return _managers(state).health


def _provide_native(state: State) -> NativeManager:
    return _managers(state).native


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """The caller: the identity the authentication middleware verified, the request id, where it came from."""
    identity = request.scope.get("identity")
    return Caller(
        request_id=request_id_of(request.scope),
        identity=identity if isinstance(identity, Identity) else ANONYMOUS,
        source_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )


DEPENDENCIES = {
    "templates": Provide(provide_templates, sync_to_thread=False),
    "clusters": Provide(provide_clusters, sync_to_thread=False),
    "jobs": Provide(provide_jobs, sync_to_thread=False),
    "services": Provide(provide_services, sync_to_thread=False),
    "job_submissions": Provide(provide_job_submissions, sync_to_thread=False),
    "audit": Provide(provide_audit, sync_to_thread=False),
    "health": Provide(provide_health, sync_to_thread=False),
    "caller": Provide(provide_caller, sync_to_thread=False),
    "native": Provide(_provide_native, sync_to_thread=False),
}
