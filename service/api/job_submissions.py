"""Job submission routes (upstream ``RayJobSubmissionService``): jobs on a running cluster, via its Ray dashboard.

``GET .../log/{id}?follow=true`` streams the log as it grows, as server-sent events: each log line is one
``data:`` event, and a last ``event: end`` says why the stream ended (the job's final status, or the server's
bound). SSE rather than bare chunked text because a follower must be able to tell "the job finished" from "the
connection was cut" or "the bound was reached, follow again", and SSE frames that without inventing a format;
``curl -N`` shows it readably and browsers read it with ``EventSource``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from service.api.params import bool_param
from service.api.paths import Namespace, RayName, paths, rpc
from service.api.wire import WireDTO
from service.managers.context import Caller
from service.managers.job_submissions import JobSubmissionManager
from service.schemas.job_submission import (
    JobSubmissionInfo,
    ListJobSubmissionInfo,
    RayJobSubmission,
    SubmitRayJobReply,
)
from service.vocabulary import Action, Resource

TAGS = ["RayJobSubmissionService"]
AnyRequest = Request[Any, Any, Any]
ROOT = "/namespaces/{namespace:str}/jobsubmissions/{clustername:str}"

SubmissionId = Annotated[str, Parameter(description="The job's submission id (Ray's ``submission_id``).")]
Follow = Annotated[
    str | None,
    Parameter(
        query="follow",
        required=False,
        description="Stream the log as server-sent events until the job ends (bounded by the server).",
    ),
]


def _rpc(name: str, operation: str, action: Action | None = None) -> dict[str, Any]:
    """``rpc`` options with an OpenAPI operation id of its own (``DeleteRayJob`` is also RayJobService's)."""
    options = rpc(name, (Resource.JOB_SUBMISSIONS, action) if action else None)

    def operation_id(_handler: Any, _method: Any, components: list[Any]) -> str:
        return f"{operation}V1alpha2" if "v1alpha2" in components else operation

    options["operation_id"] = operation_id
    return options


@post(
    paths(ROOT),
    **_rpc("SubmitRayJob", "SubmitRayJob", Action.CREATE),
    dto=WireDTO[RayJobSubmission],
    return_dto=None,
    status_code=200,
    tags=TAGS,
)
async def submit_job(
    job_submissions: JobSubmissionManager,
    caller: Caller,
    namespace: Namespace,
    clustername: RayName,
    data: RayJobSubmission | None = None,
) -> SubmitRayJobReply:
    """Submit a job to a ready cluster's Ray dashboard."""
    return await job_submissions.submit(caller, namespace, clustername, data or RayJobSubmission())


@get(paths(ROOT + "/{submissionid:str}"), **_rpc("GetJobDetails", "GetJobDetails"), tags=TAGS)
async def get_job_details(
    job_submissions: JobSubmissionManager,
    namespace: Namespace,
    clustername: RayName,
    submissionid: SubmissionId,
) -> JobSubmissionInfo:
    """A submitted job's status."""
    return await job_submissions.details(namespace, clustername, submissionid)


@get(paths(ROOT + "/log/{submissionid:str}"), **_rpc("GetJobLog", "GetJobLog"), tags=TAGS)
async def get_job_log(
    request: AnyRequest,
    job_submissions: JobSubmissionManager,
    namespace: Namespace,
    clustername: RayName,
    submissionid: SubmissionId,
    follow: Follow = None,
) -> Response[Any]:
    """A submitted job's log from the start; with ``follow=true``, streamed until the job ends."""
    # Annotated as a Response (not a union with the stream), so each answer keeps its own media type.
    if not bool_param(request, "follow", "follow"):
        return Response(await job_submissions.log(namespace, clustername, submissionid))
    items = await job_submissions.follow(namespace, clustername, submissionid)

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        async for kind, text in items:
            if kind == "end":
                yield ServerSentEventMessage(event="end", data=text, sep="\n")
            else:
                yield ServerSentEventMessage(data=text, sep="\n")

    return ServerSentEvent(events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@get(paths(ROOT), **_rpc("ListJobDetails", "ListJobDetails"), tags=TAGS)
async def list_job_details(
    job_submissions: JobSubmissionManager, namespace: Namespace, clustername: RayName
) -> ListJobSubmissionInfo:
    """The jobs submitted to a cluster."""
    return await job_submissions.list(namespace, clustername)


@post(
    paths(ROOT + "/{submissionid:str}"),
    **_rpc("StopRayJob", "StopRayJob", Action.STOP),
    status_code=200,
    tags=TAGS,
)
async def stop_job(
    job_submissions: JobSubmissionManager,
    caller: Caller,
    namespace: Namespace,
    clustername: RayName,
    submissionid: SubmissionId,
) -> dict[str, Any]:
    """Stop a submitted job (already finished jobs stop without error)."""
    await job_submissions.stop(caller, namespace, clustername, submissionid)
    return {}


@delete(
    paths(ROOT + "/{submissionid:str}"),
    **_rpc("DeleteRayJob", "DeleteRayJobSubmission", Action.DELETE),
    status_code=200,
    tags=TAGS,
)
async def delete_job(
    job_submissions: JobSubmissionManager,
    caller: Caller,
    namespace: Namespace,
    clustername: RayName,
    submissionid: SubmissionId,
) -> dict[str, Any]:
    """Delete a finished job's record and logs from the cluster."""
    await job_submissions.delete(caller, namespace, clustername, submissionid)
    return {}


ROUTES = [submit_job, get_job_details, get_job_log, list_job_details, stop_job, delete_job]
