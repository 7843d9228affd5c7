"""RayJobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from service.converters.errors import BuildError
from service.converters.job import job_from_cr, job_to_cr
from service.kube.client import Obj
from service.managers.clusters import RayResourceManager
from service.managers.resources import snapshot_of
from service.managers.validation import require, validate_cluster_spec
from service.schemas.common import ClusterSpec
from service.schemas.compute_template import ComputeTemplate
from service.schemas.job import RayJob
from service.vocabulary import RAY_JOBS, Resource


class JobManager(RayResourceManager[RayJob]):
    resource = Resource.JOBS
    kind = RAY_JOBS
    message_type = RayJob

    async def build(self, namespace: str, message: RayJob, user: str, legacy: bool) -> Obj:
        wrap = self.texts.validate_wrap
        self.validate_common(namespace, message, user, wrap)
        spec: ClusterSpec | None = message.cluster_spec
        templates: dict[str, ComputeTemplate] = {}
        if message.cluster_selector:
            require(
                message.cluster_spec is None,
                "A job runs either on an existing cluster (clusterSelector) or on its own (clusterSpec). "
                "Please specify only one.",
                wrap,
            )
        else:
            spec = validate_cluster_spec(message.cluster_spec, wrap, legacy=legacy)
            templates = await self.templates.resolve(namespace, spec)
        try:
            return job_to_cr(
                msgspec.structs.replace(message, user=user, cluster_spec=spec), namespace, templates
            )
        except BuildError as exc:
            raise self.build_failed(exc) from None

    async def to_api(self, objs: Sequence[Obj]) -> list[RayJob]:
        return [job_from_cr(obj) for obj in objs]

    def convert(self, obj: Obj) -> RayJob:
        return job_from_cr(obj)

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

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        return snapshot_of(job_from_cr({**obj, "status": {}}))
