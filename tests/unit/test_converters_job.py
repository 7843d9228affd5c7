"""RayJob conversion: API RayJob -> CR (upstream section 6.3, with its lost fields fixed) and back (7.2)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from service.converters.errors import BuildError
from service.converters.job import job_from_cr, job_to_cr
from service.converters.quantity import FORMAT_ERROR
from service.schemas.base import convert, decode, to_builtins
from service.schemas.job import RayJob
from tests.support.crd_schema import CRValidationError, validate_cr
from tests.unit.golden import as_created, check_json, check_yaml, load_templates, read_request

TEMPLATES = load_templates()
HEAD = {"computeTemplate": "default-template", "rayStartParams": {"a": "b"}}


def job_of(**fields: Any) -> RayJob:
    return convert({"name": "j", "user": "u", **fields}, RayJob)


def spec_of(**fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = job_to_cr(job_of(**fields), "ns", TEMPLATES)["spec"]
    return spec


@pytest.mark.parametrize("case", ["job_cluster_spec", "job_selector"])
def test_golden(case: str) -> None:
    cr = job_to_cr(decode(read_request(case), RayJob), "ray-system", TEMPLATES)
    check_yaml(f"{case}.cr.yaml", cr)
    validate_cr(cr)
    check_json(f"{case}.response.json", to_builtins(job_from_cr(as_created(cr))))


def test_spec_round_trips_like_the_e2e_comparison() -> None:
    """Upstream's e2e compares the job with the request, ignoring status fields, times and version."""
    sent = json.loads(read_request("job_cluster_spec"))
    cr = as_created(job_to_cr(decode(json.dumps(sent), RayJob), "ray-system", TEMPLATES))
    cr["status"] = {"jobId": sent["jobId"]}
    got = to_builtins(job_from_cr(cr))
    expected = to_builtins(decode(json.dumps(sent), RayJob))
    for group in [expected["clusterSpec"]["headGroupSpec"], *expected["clusterSpec"]["workerGroupSpec"]]:
        group["environment"] = {}
    expected["createdAt"] = "2025-01-02T03:04:05Z"
    assert got == expected


def test_metadata() -> None:
    cr = job_to_cr(job_of(metadata={"k": "v"}), "ns", TEMPLATES)
    assert cr["apiVersion"] == "ray.io/v1"
    assert cr["kind"] == "RayJob"
    assert cr["metadata"] == {
        "name": "j",
        "namespace": "ns",
        "labels": {
            "ray.io/cluster-name": "j",
            "ray.io/user": "u",
            "app.kubernetes.io/name": "kuberay",
            "app.kubernetes.io/managed-by": "kuberay-apiserver",
        },
        "annotations": {"k": "v"},
    }
    assert cr["spec"]["metadata"] == {"k": "v"}
    assert "annotations" not in job_to_cr(job_of(), "ns", TEMPLATES)["metadata"]


def test_spec_fields_and_omitted_zero_values() -> None:
    assert spec_of() == {}
    spec = spec_of(
        entrypoint="python x.py",
        runtimeEnv="pip: [a]\n",
        shutdownAfterJobFinishes=True,
        ttlSecondsAfterFinished=30,
        jobId="id-1",
        clusterSelector={"ray.io/cluster": "c"},
        entrypointNumCpus=1.5,
        entrypointNumGpus=0.5,
        entrypointResources='{"r": 1}',
        activeDeadlineSeconds=120,
    )
    assert spec == {
        "entrypoint": "python x.py",
        "runtimeEnvYAML": "pip: [a]\n",
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 30,
        "jobId": "id-1",
        "clusterSelector": {"ray.io/cluster": "c"},
        "entrypointNumCpus": 1.5,
        "entrypointNumGpus": 0.5,
        "entrypointResources": '{"r": 1}',
        "activeDeadlineSeconds": 120,
    }


def test_cluster_spec_uses_job_version_without_cluster_extras() -> None:
    spec = spec_of(version="2.1.0", clusterSpec={"headGroupSpec": HEAD})
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == "2.1.0"
    container = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "rayproject/ray:2.1.0"
    assert [p["name"] for p in container["ports"]] == ["redis", "head", "dashboard", "metrics"]
    assert [e["name"] for e in container["env"]] == ["MY_POD_IP"]


def test_selector_with_headless_cluster_spec_is_ignored() -> None:
    """Upstream crashes here; the spec is irrelevant next to a selector, so it is dropped."""
    spec = spec_of(clusterSelector={"ray.io/cluster": "c"}, clusterSpec={"workerGroupSpec": []})
    assert "rayClusterSpec" not in spec
    with pytest.raises(BuildError):
        spec_of(clusterSpec={"workerGroupSpec": []})


