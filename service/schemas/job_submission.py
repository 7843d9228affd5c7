"""Job submission messages (upstream ``job_submission.proto``): jobs sent to a running cluster's Ray dashboard."""

from __future__ import annotations

import msgspec

from service.schemas.base import ApiStruct, reset_zero_floats


class RayJobSubmission(ApiStruct):
    """The body of a submit: what to run and with which resources."""

    entrypoint: str = ""
    submission_id: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    runtime_env: str = ""
    """A YAML (or JSON) mapping, sent to Ray as its ``runtime_env`` object."""
    entrypoint_num_cpus: float = 0.0
    entrypoint_num_gpus: float = 0.0
    entrypoint_resources: dict[str, str] = msgspec.field(default_factory=dict)
    """Custom resources by name, each a number written as a string."""

    def __post_init__(self) -> None:
        reset_zero_floats(self)


class SubmitRayJobReply(ApiStruct):
    submission_id: str = ""


class JobSubmissionInfo(ApiStruct):
    entrypoint: str = ""
    job_id: str = ""
    submission_id: str = ""
    status: str = ""
    message: str = ""
    error_type: str = ""
    start_time: str = ""
    """Milliseconds since the epoch (a uint64, so a JSON string as protojson writes it)."""
    end_time: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    runtime_env: dict[str, str] = msgspec.field(default_factory=dict)
    """Each top-level entry of the job's runtime environment, rendered as upstream renders it (Go's ``%v``)."""


class GetJobLogReply(ApiStruct):
    log: str = ""


class ListJobSubmissionInfo(ApiStruct):
    submissions: list[JobSubmissionInfo]
