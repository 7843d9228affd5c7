"""The gRPC services: each RPC converts its request, calls the same manager as the HTTP route, converts back.

Validation, Kubernetes calls, SQL records and error wording all live in the managers, so a request gets the
same result and the same ``{code, message}`` over either protocol. Only the protocol mapping lives here.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias, TypeVar

import grpc
import msgspec
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from service.errors import ApiError, Code
from service.managers.context import Caller
from service.rpc.convert import to_message, to_struct
from service.rpc.proto_gen import (
    cluster_pb2,
    cluster_pb2_grpc,
    config_pb2,
    config_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    job_submission_pb2,
    job_submission_pb2_grpc,
    serve_pb2,
    serve_pb2_grpc,
)
from service.schemas.cluster import Cluster, ListClustersResponse
from service.schemas.compute_template import ComputeTemplate, ListComputeTemplatesResponse
from service.schemas.job import ListRayJobsResponse, RayJob
from service.schemas.job_submission import RayJobSubmission
from service.schemas.service import ListRayServicesResponse, RayService
from service.schemas.updates import ClusterUpdate, JobUpdate, ServiceConfigsUpdate

if TYPE_CHECKING:
    from service.managers.registry import Managers

log = logging.getLogger("kuberay_apiserver.rpc")

R = TypeVar("R")
M = TypeVar("M", bound=Message)
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

# Set per call by the server's interceptor (server.py): who calls, verified.
current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("grpc_caller", default=None)

_STATUS_BY_CODE: dict[int, grpc.StatusCode] = {status.value[0]: status for status in grpc.StatusCode}


def status_code(code: int) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` for a numeric code (``grpc.StatusCode`` members are ``(int, name)`` pairs)."""
    return _STATUS_BY_CODE.get(int(code), grpc.StatusCode.UNKNOWN)


def request_context(context: Context) -> Caller:
    """Who is calling, as the interceptor found it (a servicer called without one gets an anonymous caller)."""
    return current_caller.get() or Caller(request_id=uuid.uuid4().hex)


async def call(context: Context, work: Callable[[], Awaitable[R]]) -> R:
    """Run ``work``; an ``ApiError`` ends the call with its code and message, anything else with INTERNAL."""
    try:
        return await work()
    except ApiError as exc:
        code, message = int(exc.code), exc.message
        log.log(
            logging.ERROR if exc.http_status >= 500 else logging.INFO,
            "request failed",
            extra={"code": int(code), "error": message},
        )
    except Exception:
        # Never echo internals to the client; the log has the traceback.
        log.exception("unexpected error")
        code, message = int(Code.INTERNAL), "Internal Server Error"
    # Outside the except blocks, so the abort exception is not chained to the original one.
    return await _abort(context, code, message)


async def _abort(context: Context, code: int, message: str) -> NoReturn:
    await context.abort(status_code(code), message)
    raise AssertionError("unreachable: context.abort raises")  # tells type checkers this never returns


