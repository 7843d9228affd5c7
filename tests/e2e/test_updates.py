"""Partial updates through the HTTP API: cluster PATCH (scale, add and remove worker groups), job PATCH
(suspend, resume), service serve-config PATCH, compute template PUT; each audited with the value it replaced,
guarded by resourceVersion, and visible to the next read at once."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client

from tests.e2e import payloads
from tests.e2e.test_clusters import make_template

pytestmark = pytest.mark.asyncio(loop_scope="session")


def custom(kube: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube)


async def raycluster(kube: client.ApiClient, namespace: str, name: str = "test-cluster") -> dict[str, Any]:
    cr: dict[str, Any] = await custom(kube).get_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayclusters", name
    )
    return cr


def groups_of(cr: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["groupName"]: g for g in cr["spec"].get("workerGroupSpecs") or []}


async def updates(api: httpx.AsyncClient, namespace: str, name: str, resource: str) -> list[dict[str, Any]]:
    """The UPDATE events of one resource, oldest first, with their previous and new values."""
    listed = await api.get(
        f"/apis/v1/namespaces/{namespace}/audit",
        params={"name": name, "resource": resource, "action": "UPDATE"},
    )
    assert listed.status_code == 200, listed.text
    found = []
    for event in reversed(listed.json()["events"]):
        detail = await api.get(f"/apis/v1/namespaces/{namespace}/audit/{event['id']}")
        assert detail.status_code == 200, detail.text
        found.append(detail.json())
    return found


def worker(spec: dict[str, Any] | None, name: str) -> dict[str, Any]:
    assert spec is not None
    return next(g for g in spec["clusterSpec"]["workerGroupSpec"] if g["groupName"] == name)


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
async def test_cluster_scale_add_remove(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, prefix: str
) -> None:
    await make_template(api, namespace)
    assert (
        await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace))
    ).is_success
    url = f"{prefix}/namespaces/{namespace}/clusters/test-cluster"

    up = await api.patch(url, json={"workerGroupSpec": [{"groupName": "small-wg", "replicas": 3}]})
    assert up.status_code == 200, up.text
    assert worker(up.json(), "small-wg")["replicas"] == 3
    assert groups_of(await raycluster(kube, namespace))["small-wg"]["replicas"] == 3
    # Read-your-writes: the next get shows it at once.
    assert worker((await api.get(url)).json(), "small-wg")["replicas"] == 3

    down = await api.patch(
        url, json={"worker_group_spec": [{"group_name": "small-wg", "replicas": 0, "min_replicas": 0}]}
    )
    assert down.status_code == 200, down.text
    group = groups_of(await raycluster(kube, namespace))["small-wg"]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (0, 0, 5)

    added = await api.patch(
        url,
        json={
            "workerGroupSpec": [
                {
                    "groupName": "big-wg",
                    "computeTemplate": "default-template",
                    "replicas": 2,
                    "maxReplicas": 4,
                    "rayStartParams": {"num-cpus": "2"},
                }
            ]
        },
    )
    assert added.status_code == 200, added.text
    big = groups_of(await raycluster(kube, namespace))["big-wg"]
    assert (big["replicas"], big["minReplicas"], big["maxReplicas"]) == (2, 2, 4)
    container = big["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert big["rayStartParams"] == {"num-cpus": "2"}

    removed = await api.patch(url, json={"removeWorkerGroups": ["small-wg"]})
    assert removed.status_code == 200, removed.text
    assert list(groups_of(await raycluster(kube, namespace))) == ["big-wg"]
    assert [g["groupName"] for g in (await api.get(url)).json()["clusterSpec"]["workerGroupSpec"]] == [
        "big-wg"
    ]

    events = await updates(api, namespace, "test-cluster", "clusters")
    assert [e["outcome"] for e in events] == ["SUCCESS"] * 4
    scale = events[0]
    assert worker(scale["previous"], "small-wg")["replicas"] == 1
    assert worker(scale["spec"], "small-wg")["replicas"] == 3
    assert scale["previousResourceVersion"] and scale["resourceVersion"]
    assert scale["previousResourceVersion"] != scale["resourceVersion"]
    # Successive updates form a chain of versions.
    for before, after in itertools.pairwise(events):
        assert after["previousResourceVersion"] == before["resourceVersion"]
    assert [g["groupName"] for g in events[-1]["previous"]["clusterSpec"]["workerGroupSpec"]] == [
        "small-wg",
        "big-wg",
    ]
    assert [g["groupName"] for g in events[-1]["spec"]["clusterSpec"]["workerGroupSpec"]] == ["big-wg"]


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("empty", {}, "Nothing to update"),
    ("above max", {"workerGroupSpec": [{"groupName": "small-wg", "replicas": 6}]}, "between minReplicas"),
    (
        "below min",
        {"workerGroupSpec": [{"groupName": "small-wg", "minReplicas": 2, "replicas": 1}]},
        "replicas must be between minReplicas (2)",
    ),
    (
        "min above max",
        {"workerGroupSpec": [{"groupName": "small-wg", "minReplicas": 4, "maxReplicas": 3}]},
        "minReplicas (4) > maxReplicas (3)",
    ),
    ("negative", {"workerGroupSpec": [{"groupName": "small-wg", "replicas": -1}]}, "can not be negative"),
    ("head removed", {"removeWorkerGroups": ["headgroup"]}, "headgroup is the head group"),
    ("head changed", {"headGroupSpec": {"image": "x"}}, "The head group cannot be changed"),
    ("unknown removed", {"removeWorkerGroups": ["nope"]}, "Worker group nope does not exist"),
    (
        "unknown without template",
        {"workerGroupSpec": [{"groupName": "nope", "replicas": 1}]},
        "give its computeTemplate",
    ),
    (
        "duplicate",
        {
            "workerGroupSpec": [
                {"groupName": "small-wg", "replicas": 2},
                {"groupName": "small-wg", "replicas": 3},
            ]
        },
        "is given twice",
    ),
    (
        "changed and removed",
        {"workerGroupSpec": [{"groupName": "small-wg", "replicas": 2}], "removeWorkerGroups": ["small-wg"]},
        "both changed",
    ),
    (
        "other fields of an existing group",
        {"workerGroupSpec": [{"groupName": "small-wg", "image": "other"}]},
        "only replicas, minReplicas and maxReplicas can change",
    ),
    (
        "new group without maxReplicas",
        {"workerGroupSpec": [{"groupName": "w2", "computeTemplate": "default-template", "replicas": 1}]},
        "MaxReplicas can not be 0",
    ),
    ("bad body", {"workerGroupSpec": "many"}, "expected an array"),
]


async def test_cluster_refusals(api: httpx.AsyncClient, kube: client.ApiClient, namespace: str) -> None:
    await make_template(api, namespace)
    assert (
        await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace))
    ).is_success
    url = f"/apis/v1/namespaces/{namespace}/clusters/test-cluster"
    before = await raycluster(kube, namespace)
    for case, body, text in REFUSED:
        response = await api.patch(url, json=body)
        assert response.status_code == 400, (case, response.text)
        assert response.json()["code"] == 3 and text in response.json()["message"], (case, response.text)
    missing_template = await api.patch(
        url, json={"workerGroupSpec": [{"groupName": "w2", "computeTemplate": "nope", "maxReplicas": 1}]}
    )
    assert missing_template.status_code == 400 and missing_template.json()["code"] == 9, missing_template.text
    missing = await api.patch(
        f"/apis/v1/namespaces/{namespace}/clusters/nope", json={"removeWorkerGroups": ["a"]}
    )
    assert missing.status_code == 404 and missing.json()["code"] == 5, missing.text
    after = await raycluster(kube, namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    refused = await updates(api, namespace, "test-cluster", "clusters")
    # Each refusal is a row, except the body that does not decode (as for creates), plus the missing template.
    assert len(refused) == len(REFUSED) - 1 + 1 and {e["outcome"] for e in refused} == {"FAILURE"}
    assert all("previous" not in e for e in refused)


async def test_cluster_stale_and_racing_versions(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_template(api, namespace)
    assert (
        await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace))
    ).is_success
    url = f"/apis/v1/namespaces/{namespace}/clusters/test-cluster"
    version = (await raycluster(kube, namespace))["metadata"]["resourceVersion"]

    racing = await asyncio.gather(
        *(
            api.patch(
                url,
                json={
                    "workerGroupSpec": [{"groupName": "small-wg", "replicas": n}],
                    "resourceVersion": version,
                },
            )
            for n in range(1, 6)
        )
    )
    statuses = sorted(r.status_code for r in racing)
    assert statuses == [200, 409, 409, 409, 409], [r.text for r in racing]
    losers = [r.json() for r in racing if r.status_code == 409]
    assert all(set(body) == {"code", "message"} and body["code"] == 10 for body in losers), losers
    assert all("read it again and retry" in body["message"] for body in losers)
    (winner,) = [n for n, r in zip(range(1, 6), racing, strict=True) if r.status_code == 200]
    assert groups_of(await raycluster(kube, namespace))["small-wg"]["replicas"] == winner

    stale = await api.patch(
        url, json={"workerGroupSpec": [{"groupName": "small-wg", "replicas": 5}], "resource_version": version}
    )
    assert stale.status_code == 409 and stale.json()["code"] == 10, stale.text
    current = (await raycluster(kube, namespace))["metadata"]["resourceVersion"]
    assert f"it is now {current}" in stale.json()["message"]
    fresh = await api.patch(
        url, json={"workerGroupSpec": [{"groupName": "small-wg", "replicas": 5}], "resourceVersion": current}
    )
    assert fresh.status_code == 200, fresh.text

    events = await updates(api, namespace, "test-cluster", "clusters")
    outcomes = [(e["outcome"], e.get("code", 0)) for e in events]
    assert outcomes.count(("SUCCESS", 0)) == 2 and outcomes.count(("FAILURE", 10)) == 5, outcomes


async def rayjob(kube: client.ApiClient, namespace: str, name: str = "test-job") -> dict[str, Any]:
    cr: dict[str, Any] = await custom(kube).get_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayjobs", name
    )
    return cr


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
async def test_job_suspend_resume(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, prefix: str
) -> None:
    await make_template(api, namespace)
    created = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=payloads.job(namespace))
    assert created.status_code == 200, created.text
    url = f"{prefix}/namespaces/{namespace}/jobs/test-job"

    suspended = await api.patch(url, json={"suspend": True})
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["entrypoint"] == payloads.job(namespace)["entrypoint"]
    assert (await rayjob(kube, namespace))["spec"]["suspend"] is True

    resumed = await api.patch(url, json={"suspend": False, "ttl_seconds_after_finished": 300})
    assert resumed.status_code == 200, resumed.text
    spec = (await rayjob(kube, namespace))["spec"]
    assert spec["suspend"] is False and spec["ttlSecondsAfterFinished"] == 300
    assert (await api.get(url)).json()["ttlSecondsAfterFinished"] == 300  # read-your-writes

    no_deadline = await api.patch(url, json={"activeDeadlineSeconds": 0})
    assert no_deadline.status_code == 200, no_deadline.text
    assert "activeDeadlineSeconds" not in (await rayjob(kube, namespace))["spec"]

    for body, text in (
        ({}, "Nothing to update"),
        ({"activeDeadlineSeconds": -1}, "can not be negative"),
        ({"shutdownAfterJobFinishes": False}, "ttlSecondsAfterFinished needs shutdownAfterJobFinishes"),
    ):
        refused = await api.patch(url, json=body)
        assert refused.status_code == 400 and text in refused.json()["message"], refused.text
    version = (await rayjob(kube, namespace))["metadata"]["resourceVersion"]
    assert (await api.patch(url, json={"suspend": True, "resourceVersion": "1"})).json()["code"] == 10
    assert (await api.patch(url, json={"suspend": True, "resourceVersion": version})).status_code == 200

    events = [e for e in await updates(api, namespace, "test-job", "jobs") if e["outcome"] == "SUCCESS"]
    assert len(events) == 4
    assert "suspend" not in events[0]["previous"] and events[0]["spec"]["suspend"] is True
    assert events[1]["previous"]["suspend"] is True and "suspend" not in events[1]["spec"]
    assert events[1]["previous"]["ttlSecondsAfterFinished"] == 60
    assert events[1]["spec"]["ttlSecondsAfterFinished"] == 300


async def test_job_on_an_existing_cluster_is_not_suspended(api: httpx.AsyncClient, namespace: str) -> None:
    body = {**payloads.job(namespace, "selected"), "clusterSelector": {"ray.io/cluster": "c"}}
    del body["clusterSpec"]
    assert (await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=body)).status_code == 200
    refused = await api.patch(f"/apis/v1/namespaces/{namespace}/jobs/selected", json={"suspend": True})
    assert refused.status_code == 400 and "cannot be suspended" in refused.json()["message"], refused.text


def versions_of(cr: dict[str, Any]) -> dict[str, str]:
    raw = cr["metadata"]["annotations"]["ray.io/compute-template-versions"]
    parsed: dict[str, str] = json.loads(raw)
    return parsed


AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
        }
    }
}


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
async def test_template_update_applies_to_new_clusters_only(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, prefix: str
) -> None:
    await make_template(api, namespace)
    clusters = f"/apis/v1/namespaces/{namespace}/clusters"
    assert (await api.post(clusters, json=payloads.cluster(namespace, "old"))).is_success
    old = await raycluster(kube, namespace, "old")
    first = versions_of(old)
    assert set(first) == {"headgroup", "small-wg"} and first["headgroup"].startswith("default-template@")

    url = f"{prefix}/namespaces/{namespace}/compute_templates/default-template"
    body = {
        **payloads.template(namespace),
        "cpu": 3,
        "memory": 6,
        "cpuLimit": 4,
        "memory_limit": 8,
        "nodeSelector": {"pool": "big"},
        "affinity": AFFINITY,
    }
    updated = await api.put(url, json=body)
    assert updated.status_code == 200, updated.text
    assert updated.json() == {
        "name": "default-template",
        "namespace": namespace,
        "cpu": 3,
        "memory": 6,
        "memoryUnit": "Gi",
    }
    full = (await api.get(url, params={"extensions": "true"})).json()
    assert full["nodeSelector"] == {"pool": "big"} and full["affinity"] == AFFINITY
    assert (full["cpuLimit"], full["memoryLimit"]) == (4, 8) and full["resourceVersion"]

    # The existing cluster keeps its pods' resources and its record of the version it used.
    kept = await raycluster(kube, namespace, "old")
    assert kept["spec"] == old["spec"] and versions_of(kept) == first
    # A new cluster is built from the new values.
    assert (await api.post(clusters, json=payloads.cluster(namespace, "new"))).is_success
    new = await raycluster(kube, namespace, "new")
    pod = new["spec"]["workerGroupSpecs"][0]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {
        "limits": {"cpu": "4", "memory": "8Gi"},
        "requests": {"cpu": "3", "memory": "6Gi"},
    }
    assert pod["nodeSelector"] == {"pool": "big"} and pod["affinity"] == AFFINITY
    assert new["spec"]["headGroupSpec"]["template"]["spec"]["nodeSelector"] == {"pool": "big"}
    second = versions_of(new)
    assert second["headgroup"] == f"default-template@{full['resourceVersion']}" != first["headgroup"]
    # A group added to the old cluster now is built from the new values; its record says so.
    added = await api.patch(
        f"{clusters}/old",
        json={
            "workerGroupSpec": [
                {"groupName": "more", "computeTemplate": "default-template", "maxReplicas": 1}
            ]
        },
    )
    assert added.status_code == 200, added.text
    grown = await raycluster(kube, namespace, "old")
    assert groups_of(grown)["more"]["template"]["spec"]["nodeSelector"] == {"pool": "big"}
    assert versions_of(grown) == {**first, "more": second["headgroup"]}
    # The cluster's record shows the versions too.
    (event,) = await updates(api, namespace, "old", "clusters")
    assert "ray.io/compute-template-versions" in event["spec"]["annotations"]

    (change,) = await updates(api, namespace, "default-template", "computeTemplates")
    assert change["outcome"] == "SUCCESS"
    assert (change["previous"]["cpu"], change["spec"]["cpu"]) == (2, 3)
    assert "nodeSelector" not in change["previous"] and change["spec"]["nodeSelector"] == {"pool": "big"}


async def test_template_update_refusals(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    url = f"/apis/v1/namespaces/{namespace}/compute_templates"
    body = payloads.template(namespace)
    for sent, code, text in (
        ({**body, "cpuLimit": 1}, 3, "cpuLimit (1) is below cpu (2)"),
        ({**body, "memoryLimit": 1}, 3, "memoryLimit (1) is below memory (4)"),
        ({**body, "affinity": {"nodeAfinity": {}}}, 3, "unknown: nodeAfinity"),
        ({**body, "name": "other"}, 3, "different from the name in the path"),
        ({**body, "cpu": 0}, 3, "Cpu amount is zero"),
        ({**body, "resourceVersion": "1"}, 10, "has changed since resourceVersion 1"),
    ):
        response = await api.put(f"{url}/default-template", json=sent)
        assert response.json()["code"] == code and text in response.json()["message"], response.text
    missing = await api.put(f"{url}/nope", json=payloads.template(namespace, "nope"))
    assert missing.status_code == 404, missing.text
    # Creates check the new fields too.
    refused = await api.post(url, json={**payloads.template(namespace, "t2"), "cpuLimit": 1})
    assert refused.status_code == 400 and "cpuLimit" in refused.json()["message"]
    # With the version it read, a client's update goes through.
    version = (await api.get(f"{url}/default-template", params={"extensions": "true"})).json()[
        "resourceVersion"
    ]
    fresh = await api.put(f"{url}/default-template", json={**body, "cpu": 5, "resourceVersion": version})
    assert fresh.status_code == 200 and fresh.json()["cpu"] == 5, fresh.text


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
async def test_service_configs_patch(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, prefix: str
) -> None:
    await make_template(api, namespace)
    body = payloads.service(namespace)
    assert (await api.post(f"/apis/v1/namespaces/{namespace}/services", json=body)).is_success
    url = f"{prefix}/namespaces/{namespace}/services/test-service/configs"
    group = body["clusterSpec"]["workerGroupSpec"][0]["groupName"]

    async def rayservice() -> dict[str, Any]:
        cr: dict[str, Any] = await custom(kube).get_namespaced_custom_object(
            "ray.io", "v1", namespace, "rayservices", "test-service"
        )
        return cr

    config = body["serveConfigV2"].replace("num_replicas: 1", "num_replicas: 3")
    changed = await api.patch(
        url, json={"serveConfigV2": config, "workerGroupUpdateSpec": [{"groupName": group, "replicas": 2}]}
    )
    assert changed.status_code == 200, changed.text
    assert "num_replicas: 3" in changed.json()["serveConfigV2"]
    cr = await rayservice()
    assert "num_replicas: 3" in cr["spec"]["serveConfigV2"]
    assert cr["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] == 2
    got = (await api.get(f"{prefix}/namespaces/{namespace}/services/test-service")).json()
    assert "num_replicas: 3" in got["serveConfigV2"]  # read-your-writes

    graph = {
        "importPath": "fruit.deployment_graph",
        "serveConfigs": [{"deploymentName": "MangoStand", "replicas": 4}],
    }
    assert (await api.patch(url, json={"serveDeploymentGraphSpec": graph})).status_code == 200
    assert "num_replicas: 4" in (await rayservice())["spec"]["serveConfigV2"]

    for sent, text in (
        ({}, "Nothing to update"),
        ({"workerGroupUpdateSpec": [{"groupName": "nope", "replicas": 1}]}, "does not exist"),
        ({"workerGroupUpdateSpec": [{"groupName": group, "replicas": 99}]}, "between minReplicas"),
        ({"serveConfigV2": "a: [b"}, "not valid YAML"),
        ({"serveConfigV2": "x", "serveDeploymentGraphSpec": graph}, "not both"),
    ):
        refused = await api.patch(url, json=sent)
        assert refused.status_code == 400 and text in refused.json()["message"], refused.text
    stale = await api.patch(url, json={"serveConfigV2": config, "resourceVersion": "1"})
    assert stale.status_code == 409 and stale.json()["code"] == 10, stale.text

    events = [
        e for e in await updates(api, namespace, "test-service", "services") if e["outcome"] == "SUCCESS"
    ]
    assert len(events) == 2
    assert "num_replicas: 1" in events[0]["previous"]["serveConfigV2"]
    assert "num_replicas: 3" in events[0]["spec"]["serveConfigV2"]
    assert events[1]["previousResourceVersion"] == events[0]["resourceVersion"]
