"""Jobs submitted to a running cluster's Ray dashboard (upstream ``RayJobSubmissionService``).

Every call first looks up the cluster as GetCluster does (so its errors are GetCluster's) and requires its state to
be ``ready``. Submit, stop and delete are changes: each goes through the change-and-record runner, with the
dashboard call as its send, so the audit trail says who submitted which entrypoint to which cluster (the row's name
is ``<cluster>/<submission id>``; a submit without an id gets one here first, in Ray's own format, so its row names
it before anything is sent).
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import string
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import yaml

from service.errors import (
    AlreadyExistsError,
    ApiError,
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
    invalid_input,
)
from service.kube.client import Obj
from service.kube.errors import KubeError
from service.managers.clusters import ClusterManager
from service.managers.context import Caller
from service.managers.dashboards import Answer, Dashboards, Target
from service.managers.kube_errors import api_error
from service.managers.lifecycle import Lifecycle, Write
from service.managers.resources import change_of, snapshot_of
from service.schemas.job_submission import (
    GetJobLogReply,
    JobSubmissionInfo,
    ListJobSubmissionInfo,
    RayJobSubmission,
    SubmitRayJobReply,
)
from service.vocabulary import RAY_CLUSTERS, Action, Resource

TERMINAL = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})
_ID_ALPHABET = string.ascii_letters + string.digits


def new_submission_id() -> str:
    """An id in Ray's own format (``raysubmit_`` and 16 letters or digits)."""
    return "raysubmit_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


class LogEnd(Exception):
    """Why a followed log ended: the job's final status, or the server's bound."""