@pytest.mark.parametrize(
    ("submitter", "amounts"),
    [
        ({"image": "img"}, {"cpu": "1", "memory": "1Gi"}),
        ({"image": "img", "cpu": "400m", "memory": "150Mi"}, {"cpu": "400m", "memory": "150Mi"}),
        ({"image": "img", "cpu": "0.5", "memory": "2048Mi"}, {"cpu": "500m", "memory": "2Gi"}),
    ],
)
def test_submitter_template(submitter: dict[str, str], amounts: dict[str, str]) -> None:
    template = spec_of(jobSubmitter=submitter)["submitterPodTemplate"]
    assert template == {
        "spec": {
            "containers": [
                {
                    "name": "ray-job-submitter",
                    "image": "img",
                    "resources": {"limits": amounts, "requests": amounts},
                }
            ],
            "restartPolicy": "Never",
        }
    }


@pytest.mark.parametrize(
    ("submitter", "message"),
    [
        ({"cpu": "1x"}, f"cpu for ray job submitter 1x is not specified correctly: {FORMAT_ERROR}"),
        (
            {"memory": "1Gb"},
            f"memory for ray job submitter 1Gb is not specified correctly: {FORMAT_ERROR}",
        ),
        (
            {"memory": "1Ki2"},
            "memory for ray job submitter 1Ki2 is not specified correctly: unable to parse quantity's suffix",
        ),
    ],
)
def test_submitter_bad_quantities(submitter: dict[str, str], message: str) -> None:
    with pytest.raises(BuildError) as info:
        spec_of(jobSubmitter=submitter)
    assert info.value.detail == message


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [
        ("1", "1Gi", {"image": "img"}),
        ("500m", "1Gi", {"image": "img", "cpu": "500m"}),
        ("0.5", "1024Mi", {"image": "img", "cpu": "500m"}),
        ("2", "512Mi", {"image": "img", "cpu": "2", "memory": "512Mi"}),
    ],
)
def test_submitter_read_back(cpu: str, memory: str, expected: dict[str, str]) -> None:
    cr = job_to_cr(job_of(jobSubmitter={"image": "img"}), "ns", TEMPLATES)
    limits = cr["spec"]["submitterPodTemplate"]["spec"]["containers"][0]["resources"]["limits"]
    limits.update(cpu=cpu, memory=memory)
    assert to_builtins(job_from_cr(cr))["jobSubmitter"] == expected


def test_fields_upstream_loses_are_read_back() -> None:
    cr = job_to_cr(
        job_of(entrypointNumGpus=2, activeDeadlineSeconds=120, entrypointNumCpus=1), "ns", TEMPLATES
    )
    job = job_from_cr(cr)
    assert job.entrypoint_num_gpus == 2.0
    assert job.active_deadline_seconds == 120
    assert job.entrypoint_num_cpus == 1.0


def test_status_mapping() -> None:
    cr = copy.deepcopy(job_to_cr(job_of(jobId="requested", clusterSelector={"a": "b"}), "ns", TEMPLATES))
    cr["metadata"].update(creationTimestamp="2024-01-01T00:00:00Z", deletionTimestamp="2024-01-02T00:00:00Z")
    cr["status"] = {
        "jobId": "actual-id",
        "jobStatus": "SUCCEEDED",
        "jobDeploymentStatus": "Complete",
        "message": "done",
        "startTime": "2024-01-01T00:00:10Z",
        "endTime": "2024-01-01T00:01:10.5Z",
        "rayClusterName": "j-raycluster-abc",
    }
    job = to_builtins(job_from_cr(cr))
    assert job == {
        "name": "j",
        "namespace": "ns",
        "user": "u",
        "jobId": "actual-id",
        "clusterSelector": {"a": "b"},
        "createdAt": "2024-01-01T00:00:00Z",
        "deleteAt": "2024-01-02T00:00:00Z",
        "jobStatus": "SUCCEEDED",
        "jobDeploymentStatus": "Complete",
        "message": "done",
        "startTime": "2024-01-01T00:00:10Z",
        "endTime": "2024-01-01T00:01:10Z",
        "rayClusterName": "j-raycluster-abc",
    }


def test_without_status_job_id_is_empty() -> None:
    """``jobId`` comes from the status only, as upstream reads it."""
    assert job_from_cr(job_to_cr(job_of(jobId="x"), "ns", TEMPLATES)).job_id == ""


def test_validator_rejects_bad_job() -> None:
    cr = job_to_cr(job_of(entrypoint="x"), "ns", TEMPLATES)
    cr["spec"]["entrypointNumCpus"] = "one"
    cr["spec"]["runtimeEnv"] = "base64"
    with pytest.raises(CRValidationError) as info:
        validate_cr(cr)
    assert ".spec.entrypointNumCpus" in str(info.value)
    assert "runtimeEnv" in str(info.value)
