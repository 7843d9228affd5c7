"""Reads from the read model: a caller's own writes, other replicas, lists equal to Kubernetes' own, relists.

The service answers gets and lists from what its informers hold. These tests hold it to what a read straight from
Kubernetes would answer (a second service with ``READ_CACHE=false`` on the same cluster and database), to
read-your-writes on one replica, to a bound on how far another replica lags, and to a relist after 410 Gone.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes_asyncio import client, config

from tests.e2e import payloads
from tests.e2e.test_clusters import make_template
from tests.support import processes
from tests.support.faulty_proxy import faulty_proxy
from tests.support.waiting import eventually

Item = dict[str, Any]
LISTS = {
    "compute_templates": "computeTemplates",
    "clusters": "clusters",
    "jobs": "jobs",
    "services": "services",
}


@pytest.fixture(scope="module")
def replica(backend: processes.Service, workdir: Path) -> Iterator[processes.Service]:
    """A second replica on the same cluster and database."""
    directory = workdir / f"replica-{backend.url.rsplit(':', 1)[-1]}"
    directory.mkdir(exist_ok=True)
    kubeconfig: Path = backend.kubeconfig  # type: ignore[attr-defined]
    with processes.service(directory, backend.database_url, kubeconfig, False) as running:  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def direct(backend: processes.Service, workdir: Path) -> Iterator[processes.Service]:
    """A replica that reads straight from Kubernetes (its informers still run, for deletions)."""
    directory = workdir / f"direct-{backend.url.rsplit(':', 1)[-1]}"
    directory.mkdir(exist_ok=True)
    kubeconfig: Path = backend.kubeconfig  # type: ignore[attr-defined]
    env = {"KUBERAY_APISERVER_READ_CACHE": "false"}
    with processes.service(directory, backend.database_url, kubeconfig, False, env=env) as running:  # type: ignore[attr-defined]
        yield running


async def _create(api: httpx.AsyncClient, namespace: str, name: str, user: str) -> Item:
    body = {**payloads.cluster(namespace, name), "user": user}
    created = await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)
    assert created.status_code == 200, created.text
    item: Item = created.json()
    return item


async def test_reads_follow_own_writes_under_concurrent_writers(
    api: httpx.AsyncClient, namespace: str
) -> None:
    await make_template(api, namespace)
    base = f"/apis/v1/namespaces/{namespace}/clusters"

    async def writer(index: int) -> None:
        for round_ in range(3):
            name = f"w{index}-{round_}"
            created = await _create(api, namespace, name, f"writer-{index}")
            got = await api.get(f"{base}/{name}")
            assert got.status_code == 200, got.text
            assert (got.json()["createdAt"], got.json()["user"]) == (created["createdAt"], f"writer-{index}")
            listed = (await api.get(base)).json()["clusters"]
            assert name in {c["name"] for c in listed}
            assert (await api.delete(f"{base}/{name}")).status_code == 200
            gone = await api.get(f"{base}/{name}")
            assert gone.status_code == 404 and gone.json()["code"] == 5, gone.text
            assert name not in {c["name"] for c in (await api.get(base)).json().get("clusters", [])}

    await asyncio.gather(*(writer(index) for index in range(8)))
    history = (await api.get(base, params={"includeDeleted": "true"})).json()["clusters"]
    assert len(history) == 24 and all("deletedAt" in c for c in history)


async def test_another_replica_sees_a_write_within_two_seconds(
    api: httpx.AsyncClient, replica: processes.Service, namespace: str
) -> None:
    """The bound the README states: a replica's informer brings another's write within moments."""
    await make_template(api, namespace)
    async with httpx.AsyncClient(base_url=replica.url, timeout=30) as other:
        created = await _create(api, namespace, "seen-elsewhere", "ann")
        started = time.monotonic()

        async def visible() -> Item:
            got = await other.get(f"/apis/v1/namespaces/{namespace}/clusters/seen-elsewhere")
            assert got.status_code == 200
            item: Item = got.json()
            return item

        item = await eventually(visible, seconds=5)
        lag = time.monotonic() - started
        assert lag < 2.0, f"the other replica saw the write after {lag:.2f}s"
        # With the record made by the first replica (looked up once), not the object's own metadata.
        assert (item["createdAt"], item["user"]) == (created["createdAt"], "ann")
        assert (
            await other.delete(f"/apis/v1/namespaces/{namespace}/clusters/seen-elsewhere")
        ).status_code == 200
        assert (
            await other.get(f"/apis/v1/namespaces/{namespace}/clusters/seen-elsewhere")
        ).status_code == 404


async def test_an_outside_deletion_is_recorded_once_by_two_replicas(
    api: httpx.AsyncClient, replica: processes.Service, kube: client.ApiClient, namespace: str
) -> None:
    await make_template(api, namespace)
    await _create(api, namespace, "twice-watched", "ann")
    async with httpx.AsyncClient(base_url=replica.url, timeout=30) as other:
        await eventually(
            lambda: _status(other, f"/apis/v1/namespaces/{namespace}/clusters/twice-watched", 200)
        )
        await client.CustomObjectsApi(kube).delete_namespaced_custom_object(
            "ray.io", "v1", namespace, "rayclusters", "twice-watched"
        )
        for http in (api, other):
            await eventually(
                lambda h=http: _status(h, f"/apis/v1/namespaces/{namespace}/clusters/twice-watched", 404)
            )

        async def recorded() -> list[Item]:
            trail = await api.get(
                f"/apis/v1/namespaces/{namespace}/audit", params={"name": "twice-watched", "action": "DELETE"}
            )
            events: list[Item] = trail.json().get("events", [])
            assert events
            return events

        await eventually(recorded)
        await asyncio.sleep(2.5)  # both replicas had time to record it
        events = await recorded()
        assert [(e["outcome"], e["message"]) for e in events] == [
            ("SUCCESS", "deleted outside the API (noticed by the service)")
        ]


async def _status(http: httpx.AsyncClient, path: str, code: int) -> None:
    assert (await http.get(path)).status_code == code


async def _populate(api: httpx.AsyncClient, kube: client.ApiClient, namespace: str) -> None:
    """Something of every kind: live, deleted, with events, made outside the API, owned by a job."""
    base = f"/apis/v1/namespaces/{namespace}"
    await make_template(api, namespace)
    for name in ("a-one", "b-two", "c-gone"):
        await _create(api, namespace, name, "lister")
    assert (await api.delete(f"{base}/clusters/c-gone")).status_code == 200
    assert (await api.post(f"{base}/jobs", json=payloads.job(namespace, "the-job"))).status_code == 200
    created = await api.post(f"{base}/services", json=payloads.service(namespace, "the-service"))
    assert created.status_code == 200, created.text
    custom = client.CustomObjectsApi(kube)
    await custom.create_namespaced_custom_object(
        "ray.io",
        "v1",
        namespace,
        "rayclusters",
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "made-by-kubectl", "labels": {"ray.io/user": "someone"}},
            "spec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {
                        "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.46.0"}]}
                    },
                }
            },
        },
    )
    await custom.patch_namespaced_custom_object_status(
        "ray.io",
        "v1",
        namespace,
        "rayclusters",
        "a-one",
        {"status": {"state": "ready", "endpoints": {"dashboard": "8265"}}},
        _content_type="application/merge-patch+json",
    )
    await client.EventsV1Api(kube).create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "a-one.1"},
            "eventTime": "2026-01-02T03:04:05.000000Z",
            "reportingController": "ray.io/raycluster-controller",
            "reportingInstance": "operator",
            "action": "Create",
            "regarding": {
                "kind": "RayCluster",
                "name": "a-one",
                "namespace": namespace,
                "apiVersion": "ray.io/v1",
            },
            "reason": "CreatedService",
            "note": "Created service a-one-head-svc",
            "type": "Normal",
        },
    )


def _canonical(items: list[Item]) -> list[str]:
    """Items as JSON text in the order the service wrote their keys, sorted (lists are compared modulo order)."""
    return sorted(json.dumps(item) for item in items)


async def test_lists_equal_a_read_straight_from_kubernetes(
    api: httpx.AsyncClient, direct: processes.Service, kube: client.ApiClient, namespace: str
) -> None:
    await _populate(api, kube, namespace)
    async with httpx.AsyncClient(base_url=direct.url, timeout=30) as bypass:

        async def same(path: str, params: dict[str, str]) -> None:
            cached, straight = await asyncio.gather(
                api.get(path, params=params), bypass.get(path, params=params)
            )
            assert cached.status_code == straight.status_code == 200, (path, cached.text, straight.text)
            field = LISTS[path.rsplit("/", 1)[-1]]
            assert _canonical(cached.json().get(field, [])) == _canonical(straight.json().get(field, [])), (
                path,
                params,
            )

        for prefix in ("/apis/v1", "/apis/v1alpha2"):
            for plural in LISTS:
                for params in (
                    {},
                    {"includeDeleted": "true"},
                    {"include_deleted": "true"},
                    {"extensions": "true"},
                ):
                    path = f"{prefix}/namespaces/{namespace}/{plural}"
                    await eventually(lambda p=path, q=params: same(p, q))
        clusters = (await api.get(f"/apis/v1/namespaces/{namespace}/clusters")).json()["clusters"]
        assert {c["name"] for c in clusters} == {"a-one", "b-two", "made-by-kubectl"}
        (one,) = [c for c in clusters if c["name"] == "a-one"]
        assert one["clusterState"] == "ready" and [e["reason"] for e in one["events"]] == ["CreatedService"]
        for name in ("a-one", "made-by-kubectl"):
            path = f"/apis/v1/namespaces/{namespace}/clusters/{name}"
            cached, straight = await api.get(path), await bypass.get(path)
            assert cached.content == straight.content
        for path in (
            f"/apis/v1/namespaces/{namespace}/clusters/nothing",
            f"/apis/v1/namespaces/{namespace}/jobs/x",
        ):
            cached, straight = await api.get(path), await bypass.get(path)
            assert cached.status_code == straight.status_code == 404
            assert cached.json() == straight.json()


async def test_pages_walk_one_moment(api: httpx.AsyncClient, namespace: str) -> None:
    """Pages continue the list they began, even when objects come and go meanwhile."""
    await make_template(api, namespace)
    for index in range(6):
        await _create(api, namespace, f"p{index}", "pager")
    base = f"/apis/v1/namespaces/{namespace}/clusters"
    first = (await api.get(base, params={"limit": 2})).json()
    assert [c["name"] for c in first["clusters"]] == ["p0", "p1"]
    assert (await api.delete(f"{base}/p3")).status_code == 200
    await _create(api, namespace, "p2a", "pager")
    names = [c["name"] for c in first["clusters"]]
    token = first["continue"]
    while token:
        page = (await api.get(base, params={"limit": 2, "continue": token})).json()
        names.extend(c["name"] for c in page["clusters"])
        token = page.get("continue", "")
    assert names == [f"p{index}" for index in range(6)]
    # A token is no key to another namespace's list.
    elsewhere = (
        await api.get(
            "/apis/v1/namespaces/default/clusters", params={"limit": 2, "continue": first["continue"]}
        )
    ).json()
    assert not {c["name"] for c in elsewhere.get("clusters", [])} & {"p2", "p3", "p4", "p5"}
    broken = await api.get(base, params={"limit": 2, "continue": "m1.%%%"})
    assert broken.status_code == 400 and broken.json()["code"] == 3


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}}"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_relist_after_410_gone_catches_up(tmp_path: Path) -> None:
    """The watches break, more changes than the cluster keeps for resuming happen, the informers relist."""
    asyncio.run(_relist(tmp_path))


async def _relist(tmp_path: Path) -> None:
    with processes.dev_cluster(tmp_path, "--history-size", "5") as kubeconfig:
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        parsed = urllib.parse.urlsplit(server)
        with faulty_proxy(parsed.hostname or "", parsed.port or 80) as proxy:
            proxied = yaml.safe_load(kubeconfig.read_text())
            proxied["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{proxy.port}"
            (tmp_path / "proxied.kubeconfig").write_text(yaml.safe_dump(proxied))
            database = f"sqlite+aiosqlite:///{tmp_path / 'relist.db'}"
            with processes.service(tmp_path, database, tmp_path / "proxied.kubeconfig", False) as service:
                await _relist_against(service, kubeconfig, proxy)


async def _relist_against(service: processes.Service, kubeconfig: Path, proxy: Any) -> None:
    namespace = "ray-system"
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as api, client.ApiClient(cfg) as kube:
        await make_template(api, namespace)
        await _create(api, namespace, "will-vanish", "ann")
        await _create(api, namespace, "stays", "ann")
        metrics = (await api.get("/metrics")).text
        assert _metric(metrics, "kuberay_apiserver_informer_lists_total", resource="clusters") == 1
        proxy.set_mode("refuse")  # every watch breaks; the service cannot reach Kubernetes
        custom = client.CustomObjectsApi(kube)
        await custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", "will-vanish")
        for index in range(8):  # more changes than the dev cluster keeps: resuming the watch is 410 Gone
            await client.CoreV1Api(kube).create_namespaced_config_map(
                namespace, {"metadata": {"name": f"churn-{index}"}}
            )
        # Meanwhile reads go to Kubernetes (which is unreachable) rather than serve what may be stale.
        unreachable = await api.get(f"/apis/v1/namespaces/{namespace}/clusters/will-vanish")
        assert unreachable.status_code == 503 and unreachable.json()["code"] == 14
        proxy.set_mode("pass")

        async def relisted() -> None:
            text = (await api.get("/metrics")).text
            assert _metric(text, "kuberay_apiserver_informer_lists_total", resource="clusters") == 2

        await eventually(relisted, seconds=40)
        names = await eventually(lambda: _names_without(api, namespace, "will-vanish"), seconds=10)
        assert names == ["stays"]
        trail = await eventually(lambda: _outside_deletions(api, namespace), seconds=10)
        assert [e["name"] for e in trail] == ["will-vanish"]


async def _names_without(api: httpx.AsyncClient, namespace: str, name: str) -> list[str]:
    listed = await api.get(f"/apis/v1/namespaces/{namespace}/clusters")
    assert listed.status_code == 200
    names = [c["name"] for c in listed.json().get("clusters", [])]
    assert name not in names
    return names


async def _outside_deletions(api: httpx.AsyncClient, namespace: str) -> list[Item]:
    trail = await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"action": "DELETE"})
    events: list[Item] = [
        e for e in trail.json().get("events", []) if re.search("outside the API", e["message"])
    ]
    assert events
    return events