class JobSubmissionManager:
    resource = Resource.JOB_SUBMISSIONS

    def __init__(
        self,
        clusters: ClusterManager,
        lifecycle: Lifecycle,
        dashboards: Dashboards,
        follow_seconds: float,
        poll_seconds: float,
    ) -> None:
        self.clusters = clusters
        self.lifecycle = lifecycle
        self.dashboards = dashboards
        self.follow_seconds = follow_seconds
        self.poll_seconds = poll_seconds

    # -- the cluster ------------------------------------------------------------------------------------------

    async def target(self, namespace: str, cluster: str) -> Target:
        """The dashboard of a ready cluster, or GetCluster's error, or "not ready"."""
        self.clusters.check_path(namespace, cluster)
        obj = await self.clusters.fetch(namespace, cluster, self.clusters.texts.get_wrap)
        state = str((obj.get("status") or {}).get("state") or "")
        if state.lower() != "ready":
            raise FailedPreconditionError(
                f"cluster is not ready: cluster {namespace}/{cluster} is "
                f"{repr(state) if state else 'not started yet'}; submit jobs once its state is ready"
            )
        return await self.dashboards.target(obj)

    # -- changes ----------------------------------------------------------------------------------------------

    async def submit(
        self, caller: Caller, namespace: str, cluster: str, message: RayJobSubmission | None
    ) -> SubmitRayJobReply:
        submission_id = (message.submission_id if message is not None else "") or new_submission_id()
        spec = {"clusterName": cluster, **(snapshot_of(message) if message is not None else {})}
        spec["submissionId"] = submission_id
        change = change_of(
            Action.CREATE, self.resource, caller, namespace, f"{cluster}/{submission_id}", "", spec
        )

        async def prepare() -> Write:
            target = await self.target(namespace, cluster)
            if message is None:
                raise invalid_input("Job submission is empty. Please specify one.")
            body = dashboard_body(message, submission_id)

            async def send(_intent: int) -> Obj:
                answer = await self.dashboards.call(target, "POST", "/api/jobs/", body)
                if not 200 <= answer.status < 300 and "already exists" in answer.text:
                    raise AlreadyExistsError(
                        f"submission ID '{submission_id}' already used, Please use a different submission_id"
                    )
                if not 200 <= answer.status < 300:
                    raise dashboard_error(target, answer, f"SubmitJob fail: {answer.status}")
                reply = answer.json()
                return reply if isinstance(reply, dict) else {}

            return self._write("create", namespace, cluster, send)

        applied = await self.lifecycle.run(change, prepare)
        job_id = str(applied.obj.get("job_id") or applied.obj.get("submission_id") or submission_id)
        return SubmitRayJobReply(submission_id=job_id)

    async def stop(self, caller: Caller, namespace: str, cluster: str, submission_id: str) -> None:
        change = change_of(
            Action.STOP, self.resource, caller, namespace, f"{cluster}/{submission_id}", "", None
        )

        async def prepare() -> Write:
            target = await self.target(namespace, cluster)
            path = job_path(submission_id)

            async def send(_intent: int) -> Obj:
                answer = await self.dashboards.call(target, "POST", path + "/stop")
                if answer.status == 404:
                    raise job_not_found(submission_id)
                if not 200 <= answer.status < 300:
                    raise dashboard_error(target, answer, "failed to stop job")
                reply = answer.json()
                if isinstance(reply, dict) and reply.get("stopped"):
                    return reply
                status = str((await self._details(target, submission_id)).get("status") or "")
                if status in TERMINAL:
                    return {"stopped": False, "status": status}
                raise FailedPreconditionError(
                    f"failed to stop job: job {submission_id} was not stopped and is {status or 'in no state'}"
                )

            return self._write("update", namespace, cluster, send)

        await self.lifecycle.run(change, prepare)

    async def delete(self, caller: Caller, namespace: str, cluster: str, submission_id: str) -> None:
        change = change_of(
            Action.DELETE, self.resource, caller, namespace, f"{cluster}/{submission_id}", "", None
        )

        async def prepare() -> Write:
            target = await self.target(namespace, cluster)
            path = job_path(submission_id)

            async def send(_intent: int) -> Obj:
                answer = await self.dashboards.call(target, "DELETE", path)
                if answer.status == 404:
                    raise job_not_found(submission_id)
                if answer.status == 400 or "non-terminal state" in answer.text:
                    raise FailedPreconditionError(
                        f"job {submission_id} cannot be deleted yet (stop it first, or wait until it ends): "
                        f"{reason_of(answer.text)}"
                    )
                if not 200 <= answer.status < 300:
                    raise dashboard_error(target, answer, "failed to delete job")
                return {}

            return self._write("delete", namespace, cluster, send)

        await self.lifecycle.run(change, prepare)

    def _write(self, verb: Any, namespace: str, cluster: str, send: Any) -> Write:
        return Write(
            verb=verb,
            kind=RAY_CLUSTERS,
            namespace=namespace,
            name=cluster,
            send=send,
            explain=lambda exc: _kube_explained(exc),
        )

    # -- reads ------------------------------------------------------------------------------------------------

    async def _details(self, target: Target, submission_id: str) -> dict[str, Any]:
        answer = await self.dashboards.call(target, "GET", job_path(submission_id))
        if answer.status == 404:
            raise job_not_found(submission_id)
        if not 200 <= answer.status < 300:
            raise dashboard_error(target, answer, "GetJobDetails failed")
        data = answer.json()
        if not isinstance(data, dict):
            raise UnavailableError(f"the Ray dashboard of cluster {target.cluster} sent no job details")
        return data

    async def details(self, namespace: str, cluster: str, submission_id: str) -> JobSubmissionInfo:
        target = await self.target(namespace, cluster)
        return info_of(await self._details(target, submission_id))

    async def list(self, namespace: str, cluster: str) -> ListJobSubmissionInfo:
        target = await self.target(namespace, cluster)
        answer = await self.dashboards.call(target, "GET", "/api/jobs/")
        if not 200 <= answer.status < 300:
            raise dashboard_error(target, answer, "ListJobDetails failed")
        data = answer.json()
        items = data if isinstance(data, list) else []
        return ListJobSubmissionInfo(submissions=[info_of(item) for item in items if isinstance(item, dict)])

    async def _log(self, target: Target, submission_id: str) -> str:
        answer = await self.dashboards.call(target, "GET", job_path(submission_id) + "/logs")
        if answer.status == 404:
            raise NotFoundError(f'JobSubmission.RayJob "{submission_id}" not found')
        if not 200 <= answer.status < 300:
            raise dashboard_error(target, answer, "GetJobLog failed")
        data = answer.json()
        return str(data.get("logs") or "") if isinstance(data, dict) else ""

    async def log(self, namespace: str, cluster: str, submission_id: str) -> GetJobLogReply:
        target = await self.target(namespace, cluster)
        return GetJobLogReply(log=await self._log(target, submission_id))

    async def follow(
        self, namespace: str, cluster: str, submission_id: str
    ) -> AsyncIterator[tuple[str, str]]:
        """A job's log as it grows: ``("line", text)`` items, then one ``("end", reason)``.

        The checks (cluster, job) run before this returns, so a bad request is an ordinary error. Ray's dashboard
        also offers a websocket tail, but it does not pass the Kubernetes API's service proxy as plain requests do;
        so the log is polled and only its new suffix is sent. The stream ends when the job is in a final state
        (after one last read, so no line is lost), or after ``follow_seconds``.
        """
        target = await self.target(namespace, cluster)
        first = await self._log(target, submission_id)
        return self._follow(target, submission_id, first)

    async def _follow(self, target: Target, submission_id: str, first: str) -> AsyncIterator[tuple[str, str]]:
        deadline = time.monotonic() + self.follow_seconds
        sent, partial = 0, ""
        text = first
        while True:
            if len(text) < sent:  # the log was replaced (a job re-submitted under the same id): start over
                sent, partial = 0, ""
            partial += text[sent:]
            sent = len(text)
            *lines, partial = partial.split("\n")
            for line in lines:
                yield "line", line.rstrip("\r")
            status = str((await self._details(target, submission_id)).get("status") or "")
            if status in TERMINAL:
                text = await self._log(target, submission_id)
                rest = (partial + text[sent:]).split("\n")
                for line in rest:
                    if line:
                        yield "line", line.rstrip("\r")
                yield "end", status
                return
            if time.monotonic() + self.poll_seconds > deadline:
                yield "end", f"TIMEOUT after {self.follow_seconds:g}s (the job is {status}; follow again)"
                return
            await asyncio.sleep(self.poll_seconds)
            text = await self._log(target, submission_id)


