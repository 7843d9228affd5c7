"""RayJob messages (upstream ``job.proto``)."""

from __future__ import annotations

import msgspec

from service.schemas.base import ApiStruct, reset_zero_floats
from service.schemas.common import ClusterSpec, Int32


class RayJobSubmitter(ApiStruct):
    image: str = ""
    cpu: str = ""
    memory: str = ""


class RayJob(ApiStruct):
    name: str = ""
    namespace: str = ""
    user: str = ""
    version: str = ""
    entrypoint: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    runtime_env: str = ""
    job_id: str = ""
    shutdown_after_job_finishes: bool = False
    cluster_selector: dict[str, str] = msgspec.field(default_factory=dict)
    cluster_spec: ClusterSpec | None = None
    ttl_seconds_after_finished: Int32 = 0
    job_submitter: RayJobSubmitter | None = None
    entrypoint_num_cpus: float = 0.0
    entrypoint_num_gpus: float = 0.0
    entrypoint_resources: str = ""
    active_deadline_seconds: Int32 = 0
    created_at: str = ""
    delete_at: str = ""
    job_status: str = ""
    job_deployment_status: str = ""
    message: str = ""
    start_time: str = ""
    end_time: str = ""
    ray_cluster_name: str = ""

    __proto_names__ = {
        "job_submitter": "jobSubmitter",
        "entrypoint_num_cpus": "entrypointNumCpus",
        "entrypoint_num_gpus": "entrypointNumGpus",
        "entrypoint_resources": "entrypointResources",
        "active_deadline_seconds": "activeDeadlineSeconds",
    }

    def __post_init__(self) -> None:
        reset_zero_floats(self)


class ListRayJobsResponse(ApiStruct):
    jobs: list[RayJob]
    continue_: str = msgspec.field(default="", name="continue")


ListAllRayJobsResponse = ListRayJobsResponse
