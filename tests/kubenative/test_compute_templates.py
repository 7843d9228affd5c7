"""Compute templates named in Ray objects sent to the Kubernetes-native routes (upstream's V2 middleware): the
template's resources, GPUs, extended resources, tolerations and annotation land where upstream puts them; a
missing template is a 422 Status, audited as a refused change."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
import yaml

from tests.kubenative.test_ray_routes import assert_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = "/apis/ray.io/v1"
TOLERATION = {"key": "ray.io/node-type", "operator": "Equal", "value": "worker", "effect": "NoSchedule"}


async def make_template(api: httpx.AsyncClient, namespace: str, name: str) -> None:
    body = {
        "name": name,
        "namespace": namespace,
        "cpu": 2,
        "memory": 4,
        "gpu": 1,
        "extendedResources": {"custom.io/special-resource": 2},
        "tolerations": [TOLERATION],
    }
    created = await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body)
    assert created.status_code == 200, created.text


def cluster_spec(template: str) -> dict[str, Any]:
    def pod(ray_container: str) -> dict[str, Any]:
        return {
            "spec": {
                "containers": [
                    {"name": ray_container, "image": "rayproject/ray:2.46.0"},
                    {
                        "name": "sidecar",
                        "image": "busybox",
                        "resources": {"limits": {"ephemeral-storage": "1Gi"}},
                    },
                ],
                "tolerations": [{"key": "own", "operator": "Exists", "effect": "NoExecute"}],
            }
        }

    return {
        "rayVersion": "2.46.0",
        "headGroupSpec": {"computeTemplate": template, "rayStartParams": {}, "template": pod("ray-head")},
        "workerGroupSpecs": [
            {
                "groupName": "small",
                "computeTemplate": template,
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 2,
                "rayStartParams": {},
                "template": pod("ray-worker"),
            }
        ],
    }


def ray_object(plural: str, name: str, template: str) -> dict[str, Any]:
    kind = {"rayclusters": "RayCluster", "rayjobs": "RayJob", "rayservices": "RayService"}[plural]
    spec: dict[str, Any]
    if plural == "rayclusters":
        spec = cluster_spec(template)
    elif plural == "rayjobs":
        spec = {"entrypoint": "python -c 'print(1)'", "rayClusterSpec": cluster_spec(template)}
    else:
        spec = {"rayClusterConfig": cluster_spec(template)}
    return {"apiVersion": "ray.io/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def cluster_spec_of(plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]
    if plural == "rayjobs":
        return spec["rayClusterSpec"]  # type: ignore[no-any-return]
    if plural == "rayservices":
        return spec["rayClusterConfig"]  # type: ignore[no-any-return]
    return spec


def assert_applied(spec: dict[str, Any], template: str) -> None:
    everywhere = {"cpu": "2", "memory": "4Gi"}
    accelerators = {"nvidia.com/gpu": "1", "custom.io/special-resource": "2"}
    groups = [(spec["headGroupSpec"], "ray-head"), (spec["workerGroupSpecs"][0], "ray-worker")]
    for group, ray_container in groups:
        pod = group["template"]
        assert pod["metadata"]["annotations"]["ray.io/compute-template"] == template, pod
        containers = {c["name"]: c for c in pod["spec"]["containers"]}
        ray, sidecar = containers[ray_container], containers["sidecar"]
        for key in ("limits", "requests"):
            assert ray["resources"][key] == {**everywhere, **accelerators}, ray
        assert sidecar["resources"]["requests"] == everywhere, sidecar
        assert sidecar["resources"]["limits"] == {"ephemeral-storage": "1Gi", **everywhere}, sidecar
        assert pod["spec"]["tolerations"] == [
            {"key": "own", "operator": "Exists", "effect": "NoExecute"},
            TOLERATION,
        ], pod


@pytest.mark.parametrize("plural", ["rayclusters", "rayjobs", "rayservices"])
async def test_template_is_applied_on_create_and_replace(
    api: httpx.AsyncClient, namespace: str, plural: str
) -> None:
    await make_template(api, namespace, "tpl")
    base = f"{ROOT}/namespaces/{namespace}/{plural}"
    # As upstream's own tests send it: YAML.
    created = await api.post(
        base,
        content=yaml.safe_dump(ray_object(plural, "with-template", "tpl")).encode(),
        headers={"content-type": "application/yaml"},
    )
    assert created.status_code == 201, created.text
    assert_applied(cluster_spec_of(plural, created.json()), "tpl")
    stored = (await api.get(f"{base}/with-template")).json()
    assert_applied(cluster_spec_of(plural, stored), "tpl")

    # A replace (PUT) applies the template again, to the groups as the new object has them.
    await make_template(api, namespace, "other")
    replacement = ray_object(plural, "with-template", "tpl")
    replacement["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]
    replaced = await api.put(f"{base}/with-template", json=replacement)
    assert replaced.status_code == 200, replaced.text
    assert_applied(cluster_spec_of(plural, replaced.json()), "tpl")

    audit = (await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"name": "with-template"})).json()
    assert sorted((e["action"], e["outcome"]) for e in audit["events"]) == [
        ("CREATE", "SUCCESS"),
        ("UPDATE", "SUCCESS"),
    ], audit


async def test_groups_without_a_template_are_left_alone(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace, "tpl")
    body = ray_object("rayclusters", "head-only", "tpl")
    del body["spec"]["workerGroupSpecs"][0]["computeTemplate"]
    sent_worker = copy.deepcopy(body["spec"]["workerGroupSpecs"][0]["template"])
    created = await api.post(f"{ROOT}/namespaces/{namespace}/rayclusters", json=body)
    assert created.status_code == 201, created.text
    spec = created.json()["spec"]
    assert spec["headGroupSpec"]["template"]["metadata"]["annotations"]["ray.io/compute-template"] == "tpl"
    worker = spec["workerGroupSpecs"][0]["template"]
    assert "ray.io/compute-template" not in ((worker.get("metadata") or {}).get("annotations") or {})
    assert worker["spec"]["containers"] == sent_worker["spec"]["containers"]


@pytest.mark.parametrize("plural", ["rayclusters", "rayjobs", "rayservices"])
async def test_a_missing_template_is_422_and_audited(
    api: httpx.AsyncClient, namespace: str, plural: str
) -> None:
    name = f"no-tpl-{uuid.uuid4().hex[:6]}"
    base = f"{ROOT}/namespaces/{namespace}/{plural}"
    refused = await api.post(base, json=ray_object(plural, name, "nowhere"))
    assert_status(refused, 422, "Invalid")
    message = refused.json()["message"]
    assert "Cannot get compute template for name 'nowhere'" in message and f"'{namespace}'" in message, (
        message
    )
    assert_status(await api.get(f"{base}/{name}"), 404, "NotFound")
    audit = (await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"name": name})).json()["events"]
    assert [(e["action"], e["outcome"]) for e in audit] == [("CREATE", "FAILURE")], audit

    # A replace naming a missing template changes nothing either.
    await make_template(api, namespace, "tpl")
    assert (await api.post(base, json=ray_object(plural, name, "tpl"))).status_code == 201
    current = (await api.get(f"{base}/{name}")).json()
    broken = ray_object(plural, name, "gone")
    broken["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    assert_status(await api.put(f"{base}/{name}", json=broken), 422, "Invalid")
    after = (await api.get(f"{base}/{name}")).json()
    assert after["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