def job_path(submission_id: str) -> str:
    if not submission_id:
        raise invalid_input("Submission id is empty. Please specify a valid value.")
    return "/api/jobs/" + quote(submission_id, safe="")


def job_not_found(submission_id: str) -> NotFoundError:
    return NotFoundError(f"Job {submission_id} does not exist on the cluster")


def dashboard_error(target: Target, answer: Answer, what: str) -> ApiError:
    """A dashboard's refusal in the error vocabulary (upstream answers 500 code 2 to all of them)."""
    detail = f"{what}: the Ray dashboard of cluster {target.namespace}/{target.cluster} answered HTTP {answer.status}"
    text = reason_of(answer.text)
    if text:
        detail += f": {text}"
    if answer.status in (401, 403):
        return FailedPreconditionError(
            f"{detail} (the cluster's Ray auth token was refused or missing: check spec.authOptions and its Secret)"
        )
    if answer.status >= 500:
        return UnavailableError(detail)
    return InvalidInputError(detail)


def reason_of(text: str) -> str:
    """The gist of a dashboard's error text: the last ``SomeError: ...`` line of a Python traceback, if any."""
    lines = [line.strip() for line in text.splitlines()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
    return (errors[-1] if errors else text.strip())[:1000]


def _kube_explained(exc: KubeError) -> ApiError:
    return api_error(exc, "job submission")


def dashboard_body(message: RayJobSubmission, submission_id: str) -> dict[str, Any]:
    """The dashboard's ``POST /api/jobs/`` body, checked here so that bad input is a 400 that says what to fix."""
    if not message.entrypoint.strip():
        raise invalid_input("Entrypoint is empty. Please specify a valid value.")
    body: dict[str, Any] = {"entrypoint": message.entrypoint, "submission_id": submission_id}
    if message.metadata:
        body["metadata"] = dict(message.metadata)
    if message.runtime_env.strip():
        try:
            runtime_env = yaml.safe_load(message.runtime_env)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"runtimeEnv is not valid YAML: {exc}") from None
        if not isinstance(runtime_env, dict):
            raise InvalidInputError("runtimeEnv must be a YAML mapping (e.g. 'pip: [requests]')")
        body["runtime_env"] = runtime_env
    for name, value in (
        ("entrypointNumCpus", message.entrypoint_num_cpus),
        ("entrypointNumGpus", message.entrypoint_num_gpus),
    ):
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{name} must be a number of at least 0, not {value}")
    if message.entrypoint_num_cpus > 0:
        body["entrypoint_num_cpus"] = message.entrypoint_num_cpus
    if message.entrypoint_num_gpus > 0:
        body["entrypoint_num_gpus"] = message.entrypoint_num_gpus
    if message.entrypoint_resources:
        resources: dict[str, float] = {}
        for key, raw in message.entrypoint_resources.items():
            try:
                amount = float(raw)
            except ValueError:
                amount = math.nan
            if not math.isfinite(amount) or amount < 0:
                raise InvalidInputError(
                    f"entrypointResources[{key!r}] must be a number of at least 0 written as a string, not {raw!r}"
                )
            resources[key] = amount
        body["entrypoint_resources"] = resources
    return body


def info_of(job: dict[str, Any]) -> JobSubmissionInfo:
    """A dashboard job as upstream shows it."""
    runtime_env = job.get("runtime_env")
    metadata = job.get("metadata")
    return JobSubmissionInfo(
        entrypoint=str(job.get("entrypoint") or ""),
        job_id=str(job.get("job_id") or ""),
        submission_id=str(job.get("submission_id") or ""),
        status=str(job.get("status") or ""),
        message=str(job.get("message") or ""),
        error_type=str(job.get("error_type") or ""),
        start_time=_millis(job.get("start_time")),
        end_time=_millis(job.get("end_time")),
        metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
        runtime_env=(
            {str(k): go_format(v) for k, v in runtime_env.items()} if isinstance(runtime_env, dict) else {}
        ),
    )


def _millis(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return ""
    return str(int(value))


def go_format(value: Any) -> str:
    """``value`` (decoded JSON) as Go's ``fmt`` ``%v`` prints it, as upstream renders runtime env entries."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _go_float(float(value))
    if isinstance(value, list):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _go_float(number: float) -> str:
    """Go's shortest ``%v`` of a float64: plain digits for decimal exponents -4 to 5, else the ``1e+06`` form."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(number)).as_tuple()
    assert isinstance(exponent, int)
    chars = "".join(str(d) for d in digits).rstrip("0") or "0"
    point = len(digits) + exponent  # position of the decimal point from the left of ``digits``
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = chars[0] + ("." + chars[1:] if len(chars) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{chars}"
    if point >= len(chars):
        return prefix + chars + "0" * (point - len(chars))
    return f"{prefix}{chars[:point]}.{chars[point:]}"
