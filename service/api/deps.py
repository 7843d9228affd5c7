"""What handlers receive by dependency injection: the managers and who is calling."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from service.api.edge import request_id_of
from service.errors import UnauthenticatedError
from service.managers.audit import AuditManager
from service.managers.clusters import ClusterManager
from service.managers.context import Caller
from service.managers.health import HealthManager
from service.managers.jobs import JobManager
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


def provide_services(state: State) -> ServiceManager:
    return _managers(state).services


def provide_audit(state: State) -> AuditManager:
    return _managers(state).audit


def provide_health(state: State) -> HealthManager:
    return _managers(state).health


def provide_caller(request: Request[Any, Any, Any], state: State) -> Caller:
    """The caller: the request id, and the user named by the trusted proxy header when one is configured.

    With ``USER_HEADER`` set, the header is required and must appear once: a request without it did not come
    through the proxy, and a second copy may be the client's own.
    """
    header = str(state.settings.user_header or "")
    user = ""
    if header:
        values = request.headers.getall(header, [])
        if len(values) != 1 or not values[0]:
            raise UnauthenticatedError(
                f"the {header} header set by the authenticating proxy is missing or repeated: "
                "send requests through the proxy"
            )
        user = values[0]
    return Caller(request_id=request_id_of(request.scope), user=user)


DEPENDENCIES = {
    "templates": Provide(provide_templates, sync_to_thread=False),
    "clusters": Provide(provide_clusters, sync_to_thread=False),
    "jobs": Provide(provide_jobs, sync_to_thread=False),
    "services": Provide(provide_services, sync_to_thread=False),
    "audit": Provide(provide_audit, sync_to_thread=False),
    "health": Provide(provide_health, sync_to_thread=False),
    "caller": Provide(provide_caller, sync_to_thread=False),
}
