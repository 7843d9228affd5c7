"""RayJobs through the HTTP API."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client

from tests.e2e import payloads
from tests.e2e.test_clusters import expected_spec, make_template
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
async def test_create_get_list_delete(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, prefix: str
) -> None:
    await make_template(api, namespace)
    body = payloads.job(namespace)
    created = await api.post(f"{prefix}/namespaces/{namespace}/jobs", json=body)
    assert created.status_code == 200, created.text
    data = created.json()
    for key in (
        "name",
        "user",
        "entrypoint",
        "metadata",
        "runtimeEnv",
        "shutdownAfterJobFinishes",
        "ttlSecondsAfterFinished",
        "activeDeadlineSeconds",
        "entrypointNumCpus",
        "entrypointNumGpus",
    ):
        assert data[key] == body[key], key
    assert data["clusterSpec"] == expected_spec(body)
    assert data["createdAt"].endswith("Z")

    cr = await client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayjobs", "test-job"
    )
    assert cr["spec"]["runtimeEnvYAML"] == body["runtimeEnv"]
    assert cr["spec"]["entrypointNumGpus"] == 1 and cr["spec"]["activeDeadlineSeconds"] == 120
    annotations = dict(cr["metadata"]["annotations"])
    # The id of the job's audit event, so a crash before the event settles can be reconciled.
    intent = annotations.pop("ray.io/apiserver-intent")
    assert annotations == {"team": "data"}
    event = (await api.get(f"/apis/v1/namespaces/{namespace}/audit/{intent}")).json()
    assert (event["action"], event["name"], event["outcome"]) == ("CREATE", "test-job", "SUCCESS")

    await client.CustomObjectsApi(kube).patch_namespaced_custom_object_status(
        "ray.io",
        "v1",
        namespace,
        "rayjobs",
        "test-job",
        {
            "status": {
                "jobStatus": "RUNNING",
                "jobDeploymentStatus": "Running",
                "jobId": "raysubmit_1",
                "rayClusterName": "test-job-abcde",
                "startTime": "2026-01-02T03:04:05Z",
                "message": "going",
            }
        },
        _content_type="application/merge-patch+json",
    )

    async def running() -> Any:
        got = (await api.get(f"{prefix}/namespaces/{namespace}/jobs/test-job")).json()
        fields = ("jobStatus", "jobDeploymentStatus", "jobId", "rayClusterName")
        assert tuple(got.get(field) for field in fields) == (
            "RUNNING",
            "Running",
            "raysubmit_1",
            "test-job-abcde",
        )
        return got

    got = await eventually(running)
    assert got["startTime"] == "2026-01-02T03:04:05Z" and got["message"] == "going"

    listed = (await api.get(f"{prefix}/namespaces/{namespace}/jobs")).json()
    assert [j["name"] for j in listed["jobs"]] == ["test-job"]
    assert (await api.delete(f"{prefix}/namespaces/{namespace}/jobs/test-job")).status_code == 200
    missing = await api.get(f"{prefix}/namespaces/{namespace}/jobs/test-job")
    assert missing.status_code == 404 and missing.json()["message"].startswith("Job test-job not found")


async def test_cluster_selector_job(api: httpx.AsyncClient, namespace: str) -> None:
    body = {
        "name": "on-existing",
        "namespace": namespace,
        "user": "bob",
        "entrypoint": "python -c 'print(1)'",
        "clusterSelector": {"ray.io/cluster": "shared"},
        "jobSubmitter": {"image": "rayproject/ray:2.46.0", "cpu": "500m"},
        "metadata": {},
    }
    response = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["clusterSelector"] == {"ray.io/cluster": "shared"}
    assert response.json()["jobSubmitter"] == {"image": "rayproject/ray:2.46.0", "cpu": "500m"}
    both = {**body, "name": "both", "clusterSpec": {}}
    rejected = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=both)
    assert rejected.status_code == 400 and "only one" in rejected.json()["message"]


def _change(body: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(body)
    result[key] = value
    return result


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: {}, "The namespace in the request is different from the namespace in the job definition."),
        (lambda b: _change(b, "name", ""), "Job name is empty. Please specify a valid value."),
        (lambda b: _change(b, "user", ""), "User who create the job is empty. Please specify a valid value."),
        (lambda b: _change(b, "clusterSpec", None), "A ClusterSpec object is required. Please specify one."),
    ],
)
async def test_validation(api: httpx.AsyncClient, namespace: str, change: Any, message: str) -> None:
    response = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=change(payloads.job(namespace)))
    assert response.status_code == 400
    assert response.json() == {
        "code": 3,
        "message": f"{message}: Validate job request failed.: Invalid input error: {message}",
    }


async def test_bad_submitter_and_missing_template(api: httpx.AsyncClient, namespace: str) -> None:
    missing = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=payloads.job(namespace))
    assert missing.status_code == 400 and missing.json()["code"] == 9
    await make_template(api, namespace)
    body = {**payloads.job(namespace), "jobSubmitter": {"image": "x", "cpu": "lots"}}
    bad = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=body)
    assert (
        bad.status_code == 400
        and "cpu for ray job submitter lots is not specified correctly" in bad.json()["message"]
    )
    duplicate = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=payloads.job(namespace))
    assert duplicate.status_code == 200
    again = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=payloads.job(namespace))
    assert again.status_code == 409 and again.json()["code"] == 6


async def test_pagination(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    for index in range(4):
        body = payloads.job(namespace, f"job{index}")
        assert (await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=body)).status_code == 200
    names, token = [], ""
    for _ in range(4):
        page = (
            await api.get(f"/apis/v1/namespaces/{namespace}/jobs", params={"limit": 1, "continue": token})
        ).json()
        names += [j["name"] for j in page["jobs"]]
        token = page.get("continue", "")
    assert names == ["job0", "job1", "job2", "job3"] and token == ""


async def test_zero_floats_are_left_out_as_upstream_does(api: httpx.AsyncClient, namespace: str) -> None:
    """protojson omits a zero float; printing it as ``0.0`` would differ from upstream's answers."""
    await make_template(api, namespace)
    body = {**payloads.job(namespace, "zero-floats"), "entrypointNumCpus": 0, "entrypointNumGpus": 0.0}
    created = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=body)
    assert created.status_code == 200, created.text
    got = await api.get(f"/apis/v1/namespaces/{namespace}/jobs/zero-floats")
    for response in (created, got):
        data = response.json()
        assert "entrypointNumCpus" not in data and "entrypointNumGpus" not in data, response.text
        assert "0.0" not in response.text.replace('"0.0.0.0"', "")