class ComputeTemplateServicer(config_pb2_grpc.ComputeTemplateServiceServicer):
    def __init__(self, managers: Managers) -> None:
        self.managers = managers

    async def CreateComputeTemplate(
        self, request: config_pb2.CreateComputeTemplateRequest, context: Context
    ) -> config_pb2.ComputeTemplate:
        async def work() -> config_pb2.ComputeTemplate:
            template = to_struct(request.compute_template, ComputeTemplate)
            created = await self.managers.templates.create(
                request_context(context), request.namespace, template
            )
            return to_message(created, config_pb2.ComputeTemplate)

        return await call(context, work)

    async def GetComputeTemplate(
        self, request: config_pb2.GetComputeTemplateRequest, context: Context
    ) -> config_pb2.ComputeTemplate:
        async def work() -> config_pb2.ComputeTemplate:
            template = await self.managers.templates.get(request.namespace, request.name)
            return to_message(template, config_pb2.ComputeTemplate)

        return await call(context, work)

    async def ListComputeTemplates(
        self, request: config_pb2.ListComputeTemplatesRequest, context: Context
    ) -> config_pb2.ListComputeTemplatesResponse:
        async def work() -> config_pb2.ListComputeTemplatesResponse:
            page = await self.managers.templates.list(request.namespace, 0, "", False)
            response = ListComputeTemplatesResponse(compute_templates=page.items)
            return to_message(response, config_pb2.ListComputeTemplatesResponse)

        return await call(context, work)

    async def ListAllComputeTemplates(
        self, request: config_pb2.ListAllComputeTemplatesRequest, context: Context
    ) -> config_pb2.ListAllComputeTemplatesResponse:
        async def work() -> config_pb2.ListAllComputeTemplatesResponse:
            page = await self.managers.templates.list(None, 0, "", False)
            response = ListComputeTemplatesResponse(compute_templates=page.items)
            return to_message(response, config_pb2.ListAllComputeTemplatesResponse)

        return await call(context, work)

    async def DeleteComputeTemplate(
        self, request: config_pb2.DeleteComputeTemplateRequest, context: Context
    ) -> empty_pb2.Empty:
        async def work() -> empty_pb2.Empty:
            await self.managers.templates.delete(request_context(context), request.namespace, request.name)
            return empty_pb2.Empty()

        return await call(context, work)

    async def UpdateComputeTemplate(
        self, request: config_pb2.UpdateComputeTemplateRequest, context: Context
    ) -> config_pb2.ComputeTemplate:
        async def work() -> config_pb2.ComputeTemplate:
            # The extension fields are beside the template in the request; together they are the HTTP body.
            extensions = to_struct(request, ComputeTemplate)
            template = msgspec.structs.replace(
                to_struct(request.compute_template, ComputeTemplate),
                resource_version=extensions.resource_version,
                node_selector=extensions.node_selector,
                affinity=extensions.affinity,
                cpu_limit=extensions.cpu_limit,
                memory_limit=extensions.memory_limit,
            )
            updated = await self.managers.templates.update(
                request_context(context), request.namespace, request.name, template
            )
            return to_message(updated, config_pb2.ComputeTemplate)

        return await call(context, work)


class ClusterServicer(cluster_pb2_grpc.ClusterServiceServicer):
    def __init__(self, managers: Managers) -> None:
        self.managers = managers

    async def CreateCluster(
        self, request: cluster_pb2.CreateClusterRequest, context: Context
    ) -> cluster_pb2.Cluster:
        async def work() -> cluster_pb2.Cluster:
            cluster = to_struct(request.cluster, Cluster)
            created = await self.managers.clusters.create(
                request_context(context), request.namespace, cluster
            )
            return to_message(created, cluster_pb2.Cluster)

        return await call(context, work)

    async def GetCluster(
        self, request: cluster_pb2.GetClusterRequest, context: Context
    ) -> cluster_pb2.Cluster:
        async def work() -> cluster_pb2.Cluster:
            cluster = await self.managers.clusters.get(request.namespace, request.name)
            return to_message(cluster, cluster_pb2.Cluster)

        return await call(context, work)

    async def _list(
        self,
        context: Context,
        namespace: str | None,
        limit: int,
        token: str,
        message_type: type[M],
    ) -> M:
        async def work() -> M:
            page = await self.managers.clusters.list(namespace, limit, token, False)
            response = ListClustersResponse(clusters=page.items, continue_=page.next_token)
            return to_message(response, message_type)

        return await call(context, work)

    async def ListCluster(
        self, request: cluster_pb2.ListClustersRequest, context: Context
    ) -> cluster_pb2.ListClustersResponse:
        token = getattr(request, "continue")  # a Python keyword, so not reachable as an attribute
        return await self._list(
            context,
            request.namespace,
            request.limit,
            token,
            cluster_pb2.ListClustersResponse,
        )

    async def ListAllClusters(
        self, request: cluster_pb2.ListAllClustersRequest, context: Context
    ) -> cluster_pb2.ListAllClustersResponse:
        token = getattr(request, "continue")
        return await self._list(
            context,
            None,
            request.limit,
            token,
            cluster_pb2.ListAllClustersResponse,
        )

    async def DeleteCluster(
        self, request: cluster_pb2.DeleteClusterRequest, context: Context
    ) -> empty_pb2.Empty:
        async def work() -> empty_pb2.Empty:
            await self.managers.clusters.delete(request_context(context), request.namespace, request.name)
            return empty_pb2.Empty()

        return await call(context, work)

    async def UpdateCluster(
        self, request: cluster_pb2.UpdateClusterRequest, context: Context
    ) -> cluster_pb2.Cluster:
        async def work() -> cluster_pb2.Cluster:
            patch = to_struct(request, ClusterUpdate)
            updated = await self.managers.clusters.update(
                request_context(context), request.namespace, request.name, patch
            )
            return to_message(updated, cluster_pb2.Cluster)

        return await call(context, work)


