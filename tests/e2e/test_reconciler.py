"""The reconciler, with the watcher off: reads never write records, and deletions that happened while nobody
watched are closed (and audited once) when the service next reconciles."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from kubernetes_asyncio import client, config

from tests.e2e import payloads
from tests.support import processes

QUIET = {"KUBERAY_APISERVER_WATCH": "false", "KUBERAY_APISERVER_RECONCILE_INTERVAL": "3600"}


async def _delete_behind_its_back(kubeconfig: Path, namespace: str, name: str) -> None:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api:
        await client.CustomObjectsApi(api).delete_namespaced_custom_object(
            "ray.io", "v1", namespace, "rayclusters", name
        )


def _deletions(http: httpx.Client, namespace: str, name: str) -> list[tuple[str, str]]:
    events = http.get(
        f"/apis/v1/namespaces/{namespace}/audit", params={"name": name, "action": "DELETE"}
    ).json()
    return [(e["outcome"], e["message"]) for e in events["events"]]


def test_vanished_resources_are_closed_by_the_reconciler_not_by_reads(
    dev_kubeconfig: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'reconcile.db'}"
    namespace = "ray-system"
    with processes.service(tmp_path, url, dev_kubeconfig, False, env=QUIET) as service:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            template = payloads.template(namespace, "rec-template")
            assert (
                http.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template).status_code
                == 200
            )
            body = payloads.cluster(namespace, "rec-cluster", "rec-template")
            assert http.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body).status_code == 200
            asyncio.run(_delete_behind_its_back(dev_kubeconfig, namespace, "rec-cluster"))
            # Reads show the truth but record nothing.
            assert http.get(f"/apis/v1/namespaces/{namespace}/clusters/rec-cluster").status_code == 404
            assert http.get(f"/apis/v1/namespaces/{namespace}/clusters").json() == {"clusters": []}
            assert _deletions(http, namespace, "rec-cluster") == []
    # The next start reconciles (the interval is an hour, so only the start-up run can have done it).
    with processes.service(tmp_path, url, dev_kubeconfig, False, env=QUIET) as service:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            deadline = time.monotonic() + 20
            while not _deletions(http, namespace, "rec-cluster") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _deletions(http, namespace, "rec-cluster") == [
                ("SUCCESS", "deleted outside the API (noticed by the service)")
            ]
            history = http.get(
                f"/apis/v1/namespaces/{namespace}/clusters", params={"includeDeleted": "true"}
            ).json()
            (deleted,) = history["clusters"]
            assert deleted["name"] == "rec-cluster" and deleted["deletedAt"] and deleted["user"] == "3cpo"
    with processes.service(tmp_path, url, dev_kubeconfig, False, env=QUIET) as service:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            time.sleep(1)
            assert (
                len(_deletions(http, namespace, "rec-cluster")) == 1
            )  # a later run finds nothing left to do


async def _create_behind_its_back(kubeconfig: Path, namespace: str, names: list[str]) -> None:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api:
        if not names:
            await client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
            return
        custom = client.CustomObjectsApi(api)
        queue = list(names)

        async def worker() -> None:
            while queue:
                body = {
                    "apiVersion": "ray.io/v1",
                    "kind": "RayCluster",
                    "metadata": {"name": queue.pop()},
                    "spec": {"headGroupSpec": {"template": {"spec": {"containers": []}}}},
                }
                await custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)

        await asyncio.gather(*(worker() for _ in range(16)))


def test_the_reconciler_reads_every_page_of_a_large_list(dev_kubeconfig: Path, tmp_path: Path) -> None:
    """It reads object keys a page at a time: a cluster on a later page is still there, not closed."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'pages.db'}"
    namespace = f"reconcile-pages-{uuid.uuid4().hex[:6]}"
    asyncio.run(_create_behind_its_back(dev_kubeconfig, namespace, []))
    with processes.service(tmp_path, url, dev_kubeconfig, False, env=QUIET) as service:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            template = payloads.template(namespace, "t")
            assert (
                http.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template).status_code
                == 200
            )
            for name in ("zz-later-page", "gone"):
                body = payloads.cluster(namespace, name, "t")
                assert http.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body).status_code == 200
    # More clusters than one page holds, all sorting before the API's own, and one deletion to be noticed.
    asyncio.run(_create_behind_its_back(dev_kubeconfig, namespace, [f"a-{i:04d}" for i in range(700)]))
    asyncio.run(_delete_behind_its_back(dev_kubeconfig, namespace, "gone"))
    with processes.service(tmp_path, url, dev_kubeconfig, False, env=QUIET) as service:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            deadline = time.monotonic() + 20
            while not _deletions(http, namespace, "gone") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert [outcome for outcome, _ in _deletions(http, namespace, "gone")] == ["SUCCESS"]
            assert _deletions(http, namespace, "zz-later-page") == []
            history = http.get(
                f"/apis/v1/namespaces/{namespace}/clusters", params={"includeDeleted": "true", "limit": 1000}
            ).json()["clusters"]
            kept = [c for c in history if c["name"] == "zz-later-page"]
            assert kept and not kept[0].get("deletedAt"), kept


def test_while_the_informers_watch_the_reconciler_asks_them_not_kubernetes(tmp_path: Path) -> None:
    """With the informers up, the reconciler judges history rows by what they hold: it lists nothing, and a live
    cluster stays live however often it runs."""
    import yaml

    env = {"KUBERAY_APISERVER_RECONCILE_INTERVAL": "0.5"}
    url = f"sqlite+aiosqlite:///{tmp_path / 'informed.db'}"
    namespace = "ray-system"
    with (
        processes.dev_cluster(tmp_path) as kubeconfig,
        processes.service(tmp_path, url, kubeconfig, False, env=env) as service,
        httpx.Client(base_url=service.url, timeout=30) as http,
    ):
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        template = payloads.template(namespace, "t")
        assert (
            http.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template).status_code == 200
        )
        body = payloads.cluster(namespace, "informed", "t")
        assert http.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body).status_code == 200
        start = httpx.get(f"{server}/_devcluster/requests", params={"since": 999999999}).json()["next"]
        time.sleep(3)  # several runs of the reconciler
        logged = httpx.get(f"{server}/_devcluster/requests", params={"since": start}).json()["requests"]
        lists = [r["path"] for r in logged if r["method"] == "GET" and "watch=" not in r["path"]]
        assert not [path for path in lists if "rayclusters" in path or "configmaps" in path], lists
        assert _deletions(http, namespace, "informed") == []
        live = http.get(f"/apis/v1/namespaces/{namespace}/clusters/informed")
        assert live.status_code == 200 and not live.json().get("deletedAt"), live.text
