"""RayServices through the HTTP API, including updates and the seed's serve V1 example."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes_asyncio import client

from tests.e2e import payloads
from tests.e2e.test_clusters import make_template
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
async def test_create_get_update_delete(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, prefix: str
) -> None:
    await make_template(api, namespace)
    body = payloads.service(namespace)
    created = await api.post(f"{prefix}/namespaces/{namespace}/services", json=body)
    assert created.status_code == 200, created.text
    data = created.json()
    for key in (
        "name",
        "namespace",
        "user",
        "version",
        "serveConfigV2",
        "serviceUnhealthySecondThreshold",
        "deploymentUnhealthySecondThreshold",
    ):
        assert data[key] == body[key], key
    assert "deleteAt" not in data and data["createdAt"].endswith("Z")

    custom = client.CustomObjectsApi(kube)
    cr = await custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayservices", "test-service")
    ports = {
        p["name"]
        for p in cr["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert {"serve", "dashboard-agent"} <= ports

    await custom.create_namespaced_custom_object(
        "ray.io",
        "v1",
        namespace,
        "rayclusters",
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "test-service-raycluster-x"},
            "spec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [{"name": "ray-head", "image": "i"}]}},
                }
            },
        },
    )
    await custom.patch_namespaced_custom_object_status(
        "ray.io",
        "v1",
        namespace,
        "rayservices",
        "test-service",
        {
            "status": {
                "activeServiceStatus": {
                    "rayClusterName": "test-service-raycluster-x",
                    "rayClusterStatus": {"state": "ready", "endpoints": {"serve": "8000"}},
                    "applicationStatuses": {
                        "fruit_app": {
                            "status": "RUNNING",
                            "message": "",
                            "serveDeploymentStatuses": {"MangoStand": {"status": "HEALTHY"}},
                        }
                    },
                }
            }
        },
        _content_type="application/merge-patch+json",
    )

    async def active() -> Any:
        got = (await api.get(f"{prefix}/namespaces/{namespace}/services/test-service")).json()
        status = got["rayServiceStatus"]
        assert status.get("rayClusterName") == "test-service-raycluster-x"
        assert status["rayClusterState"] == "ready"
        return status

    status = await eventually(active)
    assert status["serviceEndpoint"] == {"serve": "8000"}
    assert status["serveApplicationStatus"] == [
        {
            "name": "fruit_app",
            "status": "RUNNING",
            "serveDeploymentStatus": [{"deploymentName": "MangoStand", "status": "HEALTHY"}],
        }
    ]

    updated_body = {
        **body,
        "serveConfigV2": body["serveConfigV2"].replace("num_replicas: 1", "num_replicas: 2"),
        "user": "carol",
    }
    updated = await api.put(f"{prefix}/namespaces/{namespace}/services/test-service", json=updated_body)
    assert updated.status_code == 200, updated.text
    cr = await custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayservices", "test-service")
    assert "num_replicas: 2" in cr["spec"]["serveConfigV2"]
    assert "ray.io/update-timestamp" in cr["metadata"]["annotations"]

    listed = (await api.get(f"{prefix}/namespaces/{namespace}/services")).json()
    assert [s["name"] for s in listed["services"]] == ["test-service"]
    assert (await api.delete(f"{prefix}/namespaces/{namespace}/services/test-service")).status_code == 200
    missing = await api.get(f"{prefix}/namespaces/{namespace}/services/test-service")
    assert missing.status_code == 404 and missing.json()["message"].startswith(
        "Service test-service not found"
    )


async def test_update_errors(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    body = payloads.service(namespace)
    url = f"/apis/v1/namespaces/{namespace}/services"
    missing = await api.put(f"{url}/test-service", json=body)
    assert missing.status_code == 404
    assert (await api.post(url, json=body)).status_code == 200
    mismatch = await api.put(f"{url}/other-name", json=body)
    assert mismatch.status_code == 400 and "different from the name in the path" in mismatch.json()["message"]
    no_user = await api.put(f"{url}/test-service", json={**body, "user": ""})
    assert no_user.status_code == 400
    assert no_user.json()["message"].startswith("User who updated the Service is empty.")
    empty_name = await api.put(f"{url}/", json=body)
    assert empty_name.status_code == 400 and empty_name.json()["message"].startswith("Name is empty.")
    no_config = await api.put(f"{url}/test-service", json={**body, "serveConfigV2": ""})
    assert (
        no_config.status_code == 400 and "serve configuration is not defined" in no_config.json()["message"]
    )


async def test_racing_updates_never_overwrite_silently(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_template(api, namespace)
    body = payloads.service(namespace)
    url = f"/apis/v1/namespaces/{namespace}/services"
    assert (await api.post(url, json=body)).status_code == 200
    variants = [{**body, "deploymentUnhealthySecondThreshold": 100 + i} for i in range(8)]
    responses = await asyncio.gather(*(api.put(f"{url}/test-service", json=v) for v in variants))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    assert all(r.json()["code"] == 10 for r in responses if r.status_code == 409)
    winners = [
        v["deploymentUnhealthySecondThreshold"]
        for v, r in zip(variants, responses, strict=True)
        if r.status_code == 200
    ]
    cr = await client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayservices", "test-service"
    )
    assert cr["spec"]["deploymentUnhealthySecondThreshold"] in winners
    # No lost update: each successful update replaced the version the one before it produced, so the audit
    # trail's versions form one chain starting at the create (two winners from one version would fork it).
    events = (
        await api.get(
            f"/apis/v1/namespaces/{namespace}/audit", params={"name": "test-service", "outcome": "SUCCESS"}
        )
    ).json()["events"]
    (create,) = [e for e in events if e["action"] == "CREATE"]
    updates = {e["previousResourceVersion"]: e["resourceVersion"] for e in events if e["action"] == "UPDATE"}
    assert len(updates) == len(winners) == statuses.count(200)
    version, chain = create["resourceVersion"], 0
    while version in updates:
        version, chain = updates[version], chain + 1
    assert chain == len(winners) and version == cr["metadata"]["resourceVersion"]


async def test_validation_and_pagination(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"/apis/v1/namespaces/{namespace}/services"
    no_user = await api.post(url, json={**payloads.service(namespace), "user": ""})
    assert no_user.json()["message"] == (
        "User who created the Service is empty. Please specify a valid value.: Validate create service request failed.: "
        "Invalid input error: User who created the Service is empty. Please specify a valid value."
    )
    no_config = await api.post(url, json={**payloads.service(namespace), "serveConfigV2": ""})
    assert no_config.status_code in (400,)
    await make_template(api, namespace)
    for index in range(3):
        assert (await api.post(url, json=payloads.service(namespace, f"svc{index}"))).status_code == 200
    names, token = [], ""
    for _ in range(3):
        page = (await api.get(url, params={"pageSize": 1, "pageToken": token})).json()
        names += [s["name"] for s in page["services"]]
        token = page.get("nextPageToken", "")
    assert names == ["svc0", "svc1", "svc2"] and token == ""
    snake = (await api.get(url, params={"page_size": 3})).json()
    assert len(snake["services"]) == 3 and "nextPageToken" not in snake


SEED_SERVICE = Path(__file__).resolve().parents[1] / "data" / "seed" / "service.json"


async def test_seed_serve_graph_example_is_translated(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    """The seed README's user-test-1 payload (serve V1 graph) becomes an equivalent serveConfigV2."""
    body = json.loads(SEED_SERVICE.read_text().replace("ray-system", namespace))
    template = {"name": "default-template", "namespace": namespace, "cpu": 2, "memory": 4}
    assert (
        await api.post(f"/apis/v1alpha2/namespaces/{namespace}/compute_templates", json=template)
    ).status_code == 200
    response = await api.post(f"/apis/v1alpha2/namespaces/{namespace}/services", json=body)
    assert response.status_code == 200, response.text
    config = yaml.safe_load(response.json()["serveConfigV2"])
    (application,) = config["applications"]
    assert application["import_path"] == "fruit.deployment_graph"
    assert application["route_prefix"] == "/"
    deployments = {d["name"]: d for d in application["deployments"]}
    assert set(deployments) == {"OrangeStand", "PearStand", "FruitMarket", "DAGDriver"}
    assert deployments["OrangeStand"]["user_config"] == {"price": 2}
    assert deployments["DAGDriver"]["ray_actor_options"] == {"num_cpus": 0.1}


