"""Resource history through the list endpoints: ``includeDeleted`` adds deleted resources from SQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import msgspec
import pytest
from kubernetes_asyncio import client

from tests.e2e import payloads
from tests.e2e.test_clusters import make_template

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Kind(msgspec.Struct, frozen=True):
    path: str  # URL segment
    items: str  # list response field
    deleted: str  # the deletion time field, under upstream's name for the kind
    paging: tuple[str, str, str] | None  # (size param, token param, response token field)
    plural: str = ""  # custom resource plural, for kinds backed by one


KINDS = {
    "templates": Kind("compute_templates", "computeTemplates", "deletedAt", None),
    "clusters": Kind("clusters", "clusters", "deletedAt", ("limit", "continue", "continue"), "rayclusters"),
    "jobs": Kind("jobs", "jobs", "deleteAt", ("limit", "continue", "continue"), "rayjobs"),
    "services": Kind(
        "services", "services", "deleteAt", ("pageSize", "pageToken", "nextPageToken"), "rayservices"
    ),
}
Item = dict[str, Any]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def body(kind: str, namespace: str, name: str, user: str) -> dict[str, Any]:
    if kind == "templates":
        return payloads.template(namespace, name, user=user)
    make = {"clusters": payloads.cluster, "jobs": payloads.job, "services": payloads.service}[kind]
    return {**make(namespace, name), "user": user}


async def create(api: httpx.AsyncClient, kind: str, namespace: str, name: str, user: str) -> None:
    url = f"/apis/v1/namespaces/{namespace}/{KINDS[kind].path}"
    response = await api.post(url, json=body(kind, namespace, name, user))
    assert response.status_code == 200, response.text


async def delete(api: httpx.AsyncClient, kind: str, namespace: str, name: str) -> None:
    response = await api.delete(f"/apis/v1/namespaces/{namespace}/{KINDS[kind].path}/{name}")
    assert response.status_code == 200, response.text


async def listed(api: httpx.AsyncClient, kind: str, namespace: str | None, **params: Any) -> list[Item]:
    path = KINDS[kind].path
    url = f"/apis/v1/namespaces/{namespace}/{path}" if namespace else f"/apis/v1/{path}"
    response = await api.get(url, params=params)
    assert response.status_code == 200, response.text
    items: list[Item] = response.json()[KINDS[kind].items]
    return items


async def pages(
    api: httpx.AsyncClient, kind: str, namespace: str, size: int, **params: Any
) -> list[list[Item]]:
    assert KINDS[kind].paging is not None
    size_param, token_param, token_field = KINDS[kind].paging
    url = f"/apis/v1/namespaces/{namespace}/{KINDS[kind].path}"
    result, token = [], ""
    for _ in range(50):
        response = await api.get(url, params={**params, size_param: size, token_param: token})
        assert response.status_code == 200, response.text
        data = response.json()
        result.append(data[KINDS[kind].items])
        token = data.get(token_field, "")
        if not token:
            return result
    raise AssertionError("pagination did not end")


async def set_status(kube: client.ApiClient, plural: str, namespace: str, name: str, status: Item) -> None:
    await client.CustomObjectsApi(kube).patch_namespaced_custom_object_status(
        "ray.io",
        "v1",
        namespace,
        plural,
        name,
        {"status": status},
        _content_type="application/merge-patch+json",
    )


STATUSES: dict[str, tuple[Item, Item]] = {
    # kind: (status set on the custom resource, fields it shows as in the API)
    "clusters": (
        {"state": "ready", "endpoints": {"dashboard": "8265", "client": "10001"}},
        {"clusterState": "ready", "serviceEndpoint": {"dashboard": "8265", "client": "10001"}},
    ),
    "jobs": (
        {"jobStatus": "RUNNING", "jobDeploymentStatus": "Running", "jobId": "raysubmit-1"},
        {"jobStatus": "RUNNING", "jobDeploymentStatus": "Running", "jobId": "raysubmit-1"},
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_include_deleted_lists_deleted_resources(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, kind: str
) -> None:
    user = unique("hist")
    if kind != "templates":
        await make_template(api, namespace)
    live, gone = unique(f"{kind[:4]}-live"), unique(f"{kind[:4]}-gone")
    await create(api, kind, namespace, live, user)
    await create(api, kind, namespace, gone, user)
    if kind in STATUSES:
        await set_status(kube, KINDS[kind].plural, namespace, gone, STATUSES[kind][0])
    await delete(api, kind, namespace, gone)
    field = KINDS[kind].deleted

    default = {i["name"] for i in await listed(api, kind, namespace)}
    assert gone not in default and live in default
    assert default == {i["name"] for i in await listed(api, kind, namespace, includeDeleted="false")}
    everywhere = {(i["namespace"], i["name"]) for i in await listed(api, kind, None)}
    assert (namespace, gone) not in everywhere and (namespace, live) in everywhere

    for param in ("includeDeleted", "include_deleted"):
        for scope in (namespace, None):
            items = {
                i["name"]: i
                for i in await listed(api, kind, scope, **{param: "true"})
                if i["namespace"] == namespace
            }
            assert {live, gone} <= set(items), (param, scope)
            deleted, alive = items[gone], items[live]
            assert field not in alive
            assert deleted[field].endswith("Z") and deleted["createdAt"].endswith("Z")
            assert deleted[field] >= deleted["createdAt"]
            assert deleted["user"] == user == alive["user"]
            if kind == "templates":
                assert (deleted["cpu"], deleted["memory"]) == (2, 4)
            else:
                assert deleted["clusterSpec"]["headGroupSpec"]["computeTemplate"] == "default-template"
            for status_field, value in STATUSES.get(kind, ({}, {}))[1].items():
                assert deleted.get(status_field) == value, status_field


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 10, 0])
async def test_cluster_pages_merge_live_and_deleted(
    api: httpx.AsyncClient, namespace: str, limit: int
) -> None:
    """2 live and 3 deleted clusters: every page size covers all five once, live first, in a stable order."""
    await make_template(api, namespace)
    user = unique("pager")
    names = [f"cluster{i}" for i in range(5)]
    for name in names:
        await create(api, "clusters", namespace, name, user)
    for name in names[2:]:
        await delete(api, "clusters", namespace, name)

    walked = await pages(api, "clusters", namespace, limit, includeDeleted="true")
    flat = [(i["name"], "deletedAt" in i) for page in walked for i in page]
    assert flat == [(n, n in names[2:]) for n in names]  # live by name, then history in record order
    size = limit or 5
    assert [len(page) for page in walked] == [min(size, 5 - i) for i in range(0, 5, size)]
    assert await pages(api, "clusters", namespace, limit, includeDeleted="true") == walked  # stable
    live_only = await pages(api, "clusters", namespace, limit)
    assert [i["name"] for page in live_only for i in page] == names[:2]


@pytest.mark.parametrize("kind", ["jobs", "services"])
async def test_job_and_service_pages_merge_live_and_deleted(
    api: httpx.AsyncClient, namespace: str, kind: str
) -> None:
    await make_template(api, namespace)
    user = unique("pager")
    names = [f"{kind[:3]}{i}" for i in range(3)]
    for name in names:
        await create(api, kind, namespace, name, user)
    for name in names[1:]:
        await delete(api, kind, namespace, name)
    for size in (1, 2):
        walked = await pages(api, kind, namespace, size, include_deleted="true")
        flat = [(i["name"], KINDS[kind].deleted in i) for page in walked for i in page]
        assert flat == [(names[0], False), (names[1], True), (names[2], True)], size
        assert len(walked) == -(-3 // size)
    assert [i["name"] for page in await pages(api, kind, namespace, 1) for i in page] == names[:1]


async def test_all_namespaces_pages_include_history(api: httpx.AsyncClient, namespace: str) -> None:
    """The all-namespaces route pages through every live cluster, then through the whole history, once each."""
    await make_template(api, namespace)
    user = unique("pager")
    for name in ("a", "b", "c"):
        await create(api, "clusters", namespace, name, user)
    await delete(api, "clusters", namespace, "b")
    seen: list[tuple[str, str, bool]] = []
    token = ""
    for _ in range(1000):
        data = (
            await api.get(
                "/apis/v1/clusters", params={"limit": 3, "continue": token, "includeDeleted": "true"}
            )
        ).json()
        seen.extend((i["namespace"], i["name"], "deletedAt" in i) for i in data["clusters"])
        token = data.get("continue", "")
        if not token:
            break
    ours = [entry for entry in seen if entry[0] == namespace]
    assert sorted(ours) == [(namespace, "a", False), (namespace, "b", True), (namespace, "c", False)]
    live = [entry for entry in seen if not entry[2]]
    assert len(live) == len(set(live))


async def test_cluster_deleted_outside_the_api(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    """A cluster deleted with kubectl shows up in the history once the service noticed (a full list does)."""
    await make_template(api, namespace)
    user = unique("outside")
    await create(api, "clusters", namespace, "kubectl-deleted", user)
    created = (await listed(api, "clusters", namespace))[0]["createdAt"]
    await client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayclusters", "kubectl-deleted"
    )
    # The informer sees the deletion within moments (it was not made through this service, so not at once).
    history: list[Item] = []
    for _ in range(150):
        history = await listed(api, "clusters", namespace, includeDeleted="true")
        if history and "deletedAt" in history[0]:
            break
        await asyncio.sleep(0.1)
    assert await listed(api, "clusters", namespace) == []
    (item,) = history
    assert item["name"] == "kubectl-deleted" and item["user"] == user and item["createdAt"] == created
    assert item["deletedAt"].endswith("Z") and item["deletedAt"] >= created
    (everywhere,) = [
        i for i in await listed(api, "clusters", None, includeDeleted="true") if i["namespace"] == namespace
    ]
    assert everywhere == item
