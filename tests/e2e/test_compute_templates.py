"""Compute templates through the HTTP API, stored as ConfigMaps."""

from __future__ import annotations

import httpx
import pytest
from kubernetes_asyncio import client

from tests.e2e import payloads

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
async def test_create_get_list_delete(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, prefix: str
) -> None:
    body = payloads.template(
        namespace,
        gpu=1,
        gpuAccelerator="nvidia.com/gpu",
        extendedResources={"vpc.amazonaws.com/efa": 32},
        tolerations=[
            {"key": "ray.io/node-type", "operator": "Equal", "value": "worker", "effect": "NoSchedule"}
        ],
        user="alice",
    )
    created = await api.post(f"{prefix}/namespaces/{namespace}/compute_templates", json=body)
    assert created.status_code == 200, created.text
    data = created.json()
    assert {
        k: data[k] for k in ("name", "namespace", "cpu", "memory", "gpu", "gpuAccelerator", "memoryUnit")
    } == {
        "name": "default-template",
        "namespace": namespace,
        "cpu": 2,
        "memory": 4,
        "gpu": 1,
        "gpuAccelerator": "nvidia.com/gpu",
        "memoryUnit": "Gi",
    }
    assert data["extendedResources"] == {"vpc.amazonaws.com/efa": 32}
    assert data["tolerations"][0]["effect"] == "NoSchedule"
    # Upstream's ComputeTemplate has no record fields; they come with ?extensions=true.
    assert not {"user", "createdAt", "deletedAt"} & set(data)

    configmap = await client.CoreV1Api(kube).read_namespaced_config_map("default-template", namespace)
    assert configmap.metadata.labels == {
        "ray.io/config-type": "compute-template",
        "ray.io/compute-template": "default-template",
    }
    assert configmap.data["cpu"] == "2" and configmap.data["memory_unit"] == "Gi"

    got = await api.get(f"{prefix}/namespaces/{namespace}/compute_templates/default-template")
    assert got.status_code == 200 and "user" not in got.json()
    full = await api.get(
        f"{prefix}/namespaces/{namespace}/compute_templates/default-template", params={"extensions": "true"}
    )
    assert full.json()["user"] == "alice" and full.json()["createdAt"].endswith("Z")

    listed = await api.get(f"{prefix}/namespaces/{namespace}/compute_templates")
    assert [t["name"] for t in listed.json()["computeTemplates"]] == ["default-template"]

    everywhere = await api.get(f"{prefix}/compute_templates")
    assert (namespace, "default-template") in {
        (t["namespace"], t["name"]) for t in everywhere.json()["computeTemplates"]
    }

    deleted = await api.delete(f"{prefix}/namespaces/{namespace}/compute_templates/default-template")
    assert deleted.status_code == 200 and deleted.json() == {}
    missing = await api.get(f"{prefix}/namespaces/{namespace}/compute_templates/default-template")
    assert missing.status_code == 404 and missing.json()["code"] == 5


async def test_snake_case_input(api: httpx.AsyncClient, namespace: str) -> None:
    body = {
        "name": "snake",
        "namespace": namespace,
        "cpu": "3",
        "memory": 8,
        "memory_unit": "Mi",
        "gpu_accelerator": "x/y",
    }
    response = await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["memoryUnit"] == "Mi" and response.json()["gpuAccelerator"] == "x/y"
    assert response.json()["cpu"] == 3


async def test_empty_list_is_an_empty_array(api: httpx.AsyncClient, namespace: str) -> None:
    response = await api.get(f"/apis/v1/namespaces/{namespace}/compute_templates")
    assert response.status_code == 200 and response.json() == {"computeTemplates": []}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "Compute template name is empty. Please specify a valid value."),
        (
            {"namespace": "another"},
            "The namespace in the request is different from the namespace defined in the compute template.",
        ),
        ({"cpu": 0}, "Cpu amount is zero. Please specify a valid value."),
        ({"memory": 0}, "Memory amount is zero. Please specify a valid value."),
    ],
)
async def test_validation(
    api: httpx.AsyncClient, namespace: str, change: dict[str, object], message: str
) -> None:
    body = {**payloads.template(namespace), **change}
    response = await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body)
    assert response.status_code == 400
    assert response.json() == {
        "code": 3,
        "message": f"{message}: Validate compute template runtime request failed.: Invalid input error: {message}",
    }


async def test_duplicate_is_409_and_validation_runs_first(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"/apis/v1/namespaces/{namespace}/compute_templates"
    assert (await api.post(url, json=payloads.template(namespace))).status_code == 200
    duplicate = await api.post(url, json=payloads.template(namespace))
    assert duplicate.status_code == 409 and duplicate.json()["code"] == 6
    assert "already exists in namespace" in duplicate.json()["message"]
    invalid_duplicate = await api.post(url, json={**payloads.template(namespace), "memory": 0})
    assert invalid_duplicate.status_code == 400


async def test_bad_memory_unit_is_400(api: httpx.AsyncClient, namespace: str) -> None:
    body = payloads.template(namespace, memoryUnit="lots")
    response = await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body)
    assert response.status_code == 400 and response.json()["code"] == 3
    assert "memoryUnit" in response.json()["message"]


async def test_missing_and_empty_names(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/apis/v1/namespaces/{namespace}/compute_templates"
    assert (await api.delete(f"{base}/another-template")).status_code == 404
    assert (await api.get(f"{base}/another-template")).status_code == 404
    for method in ("GET", "DELETE"):
        empty = await api.request(method, f"{base}/")
        assert empty.status_code == 400, (method, empty.text)
        assert empty.json()["message"].startswith("Compute template name is empty.")
        no_namespace = await api.request(method, "/apis/v1/namespaces//compute_templates/some-name")
        assert no_namespace.status_code == 404