class RayJobServicer(job_pb2_grpc.RayJobServiceServicer):
    def __init__(self, managers: Managers) -> None:
        self.managers = managers

    async def CreateRayJob(self, request: job_pb2.CreateRayJobRequest, context: Context) -> job_pb2.RayJob:
        async def work() -> job_pb2.RayJob:
            job = to_struct(request.job, RayJob)
            created = await self.managers.jobs.create(request_context(context), request.namespace, job)
            return to_message(created, job_pb2.RayJob)

        return await call(context, work)

    async def GetRayJob(self, request: job_pb2.GetRayJobRequest, context: Context) -> job_pb2.RayJob:
        async def work() -> job_pb2.RayJob:
            return to_message(await self.managers.jobs.get(request.namespace, request.name), job_pb2.RayJob)

        return await call(context, work)

    async def _list(
        self, context: Context, namespace: str | None, limit: int, token: str, message_type: type[M]
    ) -> M:
        async def work() -> M:
            page = await self.managers.jobs.list(namespace, limit, token, False)
            response = ListRayJobsResponse(jobs=page.items, continue_=page.next_token)
            return to_message(response, message_type)

        return await call(context, work)

    async def ListRayJobs(
        self, request: job_pb2.ListRayJobsRequest, context: Context
    ) -> job_pb2.ListRayJobsResponse:
        token = getattr(request, "continue")
        return await self._list(context, request.namespace, request.limit, token, job_pb2.ListRayJobsResponse)

    async def ListAllRayJobs(
        self, request: job_pb2.ListAllRayJobsRequest, context: Context
    ) -> job_pb2.ListAllRayJobsResponse:
        token = getattr(request, "continue")
        return await self._list(context, None, request.limit, token, job_pb2.ListAllRayJobsResponse)

    async def DeleteRayJob(self, request: job_pb2.DeleteRayJobRequest, context: Context) -> empty_pb2.Empty:
        async def work() -> empty_pb2.Empty:
            await self.managers.jobs.delete(request_context(context), request.namespace, request.name)
            return empty_pb2.Empty()

        return await call(context, work)

    async def UpdateRayJob(self, request: job_pb2.UpdateRayJobRequest, context: Context) -> job_pb2.RayJob:
        async def work() -> job_pb2.RayJob:
            patch = to_struct(request, JobUpdate)
            updated = await self.managers.jobs.update(
                request_context(context), request.namespace, request.name, patch
            )
            return to_message(updated, job_pb2.RayJob)

        return await call(context, work)


class RayServeServicer(serve_pb2_grpc.RayServeServiceServicer):
    def __init__(self, managers: Managers) -> None:
        self.managers = managers

    async def CreateRayService(
        self, request: serve_pb2.CreateRayServiceRequest, context: Context
    ) -> serve_pb2.RayService:
        async def work() -> serve_pb2.RayService:
            service = to_struct(request.service, RayService) if request.HasField("service") else None
            created = await self.managers.services.create(
                request_context(context), request.namespace, service
            )
            return to_message(created, serve_pb2.RayService)

        return await call(context, work)

    async def UpdateRayService(
        self, request: serve_pb2.UpdateRayServiceRequest, context: Context
    ) -> serve_pb2.RayService:
        async def work() -> serve_pb2.RayService:
            service = to_struct(request.service, RayService) if request.HasField("service") else None
            updated = await self.managers.services.update(
                request_context(context), request.namespace, request.name, service
            )
            return to_message(updated, serve_pb2.RayService)

        return await call(context, work)

    async def UpdateRayServiceConfigs(
        self, request: serve_pb2.UpdateRayServiceConfigsRequest, context: Context
    ) -> serve_pb2.RayService:
        async def work() -> serve_pb2.RayService:
            patch = to_struct(request, ServiceConfigsUpdate)
            updated = await self.managers.services.update_configs(
                request_context(context), request.namespace, request.name, patch
            )
            return to_message(updated, serve_pb2.RayService)

        return await call(context, work)

    async def GetRayService(
        self, request: serve_pb2.GetRayServiceRequest, context: Context
    ) -> serve_pb2.RayService:
        async def work() -> serve_pb2.RayService:
            service = await self.managers.services.get(request.namespace, request.name)
            return to_message(service, serve_pb2.RayService)

        return await call(context, work)

    async def _list(
        self, context: Context, namespace: str | None, size: int, token: str, message_type: type[M]
    ) -> M:
        async def work() -> M:
            page = await self.managers.services.list(namespace, size, token, False)
            response = ListRayServicesResponse(services=page.items, next_page_token=page.next_token)
            return to_message(response, message_type)

        return await call(context, work)

    async def ListRayServices(
        self, request: serve_pb2.ListRayServicesRequest, context: Context
    ) -> serve_pb2.ListRayServicesResponse:
        return await self._list(
            context,
            request.namespace,
            request.page_size,
            request.page_token,
            serve_pb2.ListRayServicesResponse,
        )

    async def ListAllRayServices(
        self, request: serve_pb2.ListAllRayServicesRequest, context: Context
    ) -> serve_pb2.ListAllRayServicesResponse:
        return await self._list(
            context,
            None,
            request.page_size,
            request.page_token,
            serve_pb2.ListAllRayServicesResponse,
        )

    async def DeleteRayService(
        self, request: serve_pb2.DeleteRayServiceRequest, context: Context
    ) -> empty_pb2.Empty:
        async def work() -> empty_pb2.Empty:
            await self.managers.services.delete(request_context(context), request.namespace, request.name)
            return empty_pb2.Empty()

        return await call(context, work)


