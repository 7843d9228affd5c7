"""An interrupted status write is settled by what Kubernetes shows, never called "interrupted" when it may have
happened: a status write cannot carry the intent id (Kubernetes keeps only ``.status`` of it), so the reconciler
compares the object's status with the one written and its resourceVersion with the one the write was made at.

Each case loses a status write between the service and Kubernetes (a faulty proxy in between), on the dev cluster
and on a real kube-apiserver: its answer lost (it happened), the request lost (it did not), the request lost and
the object changed since (nobody can tell)."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes_asyncio import client, config

from tests.kubenative.test_ray_routes import raycluster
from tests.support import processes
from tests.support.faulty_proxy import FaultyProxy, faulty_proxy

BOUNDS = {
    "KUBERAY_APISERVER_KUBE_TIMEOUT": "2",
    "KUBERAY_APISERVER_REQUEST_TIMEOUT": "4",
    "KUBERAY_APISERVER_RECONCILE_INTERVAL": "0.5",
    "KUBERAY_APISERVER_WATCH": "false",
}
MERGE = {"content-type": "application/merge-patch+json"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kube_kind" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--kube")
        metafunc.parametrize("kube_kind", ["dev", "real"] if chosen == "all" else [chosen])


@pytest.fixture
def direct_kubeconfig(kube_kind: str, request: pytest.FixtureRequest) -> Path:
    if kube_kind == "real":
        kubeconfig: Path = request.getfixturevalue("real_kube").kubeconfig
        return kubeconfig
    dev: Path = request.getfixturevalue("dev_kubeconfig")
    return dev


@pytest.fixture
def proxied(direct_kubeconfig: Path, tmp_path: Path) -> Iterator[tuple[FaultyProxy, Path]]:
    """A faulty proxy in front of the cluster, and a kubeconfig that reaches the cluster through it. The service
    speaks plain HTTP to the proxy, which speaks TLS to a real kube-apiserver: it must see which requests write."""
    kubeconfig = yaml.safe_load(direct_kubeconfig.read_text())
    cluster = kubeconfig["clusters"][0]["cluster"]
    server = urllib.parse.urlsplit(cluster["server"])
    tls = None
    if server.scheme == "https":
        tls = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
    with faulty_proxy(server.hostname or "", server.port or 80, tls) as proxy:
        cluster["server"] = f"http://127.0.0.1:{proxy.port}"
        cluster.pop("certificate-authority-data", None)
        path = tmp_path / "proxied.kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        yield proxy, path


async def _status_behind_its_back(
    kubeconfig: Path, namespace: str, name: str, status: dict[str, Any]
) -> None:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api:
        objects = client.CustomObjectsApi(api)
        await objects.patch_namespaced_custom_object_status(
            "ray.io",
            "v1",
            namespace,
            "rayclusters",
            name,
            [{"op": "replace", "path": "/status", "value": status}],
        )


async def _namespace(kubeconfig: Path) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api:
        await client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def _settled(http: httpx.Client, namespace: str, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        event: dict[str, Any] = http.get(f"/apis/v1/namespaces/{namespace}/audit/{event_id}").json()
        if event["outcome"] != "PENDING":
            return event
        time.sleep(0.5)
    raise AssertionError(f"audit event {event_id} still PENDING")


def _lost_status_write(http: httpx.Client, one: str, state: str) -> str:
    """A status write whose outcome the service cannot know; the id of its PENDING audit row."""
    answer = http.patch(f"{one}/status", json={"status": {"state": state}}, headers=MERGE)
    assert answer.status_code == 504, answer.text
    message = answer.json()["message"]
    assert "may have happened" in message, message
    return message.split("audit event ")[1].split()[0]


def test_an_interrupted_status_write_is_judged_by_its_status_and_version(
    proxied: tuple[FaultyProxy, Path], direct_kubeconfig: Path, tmp_path: Path
) -> None:
    proxy, kubeconfig = proxied
    namespace = asyncio.run(_namespace(direct_kubeconfig))
    url = f"sqlite+aiosqlite:///{tmp_path / 'status.db'}"
    with (
        processes.service(tmp_path, url, kubeconfig, False, env=BOUNDS) as service,
        httpx.Client(base_url=service.url, timeout=60) as http,
    ):
        base = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
        assert http.post(base, json=raycluster("st")).status_code == 201
        one = f"{base}/st"

        # Kubernetes made the write, its answer was lost: the status is the one written.
        proxy.set_mode("lose-write-answers")
        happened = _lost_status_write(http, one, "one")
        proxy.set_mode("pass")
        event = _settled(http, namespace, happened)
        assert (event["outcome"], event.get("subresource")) == ("SUCCESS", "status"), event
        assert event["resourceVersion"] == http.get(one).json()["metadata"]["resourceVersion"]

        # The write never reached Kubernetes, and the object is still at the version it was made at.
        proxy.set_mode("drop-writes")
        lost = _lost_status_write(http, one, "two")
        proxy.set_mode("pass")
        event = _settled(http, namespace, lost)
        assert event["outcome"] == "FAILURE" and event["message"].startswith("interrupted"), event
        assert http.get(one).json()["status"] == {"state": "one"}

        # The write never reached Kubernetes, but the object changed since: nobody can tell, and it says so.
        proxy.set_mode("drop-writes")
        unknown = _lost_status_write(http, one, "three")
        asyncio.run(_status_behind_its_back(direct_kubeconfig, namespace, "st", {"state": "other"}))
        proxy.set_mode("pass")
        event = _settled(http, namespace, unknown)
        assert event["outcome"] == "FAILURE" and event["message"].startswith("outcome unknown"), event
        assert "interrupted" not in event["message"]
