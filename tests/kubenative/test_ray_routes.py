"""Upstream's V2 routes (Kubernetes paths for Ray objects) through HTTP, on the dev cluster and a real
kube-apiserver: each verb, selectors, paging, Kubernetes Status errors, and every change in the audit trail."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = "/apis/ray.io/v1"


def raycluster(name: str, replicas: int = 1, **labels: str) -> dict[str, Any]:
    container = {"name": "ray", "image": "rayproject/ray:2.46.0"}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "labels": {"team": "t", **labels}},
        "spec": {
            "rayVersion": "2.46.0",
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [container]}}},
            "workerGroupSpecs": [
                {
                    "groupName": "small",
                    "replicas": replicas,
                    "minReplicas": 0,
                    "maxReplicas": 10,
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [container]}},
                }
            ],
        },
    }


def assert_status(response: httpx.Response, code: int, reason: str) -> None:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure", body
    assert body["code"] == code and body["reason"] == reason, body
    assert body["message"]


async def test_each_verb_is_applied_and_audited(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"{ROOT}/namespaces/{namespace}/rayclusters"
    created = await api.post(base, json=raycluster("alpha", owner="a"))
    assert created.status_code == 201, created.text
    obj = created.json()
    assert obj["metadata"]["uid"] and obj["spec"]["workerGroupSpecs"][0]["groupName"] == "small"
    assert obj["metadata"]["annotations"]["ray.io/apiserver-intent"]
    assert (await api.post(base, json=raycluster("beta", owner="b"))).status_code == 201

    got = await api.get(f"{base}/alpha")
    assert got.status_code == 200 and got.json()["metadata"]["uid"] == obj["metadata"]["uid"]

    selected = await api.get(base, params={"labelSelector": "owner=b"})
    assert selected.status_code == 200, selected.text
    assert selected.json()["kind"] == "RayClusterList"
    assert [o["metadata"]["name"] for o in selected.json()["items"]] == ["beta"]

    first = (await api.get(base, params={"limit": 1})).json()
    assert len(first["items"]) == 1 and first["metadata"]["continue"]
    second = (await api.get(base, params={"limit": 1, "continue": first["metadata"]["continue"]})).json()
    assert {first["items"][0]["metadata"]["name"], second["items"][0]["metadata"]["name"]} == {
        "alpha",
        "beta",
    }

    everywhere = (await api.get(f"{ROOT}/rayclusters")).json()
    assert {"alpha", "beta"} <= {
        o["metadata"]["name"] for o in everywhere["items"] if o["metadata"]["namespace"] == namespace
    }

    patched = await api.patch(
        f"{base}/alpha",
        content=b'{"spec":{"workerGroupSpecs":[{"groupName":"small","replicas":3,"minReplicas":0,'
        b'"maxReplicas":10,"rayStartParams":{},"template":{"spec":{"containers":[{"name":"ray",'
        b'"image":"rayproject/ray:2.46.0"}]}}}]}}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["spec"]["workerGroupSpecs"][0]["replicas"] == 3
    assert (await api.get(f"{base}/alpha")).json()["spec"]["workerGroupSpecs"][0]["replicas"] == 3

    current = (await api.get(f"{base}/beta")).json()
    current["metadata"]["labels"]["tier"] = "gold"
    replaced = await api.put(f"{base}/beta", json=current)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["metadata"]["labels"]["tier"] == "gold"

    stale = dict(current, metadata={**current["metadata"], "labels": {"x": "y"}})
    assert_status(await api.put(f"{base}/beta", json=stale), 409, "Conflict")

    deleted = await api.delete(f"{base}/alpha")
    assert deleted.status_code == 200, deleted.text
    assert_status(await api.get(f"{base}/alpha"), 404, "NotFound")

    audit = await api.get(f"/apis/v1/namespaces/{namespace}/audit")
    assert audit.status_code == 200, audit.text
    seen = {(e["action"], e["resource"], e["name"], e.get("outcome")) for e in audit.json()["events"]}
    for action, name in [("CREATE", "alpha"), ("CREATE", "beta"), ("UPDATE", "alpha"), ("UPDATE", "beta")]:
        assert (action, "clusters", name, "SUCCESS") in seen, seen
    assert ("DELETE", "clusters", "alpha", "SUCCESS") in seen, seen
    assert ("UPDATE", "clusters", "beta", "FAILURE") in seen, seen

    history = await api.get(f"/apis/v1/namespaces/{namespace}/clusters", params={"includeDeleted": "true"})
    assert history.status_code == 200, history.text
    gone = [c for c in history.json()["clusters"] if c["name"] == "alpha"]
    assert gone and gone[0].get("deletedAt"), history.json()


async def test_errors_are_kubernetes_status(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"{ROOT}/namespaces/{namespace}/rayclusters"
    assert_status(await api.get(f"{base}/missing"), 404, "NotFound")
    assert_status(await api.delete(f"{base}/missing"), 404, "NotFound")
    assert_status(await api.get(f"{ROOT}/namespaces/{namespace}/pods"), 404, "NotFound")
    name = f"c-{uuid.uuid4().hex[:6]}"
    assert (await api.post(base, json=raycluster(name))).status_code == 201
    assert_status(await api.post(base, json=raycluster(name)), 409, "AlreadyExists")
    assert_status(
        await api.post(base, content=b"{", headers={"content-type": "application/json"}), 400, "BadRequest"
    )
    wrong = raycluster("other")
    wrong["metadata"]["namespace"] = "elsewhere"
    assert_status(await api.post(base, json=wrong), 400, "BadRequest")
    # Kubernetes refuses strategic merge patches of custom resources.
    strategic = await api.patch(
        f"{base}/{name}", content=b"{}", headers={"content-type": "application/strategic-merge-patch+json"}
    )
    assert_status(strategic, 415, "UnsupportedMediaType")


async def test_jobs_and_services_are_served(api: httpx.AsyncClient, namespace: str) -> None:
    for plural, kind in [("rayjobs", "RayJobList"), ("rayservices", "RayServiceList")]:
        listed = await api.get(f"{ROOT}/namespaces/{namespace}/{plural}")
        assert listed.status_code == 200, listed.text
        assert listed.json()["kind"] == kind and listed.json()["items"] == []


async def _watch_events(api: httpx.AsyncClient, path: str, want: int, seen: list[dict[str, Any]]) -> None:
    import json

    async with api.stream("GET", path, params={"watch": "true", "timeoutSeconds": 60}) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.strip():
                seen.append(json.loads(line))
                if len([e for e in seen if e["type"] != "BOOKMARK"]) >= want:
                    return


async def test_watch_streams_changes_made_through_the_service_and_out_of_band(
    api: httpx.AsyncClient, kube: Any, namespace: str
) -> None:
    import asyncio

    from kubernetes_asyncio import client

    base = f"{ROOT}/namespaces/{namespace}/rayclusters"
    seen: list[dict[str, Any]] = []
    watcher = asyncio.create_task(_watch_events(api, base, 2, seen))
    await asyncio.sleep(1)
    assert (await api.post(base, json=raycluster("through-service"))).status_code == 201
    body = raycluster("out-of-band")
    body["metadata"]["namespace"] = namespace
    await client.CustomObjectsApi(kube).create_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayclusters", body
    )
    await asyncio.wait_for(watcher, 20)
    added = [(e["type"], e["object"]["metadata"]["name"]) for e in seen if e["type"] != "BOOKMARK"]
    assert added == [("ADDED", "through-service"), ("ADDED", "out-of-band")], seen


async def test_watch_refusals_are_status(api: httpx.AsyncClient, namespace: str) -> None:
    refused = await api.get(
        f"{ROOT}/namespaces/{namespace}/rayclusters", params={"watch": "true", "timeoutSeconds": "x"}
    )
    assert_status(refused, 400, "BadRequest")


async def test_unrouted_kube_native_paths_answer_status(api: httpx.AsyncClient) -> None:
    assert_status(await api.get(f"{ROOT}/namespaces/x/rayclusters/y/scale/z"), 404, "NotFound")


async def test_watch_streams_a_change_made_through_v1(api: httpx.AsyncClient, namespace: str) -> None:
    import asyncio

    from tests.e2e import payloads

    template = payloads.template(namespace)
    assert (
        await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template)
    ).status_code == 200
    seen: list[dict[str, Any]] = []
    watcher = asyncio.create_task(_watch_events(api, f"{ROOT}/namespaces/{namespace}/rayclusters", 1, seen))
    await asyncio.sleep(1)
    created = await api.post(
        f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace, "via-v1")
    )
    assert created.status_code == 200, created.text
    await asyncio.wait_for(watcher, 20)
    added = [(e["type"], e["object"]["metadata"]["name"]) for e in seen if e["type"] != "BOOKMARK"]
    assert added == [("ADDED", "via-v1")], seen
