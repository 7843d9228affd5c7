"""RayJobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from service.converters.errors import BuildError
from service.converters.job import job_from_cr, job_to_cr
from service.db.records import Action, Records, Resource
from service.errors import invalid_input_details
from service.kube.client import KubeClient, Obj
from service.managers.context import RequestContext
from service.managers.resources import RayResourceManager, Texts, snapshot_of
from service.managers.templates import ComputeTemplateManager
from service.managers.validation import require, validate_cluster_spec, validate_namespace
from service.schemas.job import RayJob


class JobManager(RayResourceManager[RayJob]):
    plural = "rayjobs"
    resource = Resource.JOBS
    message_type = RayJob
    texts = Texts(
        kind="Job",
        name_empty="job name is empty. Please specify a valid value.",
        get_wrap="Get job failed.",
        delete_wrap="Get job failure",
        create_wrap="Create Job failed.",
        crd_kind="RayJob",
    )

    def __init__(self, kube: KubeClient, records: Records, templates: ComputeTemplateManager) -> None:
        super().__init__(kube, records)
        self.templates = templates

    async def create(self, ctx: RequestContext, namespace: str, job: RayJob) -> RayJob:
        user = ctx.user_for(job.user)
        spec = snapshot_of(job)

        async def work() -> RayJob:
            wrap = "Validate job request failed."
            validate_namespace(namespace, job.namespace, "in the job definition", wrap)
            require(bool(job.name), "Job name is empty. Please specify a valid value.", wrap)
            require(bool(user), "User who create the job is empty. Please specify a valid value.", wrap)
            if job.cluster_selector:
                require(
                    job.cluster_spec is None,
                    "A job runs either on an existing cluster (clusterSelector) or on its own (clusterSpec). "
                    "Please specify only one.",
                    wrap,
                )
                templates = {}
            else:
                validate_cluster_spec(job.cluster_spec, wrap)
                templates = await self.templates.resolve(namespace, job.cluster_spec)
            try:
                body = job_to_cr(msgspec.structs.replace(job, user=user), namespace, templates)
            except BuildError as exc:
                raise invalid_input_details(
                    "Failed to create a Ray Job", str(exc), self.texts.create_wrap
                ) from None
            return await self.create_cr(ctx, namespace, job.name, user, body, spec)

        return await self.recorded(ctx, Action.CREATE, namespace, job.name, user, spec, work)

    async def to_api(self, crs: Sequence[Obj]) -> list[RayJob]:
        return [job_from_cr(cr) for cr in crs]

    def with_record(self, item: RayJob, created_at: str, user: str, deleted_at: str) -> RayJob:
        return msgspec.structs.replace(item, created_at=created_at, user=user, delete_at=deleted_at)

    def with_status(self, item: RayJob, status: dict[str, Any] | None) -> RayJob:
        if not status:
            return item
        return msgspec.structs.replace(
            item,
            job_status=str(status.get("jobStatus") or ""),
            job_deployment_status=str(status.get("jobDeploymentStatus") or ""),
            message=str(status.get("message") or ""),
            ray_cluster_name=str(status.get("rayClusterName") or ""),
            job_id=str(status.get("jobId") or item.job_id),
        )

    def snapshot(self, cr: Obj) -> dict[str, Any]:
        return snapshot_of(job_from_cr({**cr, "status": {}}))
