"""Deadlines and outages, each against a service of its own: a hung Kubernetes API, answers lost on the way
back, a locked database, slow clients; and what error messages may reveal."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e import payloads
from tests.support import processes
from tests.support.faulty_proxy import FaultyProxy, faulty_proxy


def _kubeconfig_via(kubeconfig: Path, proxy: FaultyProxy, target: Path) -> Path:
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{proxy.port}"
    target.write_text(yaml.safe_dump(config))
    return target


@pytest.fixture
def dev_proxy(dev_kubeconfig: Path, tmp_path: Path) -> Iterator[tuple[FaultyProxy, Path]]:
    server = yaml.safe_load(dev_kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    parsed = urllib.parse.urlsplit(server)
    with faulty_proxy(parsed.hostname or "", parsed.port or 80) as proxy:
        yield proxy, _kubeconfig_via(dev_kubeconfig, proxy, tmp_path / "proxied.kubeconfig")


BOUNDS = {
    "KUBERAY_APISERVER_KUBE_TIMEOUT": "2",
    "KUBERAY_APISERVER_REQUEST_TIMEOUT": "4",
    "KUBERAY_APISERVER_KUBE_CONCURRENCY": "2",
    "KUBERAY_APISERVER_RECONCILE_INTERVAL": "0.5",
    "KUBERAY_APISERVER_WATCH": "false",
}


async def _timed(
    http: httpx.AsyncClient, method: str, path: str, **kwargs: object
) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
    return time.monotonic() - started, response


def test_a_hung_kubernetes_api_cannot_hold_requests_past_their_bound(
    dev_proxy: tuple[FaultyProxy, Path], tmp_path: Path
) -> None:
    proxy, kubeconfig = dev_proxy
    url = f"sqlite+aiosqlite:///{tmp_path / 'hung.db'}"
    with processes.service(tmp_path, url, kubeconfig, False, env=BOUNDS) as service:
        proxy.set_mode("hang")

        async def burst() -> list[tuple[float, httpx.Response]]:
            async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
                # More requests than the concurrency limit: queueing for a slot counts against the bound too.
                calls = [_timed(http, "GET", "/apis/v1/namespaces/ray-system/clusters/x") for _ in range(10)]
                return await asyncio.gather(*calls)

        results = asyncio.run(burst())
        for elapsed, response in results:
            assert response.status_code in (503, 504) and response.json()["code"] in (4, 14), response.text
            assert elapsed < 2 + 1.5, elapsed  # KUBE_TIMEOUT, plus slack for a loaded machine
            assert "127.0.0.1" not in response.text and str(proxy.port) not in response.text
        readyz = httpx.get(f"{service.url}/readyz", timeout=30)
        assert readyz.status_code == 503 and readyz.json()["checks"]["kubernetes"].startswith("unavailable")


def test_a_create_whose_answer_is_lost_is_504_and_settles_later(
    dev_proxy: tuple[FaultyProxy, Path], tmp_path: Path
) -> None:
    proxy, kubeconfig = dev_proxy
    url = f"sqlite+aiosqlite:///{tmp_path / 'lost.db'}"
    namespace = "ray-system"
    with processes.service(tmp_path, url, kubeconfig, False, env=BOUNDS) as service:
        with httpx.Client(base_url=service.url, timeout=60) as http:
            proxy.set_mode("blackhole")  # Kubernetes acts, its answers never arrive
            started = time.monotonic()
            lost = http.post(
                f"/apis/v1/namespaces/{namespace}/compute_templates",
                json=payloads.template(namespace, "lost"),
            )
            assert time.monotonic() - started < 4 + 1.5
            assert lost.status_code == 504 and lost.json()["code"] == 4, lost.text
            assert "may have happened" in lost.json()["message"]
            proxy.set_mode("pass")
            deadline = time.monotonic() + 30
            events: list[dict[str, object]] = []
            while time.monotonic() < deadline:
                events = http.get("/apis/v1/audit", params={"name": "lost"}).json()["events"]
                if events and events[0]["outcome"] != "PENDING":
                    break
                time.sleep(0.5)
            # The template was created: the reconciler found its intent id on it and settled the row.
            assert [(e["action"], e["outcome"]) for e in events] == [("CREATE", "SUCCESS")]
            assert http.get(f"/apis/v1/namespaces/{namespace}/compute_templates/lost").status_code == 200


def test_a_locked_database_is_503_within_its_bound_and_not_ready(
    dev_kubeconfig: Path, tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    env = {**BOUNDS, "KUBERAY_APISERVER_DB_TIMEOUT": "2", "KUBERAY_APISERVER_WATCH": "false"}
    with (
        processes.service(tmp_path, f"sqlite+aiosqlite:///{path}", dev_kubeconfig, False, env=env) as service,
        httpx.Client(base_url=service.url, timeout=60) as http,
    ):
        namespace = "ray-system"
        holder = sqlite3.connect(path, timeout=1, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the file
        try:
            started = time.monotonic()
            response = http.post(
                f"/apis/v1/namespaces/{namespace}/compute_templates",
                json=payloads.template(namespace, "locked"),
            )
            assert time.monotonic() - started < 2 + 1.5
            assert response.status_code == 503 and response.json()["code"] == 14, response.text
            assert "nothing was changed" in response.json()["message"]
            readyz = http.get("/readyz")
            assert readyz.status_code == 503 and readyz.json()["checks"]["database"].startswith("unavailable")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert http.get(f"/apis/v1/namespaces/{namespace}/compute_templates/locked").status_code == 404
        assert http.get("/readyz").status_code == 200


def test_slow_headers_are_cut_off(dev_kubeconfig: Path, tmp_path: Path) -> None:
    env = {"KUBERAY_APISERVER_HEADER_TIMEOUT": "1", "KUBERAY_APISERVER_WATCH": "false"}
    url = f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}"
    with processes.service(tmp_path, url, dev_kubeconfig, False, env=env) as service:
        port = int(service.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            started = time.monotonic()
            assert slow.recv(1024) == b""  # the server closed it
            assert time.monotonic() - started < 5
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
            started = time.monotonic()
            assert silent.recv(1024) == b""
            assert time.monotonic() - started < 7
        assert httpx.get(f"{service.url}/healthz").status_code == 200
