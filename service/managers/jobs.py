"""RayJobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from service.converters.errors import BuildError
from service.converters.job import job_from_cr, job_to_cr
from service.kube.client import Obj
from service.managers.clusters import RayResourceManager
from service.managers.context import Caller
from service.managers.resources import snapshot_of
from service.managers.validation import require, validate_cluster_spec
from service.schemas.common import ClusterSpec
from service.schemas.compute_template import ComputeTemplate
from service.schemas.job import RayJob
from service.schemas.updates import JobUpdate
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

    async def update(self, caller: Caller, namespace: str, name: str, patch: JobUpdate | None) -> RayJob:
        """Suspend or resume a job, or change how long it may run and what happens when it finishes."""
        patch = patch or JobUpdate()

        async def edit(obj: Obj) -> Obj:
            apply_job_update(obj.setdefault("spec", {}), patch)
            return obj

        return await self.revise(caller, namespace, name, snapshot_of(patch), patch.resource_version, edit)

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
        recorded = snapshot_of(job_from_cr({**obj, "status": {}}))
        # Record fields the RayJob message does not carry, so an update's old and new values show the change.
        spec = obj.get("spec") or {}
        for key in ("suspend", "activeDeadlineSeconds"):
            if spec.get(key):
                recorded[key] = spec[key]
        return recorded


UPDATE_WRAP = "Validate update job request failed."


def apply_job_update(spec: dict[str, Any], patch: JobUpdate) -> None:
    """``spec`` (a RayJob's) with the patch applied; refuses what the operator would reject or ignore."""
    fields = (
        patch.suspend,
        patch.shutdown_after_job_finishes,
        patch.ttl_seconds_after_finished,
        patch.active_deadline_seconds,
    )
    require(
        any(value is not None for value in fields),
        "Nothing to update: give suspend, shutdownAfterJobFinishes, ttlSecondsAfterFinished and/or "
        "activeDeadlineSeconds.",
        UPDATE_WRAP,
    )
    for field, value in (
        ("ttlSecondsAfterFinished", patch.ttl_seconds_after_finished),
        ("activeDeadlineSeconds", patch.active_deadline_seconds),
    ):
        require(
            value is None or value >= 0,
            f"{field} can not be negative ({value}). Please specify a valid value (0 removes it).",
            UPDATE_WRAP,
        )
    if patch.suspend is not None:
        require(
            not (patch.suspend and spec.get("clusterSelector")),
            "A job that runs on an existing cluster (clusterSelector) cannot be suspended: only a job with its "
            "own cluster (clusterSpec) can.",
            UPDATE_WRAP,
        )
        spec["suspend"] = patch.suspend
    if patch.shutdown_after_job_finishes is not None:
        spec["shutdownAfterJobFinishes"] = patch.shutdown_after_job_finishes
    if patch.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = patch.ttl_seconds_after_finished
    if patch.active_deadline_seconds is not None:
        if patch.active_deadline_seconds:
            spec["activeDeadlineSeconds"] = patch.active_deadline_seconds
        else:
            spec.pop("activeDeadlineSeconds", None)
    require(
        not (spec.get("ttlSecondsAfterFinished") and not spec.get("shutdownAfterJobFinishes")),
        "ttlSecondsAfterFinished needs shutdownAfterJobFinishes: true (the operator deletes the cluster only "
        "then). Set both, or set ttlSecondsAfterFinished to 0.",
        UPDATE_WRAP,
    )
