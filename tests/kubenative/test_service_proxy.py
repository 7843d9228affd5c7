"""Upstream's V2 service proxy: only KubeRay's Services (label app.kubernetes.io/name=kuberay) are reached, through
Kubernetes' own service proxy, the answer streamed back; anything else is a Kubernetes Status."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client

from tests.kubenative.test_ray_routes import assert_status

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Dashboard(BaseHTTPRequestHandler):
    """A stand-in for a Ray head's dashboard: says what it was asked, in several chunks."""

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (b"Ray Dashboard\n", body):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:
        self._answer(f"{self.command} {self.path}".encode())

    def do_POST(self) -> None:
        sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(f"{self.command} {self.path} ".encode() + sent)

    def log_message(self, *args: Any) -> None:
        pass


def outward_address() -> str:
    """This machine's address on its network (Kubernetes refuses loopback endpoints)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))
        return str(probe.getsockname()[0])


@pytest.fixture
def dashboard() -> Iterator[int]:
    server = ThreadingHTTPServer(("0.0.0.0", 0), Dashboard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def make_service(kube: Any, namespace: str, name: str, port: int, labelled: bool) -> None:
    labels = {"app.kubernetes.io/name": "kuberay"} if labelled else {"app.kubernetes.io/name": "other"}
    core = client.CoreV1Api(kube)
    await core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": name, "labels": labels},
            "spec": {"ports": [{"name": "dashboard", "port": port, "targetPort": port}]},
        },
    )
    # No controller manager runs: the endpoint is written by hand. The dev cluster has no endpoints (it proxies to
    # loopback): its 404 is expected.
    endpoints = core.create_namespaced_endpoints(
        namespace,
        {
            "metadata": {"name": name},
            "subsets": [
                {"addresses": [{"ip": outward_address()}], "ports": [{"name": "dashboard", "port": port}]}
            ],
        },
    )
    slice_ = client.DiscoveryV1Api(kube).create_namespaced_endpoint_slice(
        namespace,
        {
            "metadata": {"name": f"{name}-1", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [outward_address()], "conditions": {"ready": True}}],
            "ports": [{"name": "dashboard", "port": port, "protocol": "TCP"}],
        },
    )
    for made in (endpoints, slice_):
        try:
            await made
        except client.ApiException as exc:
            assert exc.status == 404, exc


def proxy(namespace: str, service: str, rest: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/services/{service}/proxy{rest}"


async def test_a_kuberay_service_is_proxied(
    api: httpx.AsyncClient, kube: Any, namespace: str, dashboard: int, request: pytest.FixtureRequest
) -> None:
    await make_service(kube, namespace, "head-svc", dashboard, labelled=True)
    if not request.node.name.endswith("-dev]"):
        # kube-apiserver without a controller manager finds no endpoint for a Service (even one written by hand):
        # its own answer coming back shows the request went through its proxy.
        answer = await api.get(proxy(namespace, f"head-svc:{dashboard}", "/api/jobs/x"))
        assert answer.status_code == 503, answer.text
        assert "no endpoints available for service" in answer.json()["message"], answer.text
        return
    got = await api.get(proxy(namespace, f"head-svc:{dashboard}", "/api/jobs/x"), params={"a": "1"})
    assert got.status_code == 200, got.text
    assert got.text == "Ray Dashboard\nGET /api/jobs/x?a=1", got.text
    assert got.headers["content-type"].startswith("text/plain")
    root = await api.get(proxy(namespace, f"http:head-svc:{dashboard}"))
    assert root.status_code == 200 and root.text.startswith("Ray Dashboard"), root.text
    posted = await api.post(
        proxy(namespace, "head-svc", "/api/jobs/"),
        content=b'{"entrypoint":"x"}',
        headers={"content-type": "application/json"},
    )
    assert posted.status_code == 200, posted.text
    assert posted.text == 'Ray Dashboard\nPOST /api/jobs/ {"entrypoint":"x"}', posted.text
    async with api.stream("GET", proxy(namespace, "head-svc", "/streamed")) as streamed:
        assert streamed.status_code == 200
        assert b"".join([chunk async for chunk in streamed.aiter_bytes()]).startswith(b"Ray Dashboard")


async def test_other_services_are_refused(
    api: httpx.AsyncClient, kube: Any, namespace: str, dashboard: int
) -> None:
    await make_service(kube, namespace, "plain-svc", dashboard, labelled=False)
    refused = await api.get(proxy(namespace, "plain-svc", "/api/jobs/"))
    assert_status(refused, 404, "NotFound")
    assert "kuberay service not found" in refused.json()["message"]
    assert_status(await api.post(proxy(namespace, f"missing-{uuid.uuid4().hex[:4]}", "/x")), 404, "NotFound")
    for bad in ("Bad_Name", "a:b:c", "ftp:x:1"):
        answer = await api.get(proxy(namespace, bad, "/"))
        assert_status(answer, 400, "BadRequest")
        assert f"invalid service format: {bad}" in answer.json()["message"]


async def test_a_dead_backend_is_kubernetes_error_passed_through(
    api: httpx.AsyncClient, kube: Any, namespace: str
) -> None:
    with socket.socket() as free:
        free.bind(("0.0.0.0", 0))
        port = free.getsockname()[1]
    await make_service(kube, namespace, "dead-svc", port, labelled=True)
    answer = await api.get(proxy(namespace, "dead-svc", "/"))
    assert answer.status_code == 503, answer.text
    assert answer.json()["kind"] == "Status", answer.text