async def test_list_shows_each_active_cluster(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    """A page of services reads their active clusters in one call and still matches each to its own."""
    await make_template(api, namespace)
    custom = client.CustomObjectsApi(kube)
    for index in range(2):
        name = f"svc{index}"
        assert (
            await api.post(
                f"/apis/v1/namespaces/{namespace}/services", json=payloads.service(namespace, name)
            )
        ).status_code == 200
        cluster = f"{name}-raycluster"
        await custom.create_namespaced_custom_object(
            "ray.io",
            "v1",
            namespace,
            "rayclusters",
            {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "metadata": {"name": cluster},
                "spec": {
                    "headGroupSpec": {
                        "rayStartParams": {},
                        "template": {"spec": {"containers": [{"name": "ray-head", "image": "i"}]}},
                    }
                },
            },
        )
        await custom.patch_namespaced_custom_object_status(
            "ray.io",
            "v1",
            namespace,
            "rayclusters",
            cluster,
            {"status": {"state": f"state-{index}", "endpoints": {"serve": str(8000 + index)}}},
            _content_type="application/merge-patch+json",
        )
        await custom.patch_namespaced_custom_object_status(
            "ray.io",
            "v1",
            namespace,
            "rayservices",
            name,
            {"status": {"activeServiceStatus": {"rayClusterName": cluster}}},
            _content_type="application/merge-patch+json",
        )

    async def both_active() -> None:
        listed = (await api.get(f"/apis/v1/namespaces/{namespace}/services")).json()["services"]
        assert [
            (
                s["name"],
                s["rayServiceStatus"].get("rayClusterState"),
                s["rayServiceStatus"].get("serviceEndpoint"),
            )
            for s in listed
        ] == [
            ("svc0", "state-0", {"serve": "8000"}),
            ("svc1", "state-1", {"serve": "8001"}),
        ]

    await eventually(both_active)
