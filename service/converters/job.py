"""RayJob custom resources: built from API jobs (upstream ``NewRayJob``) and read back into them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service import vocabulary
from service.converters.cluster import cluster_spec_from_cr, cluster_spec_to_cr
from service.converters.errors import BuildError
from service.converters.events import api_time
from service.converters.quantity import QuantityError, canonical_or_same, canonical_quantity
from service.schemas.compute_template import ComputeTemplate
from service.schemas.job import RayJob, RayJobSubmitter

SUBMITTER_CONTAINER = "ray-job-submitter"
DEFAULT_SUBMITTER_CPU = "1"
DEFAULT_SUBMITTER_MEMORY = "1Gi"


def job_to_cr(job: RayJob, namespace: str, templates: Mapping[str, ComputeTemplate]) -> dict[str, Any]:
    """The RayJob object for ``job``; raises ``BuildError`` for bad submitter quantities or cluster spec."""
    metadata: dict[str, Any] = {
        "name": job.name,
        "namespace": namespace,
        "labels": {
            vocabulary.CLUSTER_NAME_LABEL: job.name,
            vocabulary.USER_LABEL: job.user,
            vocabulary.APP_NAME_LABEL: vocabulary.APP_NAME,
            vocabulary.MANAGED_BY_LABEL: vocabulary.MANAGED_BY,
        },
    }
    if job.metadata:
        metadata["annotations"] = dict(job.metadata)
    return {
        "apiVersion": vocabulary.API_VERSION,
        "kind": vocabulary.RAY_JOB_KIND,
        "metadata": metadata,
        "spec": _job_spec(job, templates),
    }


def _job_spec(job: RayJob, templates: Mapping[str, ComputeTemplate]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    optional: dict[str, Any] = {
        "entrypoint": job.entrypoint,
        "metadata": dict(job.metadata),
        "runtimeEnvYAML": job.runtime_env,
        "shutdownAfterJobFinishes": job.shutdown_after_job_finishes,
        "ttlSecondsAfterFinished": job.ttl_seconds_after_finished,
        "jobId": job.job_id,
        "clusterSelector": dict(job.cluster_selector),
    }
    spec.update({key: value for key, value in optional.items() if value})
    # A spec without a head group is only accepted next to a selector, which makes it irrelevant.
    if job.cluster_spec is not None and (job.cluster_spec.head_group_spec or not job.cluster_selector):
        spec["rayClusterSpec"] = cluster_spec_to_cr(job.cluster_spec, templates, job.version)
    if job.job_submitter is not None:
        spec["submitterPodTemplate"] = _submitter_template(job.job_submitter)
    if job.entrypoint_num_cpus > 0:
        spec["entrypointNumCpus"] = job.entrypoint_num_cpus
    # Upstream loses entrypointNumGpus; we store it.
    if job.entrypoint_num_gpus > 0:
        spec["entrypointNumGpus"] = job.entrypoint_num_gpus
    if job.entrypoint_resources:
        spec["entrypointResources"] = job.entrypoint_resources
    if job.active_deadline_seconds > 0:
        spec["activeDeadlineSeconds"] = job.active_deadline_seconds
    return spec


def _submitter_template(submitter: RayJobSubmitter) -> dict[str, Any]:
    amounts = {
        "cpu": _submitter_quantity(submitter.cpu or DEFAULT_SUBMITTER_CPU, "cpu"),
        "memory": _submitter_quantity(submitter.memory or DEFAULT_SUBMITTER_MEMORY, "memory"),
    }
    container = {
        "name": SUBMITTER_CONTAINER,
        "image": submitter.image,
        "resources": {"limits": amounts, "requests": dict(amounts)},
    }
    return {"spec": {"containers": [container], "restartPolicy": "Never"}}


def _submitter_quantity(text: str, resource: str) -> str:
    try:
        return canonical_quantity(text)
    except QuantityError as exc:
        raise BuildError(
            f"{resource} for ray job submitter {text} is not specified correctly: {exc}"
        ) from None


def job_from_cr(cr: Mapping[str, Any]) -> RayJob:
    """The API RayJob for a RayJob object (``jobId`` and the state fields come from its status)."""
    metadata = cr.get("metadata") or {}
    spec = cr.get("spec") or {}
    status = cr.get("status") or {}
    cluster_spec = spec.get("rayClusterSpec")
    job = RayJob(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        user=(metadata.get("labels") or {}).get(vocabulary.USER_LABEL, ""),
        version=(cluster_spec or {}).get("rayVersion") or "",
        entrypoint=spec.get("entrypoint") or "",
        metadata=dict(spec.get("metadata") or {}),
        runtime_env=spec.get("runtimeEnvYAML") or "",
        job_id=status.get("jobId") or "",
        shutdown_after_job_finishes=bool(spec.get("shutdownAfterJobFinishes")),
        cluster_selector=dict(spec.get("clusterSelector") or {}),
        cluster_spec=cluster_spec_from_cr(cluster_spec) if cluster_spec is not None else None,
        ttl_seconds_after_finished=spec.get("ttlSecondsAfterFinished") or 0,
        job_submitter=_submitter_from_cr(spec.get("submitterPodTemplate")),
        entrypoint_resources=spec.get("entrypointResources") or "",
        active_deadline_seconds=spec.get("activeDeadlineSeconds") or 0,
        created_at=api_time(metadata.get("creationTimestamp")),
        delete_at=api_time(metadata.get("deletionTimestamp")),
        job_status=status.get("jobStatus") or "",
        job_deployment_status=status.get("jobDeploymentStatus") or "",
        message=status.get("message") or "",
        start_time=api_time(status.get("startTime")),
        end_time=api_time(status.get("endTime")),
        ray_cluster_name=status.get("rayClusterName") or "",
    )
    # Only positive amounts are set: msgspec omits a float default by identity, not by value.
    if (cpus := _positive(spec.get("entrypointNumCpus"))) is not None:
        job.entrypoint_num_cpus = cpus
    if (gpus := _positive(spec.get("entrypointNumGpus"))) is not None:
        job.entrypoint_num_gpus = gpus
    return job


def _positive(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _submitter_from_cr(template: Mapping[str, Any] | None) -> RayJobSubmitter | None:
    if template is None:
        return None
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        return RayJobSubmitter()
    container = containers[0]
    limits = (container.get("resources") or {}).get("limits") or {}
    cpu = canonical_or_same(str(limits.get("cpu", "")))
    memory = canonical_or_same(str(limits.get("memory", "")))
    return RayJobSubmitter(
        image=container.get("image") or "",
        # The defaults are not echoed, so a request without them round-trips.
        cpu="" if cpu == DEFAULT_SUBMITTER_CPU else cpu,
        memory="" if memory == DEFAULT_SUBMITTER_MEMORY else memory,
    )
