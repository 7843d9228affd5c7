"""RayJob routes (upstream ``RayJobService``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post

from service.api.deps import body, context, managers
from service.api.params import include_deleted, int_param, str_param
from service.api.paths import body_of, paths, rpc
from service.schemas.base import decode
from service.schemas.job import ListRayJobsResponse, RayJob

TAGS = ["RayJobService"]
AnyRequest = Request[Any, Any, Any]


@post(
    paths("/namespaces/{namespace:str}/jobs"),
    **rpc("CreateRayJob"),
    operation_class=body_of("RayJob"),
    status_code=200,
    tags=TAGS,
)
async def create_job(request: AnyRequest, namespace: str) -> RayJob:
    """Create a RayJob, on its own cluster (clusterSpec) or an existing one (clusterSelector)."""
    job = decode(await body(request), RayJob)
    return await managers(request).jobs.create(context(request), namespace, job)


@get(paths("/namespaces/{namespace:str}/jobs/{name:str}"), **rpc("GetRayJob"), tags=TAGS)
async def get_job(request: AnyRequest, namespace: str, name: str) -> RayJob:
    """Get a job with its live status."""
    return await managers(request).jobs.get(namespace, name)


async def _list(request: AnyRequest, namespace: str | None, wrap: str) -> ListRayJobsResponse:
    page = await managers(request).jobs.list(
        namespace,
        int_param(request, "limit", "limit"),
        str_param(request, "continue", "continue"),
        include_deleted(request),
        wrap,
    )
    return ListRayJobsResponse(jobs=page.items, continue_=page.next_token)


@get(paths("/namespaces/{namespace:str}/jobs"), **rpc("ListRayJobs"), tags=TAGS)
async def list_jobs(request: AnyRequest, namespace: str) -> ListRayJobsResponse:
    """List the jobs of a namespace, a page at a time with ``limit`` and ``continue``."""
    return await _list(request, namespace, "List jobs failed.")


@get(paths("/jobs"), **rpc("ListAllRayJobs"), tags=TAGS)
async def list_all_jobs(request: AnyRequest) -> ListRayJobsResponse:
    """List the jobs of every namespace."""
    return await _list(request, None, "List jobs failed.")


@delete(
    paths("/namespaces/{namespace:str}/jobs/{name:str}"), **rpc("DeleteRayJob"), status_code=200, tags=TAGS
)
async def delete_job(request: AnyRequest, namespace: str, name: str) -> dict[str, Any]:
    """Delete a job."""
    await managers(request).jobs.delete(context(request), namespace, name)
    return {}


ROUTES = [create_job, get_job, list_jobs, list_all_jobs, delete_job]