class JobSubmissionServicer(job_submission_pb2_grpc.RayJobSubmissionServiceServicer):
    """Jobs on a running cluster, through its Ray dashboard (no log following over gRPC: GetJobLog is unary)."""

    def __init__(self, managers: Managers) -> None:
        self.managers = managers

    async def SubmitRayJob(
        self, request: job_submission_pb2.SubmitRayJobRequest, context: Context
    ) -> job_submission_pb2.SubmitRayJobReply:
        async def work() -> job_submission_pb2.SubmitRayJobReply:
            body = (
                to_struct(request.jobsubmission, RayJobSubmission)
                if request.HasField("jobsubmission")
                else None
            )
            reply = await self.managers.job_submissions.submit(
                request_context(context), request.namespace, request.clustername, body
            )
            return to_message(reply, job_submission_pb2.SubmitRayJobReply)

        return await call(context, work)

    async def GetJobDetails(
        self, request: job_submission_pb2.GetJobDetailsRequest, context: Context
    ) -> job_submission_pb2.JobSubmissionInfo:
        async def work() -> job_submission_pb2.JobSubmissionInfo:
            info = await self.managers.job_submissions.details(
                request.namespace, request.clustername, request.submissionid
            )
            return to_message(info, job_submission_pb2.JobSubmissionInfo)

        return await call(context, work)

    async def GetJobLog(
        self, request: job_submission_pb2.GetJobLogRequest, context: Context
    ) -> job_submission_pb2.GetJobLogReply:
        async def work() -> job_submission_pb2.GetJobLogReply:
            reply = await self.managers.job_submissions.log(
                request.namespace, request.clustername, request.submissionid
            )
            return to_message(reply, job_submission_pb2.GetJobLogReply)

        return await call(context, work)

    async def ListJobDetails(
        self, request: job_submission_pb2.ListJobDetailsRequest, context: Context
    ) -> job_submission_pb2.ListJobSubmissionInfo:
        async def work() -> job_submission_pb2.ListJobSubmissionInfo:
            listed = await self.managers.job_submissions.list(request.namespace, request.clustername)
            return to_message(listed, job_submission_pb2.ListJobSubmissionInfo)

        return await call(context, work)

    async def StopRayJob(
        self, request: job_submission_pb2.StopRayJobSubmissionRequest, context: Context
    ) -> empty_pb2.Empty:
        async def work() -> empty_pb2.Empty:
            await self.managers.job_submissions.stop(
                request_context(context), request.namespace, request.clustername, request.submissionid
            )
            return empty_pb2.Empty()

        return await call(context, work)

    async def DeleteRayJob(
        self, request: job_submission_pb2.DeleteRayJobSubmissionRequest, context: Context
    ) -> empty_pb2.Empty:
        async def work() -> empty_pb2.Empty:
            await self.managers.job_submissions.delete(
                request_context(context), request.namespace, request.clustername, request.submissionid
            )
            return empty_pb2.Empty()

        return await call(context, work)
