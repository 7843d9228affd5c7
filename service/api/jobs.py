"""RayJob routes (upstream ``RayJobService``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, patch, post

from service.api.params import Continue, IncludeDeleted, Limit, include_deleted, int_param, str_param
from service.api.paths import Namespace, RayName, ends_with_slash, is_legacy, paths, rpc
from service.api.wire import WireDTO
from service.errors import invalid_input
from service.managers.context import Caller
from service.managers.jobs import JobManager
from service.schemas.job import ListRayJobsResponse, RayJob
from service.schemas.updates import JobUpdate
from service.vocabulary import Action, Resource

TAGS = ["RayJobService"]
AnyRequest = Request[Any, Any, Any]


@post(
    paths("/namespaces/{namespace:str}/jobs"),
    **rpc("CreateRayJob", (Resource.JOBS, Action.CREATE)),
    dto=WireDTO[RayJob],
    return_dto=None,
    status_code=200,
    tags=TAGS,
)
async def create_job(
    request: AnyRequest, jobs: JobManager, caller: Caller, namespace: Namespace, data: RayJob | None = None
) -> RayJob:
    """Create a RayJob, on its own cluster (clusterSpec) or an existing one (clusterSelector)."""
    return await jobs.create(caller, namespace, data or RayJob(), legacy=is_legacy(request.url.path))


@get(paths("/namespaces/{namespace:str}/jobs/{name:str}"), **rpc("GetRayJob"), tags=TAGS)
async def get_job(jobs: JobManager, namespace: Namespace, name: RayName) -> RayJob:
    """Get a job with its live status."""
    return await jobs.get(namespace, name)


async def _list(request: AnyRequest, jobs: JobManager, namespace: str | None) -> ListRayJobsResponse:
    if namespace is not None and ends_with_slash(request.scope):
        raise invalid_input(jobs.texts.name_empty)
    page = await jobs.list(
        namespace,
        int_param(request, "limit", "limit"),
        str_param(request, "continue", "continue"),
        include_deleted(request),
    )
    return ListRayJobsResponse(jobs=page.items, continue_=page.next_token)


@get(paths("/namespaces/{namespace:str}/jobs"), **rpc("ListRayJobs"), tags=TAGS)
async def list_jobs(
    request: AnyRequest,
    jobs: JobManager,
    namespace: Namespace,
    limit: Limit = None,
    continue_: Continue = None,
    include_deleted_: IncludeDeleted = None,
) -> ListRayJobsResponse:
    """List the jobs of a namespace, a page at a time with ``limit`` and ``continue``."""
    return await _list(request, jobs, namespace)


@get(paths("/jobs"), **rpc("ListAllRayJobs"), tags=TAGS)
async def list_all_jobs(
    request: AnyRequest,
    jobs: JobManager,
    limit: Limit = None,
    continue_: Continue = None,
    include_deleted_: IncludeDeleted = None,
) -> ListRayJobsResponse:
    """List the jobs of every namespace."""
    return await _list(request, jobs, None)


@delete(
    paths("/namespaces/{namespace:str}/jobs/{name:str}"),
    **rpc("DeleteRayJob", (Resource.JOBS, Action.DELETE)),
    status_code=200,
    tags=TAGS,
)
async def delete_job(jobs: JobManager, caller: Caller, namespace: Namespace, name: RayName) -> dict[str, Any]:
    """Delete a job."""
    await jobs.delete(caller, namespace, name)
    return {}


@patch(
    paths("/namespaces/{namespace:str}/jobs/{name:str}"),
    **rpc("UpdateRayJob", (Resource.JOBS, Action.UPDATE)),
    dto=WireDTO[JobUpdate],
    return_dto=None,
    tags=TAGS,
)
async def update_job(
    jobs: JobManager, caller: Caller, namespace: Namespace, name: RayName, data: JobUpdate | None = None
) -> RayJob:
    """Suspend (``"suspend": true``) or resume (``false``) a job, or change ``shutdownAfterJobFinishes``,
    ``ttlSecondsAfterFinished`` or ``activeDeadlineSeconds``. With ``resourceVersion``, a job changed since is 409
    (code 10, ABORTED), as is a concurrent change."""
    return await jobs.update(caller, namespace, name, data)


ROUTES = [create_job, get_job, list_jobs, list_all_jobs, delete_job, update_job]
