"""Upstream's V2 events route: only events about Ray objects, with the caller's own field selector kept; the core
form (kubectl describe) the same way; watches of them too."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client

from tests.kubenative.test_ray_routes import assert_status, raycluster

pytestmark = pytest.mark.asyncio(loop_scope="session")


def event(namespace: str, regarding: dict[str, Any], reason: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"ev-{uuid.uuid4().hex[:10]}", "namespace": namespace},
        "eventTime": now,
        "reportingController": "tests.example.com/controller",
        "reportingInstance": "tests",
        "action": "Testing",
        "reason": reason,
        "type": "Normal",
        "note": f"{reason} happened",
        "regarding": regarding,
    }


async def setup_events(api: httpx.AsyncClient, kube: Any, namespace: str) -> tuple[str, str]:
    """A Ray cluster's event and a ConfigMap's event; their names."""
    created = await api.post(
        f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters", json=raycluster("evented")
    )
    assert created.status_code == 201, created.text
    cluster = created.json()["metadata"]
    cm = await client.CoreV1Api(kube).create_namespaced_config_map(
        namespace, {"metadata": {"name": "plain"}, "data": {}}
    )
    events = client.EventsV1Api(kube)
    ray_ref = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "name": "evented",
        "namespace": namespace,
        "uid": cluster["uid"],
    }
    cm_ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "plain",
        "namespace": namespace,
        "uid": cm.metadata.uid,
    }
    ray_event = event(namespace, ray_ref, "Created")
    other_event = event(namespace, cm_ref, "Created")
    await events.create_namespaced_event(namespace, ray_event)
    await events.create_namespaced_event(namespace, other_event)
    return ray_event["metadata"]["name"], other_event["metadata"]["name"]


async def test_only_events_of_ray_objects_are_listed(
    api: httpx.AsyncClient, kube: Any, namespace: str
) -> None:
    ray_event, _ = await setup_events(api, kube, namespace)
    listed = await api.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["kind"] == "EventList" and body["apiVersion"] == "events.k8s.io/v1", body
    assert [e["metadata"]["name"] for e in body["items"]] == [ray_event], body
    assert body["items"][0]["regarding"]["kind"] == "RayCluster"

    # The caller's own selector is kept, and cannot widen the list to other objects.
    narrowed = await api.get(
        f"/apis/events.k8s.io/v1/namespaces/{namespace}/events", params={"fieldSelector": "reason=Other"}
    )
    assert narrowed.status_code == 200 and narrowed.json()["items"] == [], narrowed.text
    widened = await api.get(
        f"/apis/events.k8s.io/v1/namespaces/{namespace}/events",
        params={"fieldSelector": "regarding.kind=ConfigMap"},
    )
    assert widened.status_code == 200 and widened.json()["items"] == [], widened.text

    core = await api.get(f"/api/v1/namespaces/{namespace}/events")
    assert core.status_code == 200, core.text
    assert [e["metadata"]["name"] for e in core.json()["items"]] == [ray_event], core.text
    assert core.json()["items"][0]["involvedObject"]["kind"] == "RayCluster"


async def test_a_bad_selector_is_a_status(api: httpx.AsyncClient, namespace: str) -> None:
    refused = await api.get(
        f"/apis/events.k8s.io/v1/namespaces/{namespace}/events", params={"fieldSelector": "nonsense"}
    )
    assert_status(refused, 400, "BadRequest")


async def test_a_watch_sees_only_events_of_ray_objects(
    api: httpx.AsyncClient, kube: Any, namespace: str
) -> None:
    seen: list[dict[str, Any]] = []

    async def watch() -> None:
        path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
        params = {"watch": "true", "timeoutSeconds": "8"}
        async with api.stream("GET", path, params=params) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.strip():
                    seen.append(json.loads(line))

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(1)
    ray_event, _ = await setup_events(api, kube, namespace)
    await asyncio.wait_for(watcher, 20)
    names = [e["object"]["metadata"]["name"] for e in seen if e["type"] != "BOOKMARK"]
    assert names == [ray_event], seen
