"""Upstream's V2 service proxy: only KubeRay's Services (label app.kubernetes.io/name=kuberay) are reached, through
Kubernetes' own service proxy, the answer streamed back; anything else is a Kubernetes Status.

On the real kube-apiserver the backend is a live HTTP server on this machine's network address, made the endpoint
of the Service as a running pod would be (tests/support/pod_endpoints.py): the requests really go through
kube-apiserver's proxy to it. The dev cluster proxies a Service to 127.0.0.1:<port>, where the same server listens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
from tests.support.pod_endpoints import endpoint_address, publish_pod_endpoint

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A streamed answer larger than every buffer on the way (kube-apiserver's, aiohttp's, the ASGI server's), sent in
# uneven chunks.
BIG = 3 * 1024 * 1024 + 17
CHUNKS = (1, 7, 4096, 65536 + 3, 250_000)


def big_body() -> bytes:
    return bytes(range(256)) * (BIG // 256) + bytes(range(BIG % 256))


class Dashboard(BaseHTTPRequestHandler):
    """A stand-in for a Ray head's dashboard: says what it was asked, in several chunks."""

    protocol_version = "HTTP/1.1"  # chunked answers are HTTP/1.1

    def _chunked(self, pieces: Iterator[bytes], media_type: str = "text/plain") -> None:
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def _answer(self, body: bytes) -> None:
        self._chunked(iter((b"Ray Dashboard\n", body)))

    def do_GET(self) -> None:
        if self.path == "/big":
            self._chunked(self._big_pieces(), "application/octet-stream")
        elif self.path == "/paced":
            self._chunked(self._paced())
        elif self.path == "/headers":
            body = json.dumps({name.lower(): value for name, value in self.headers.items()}).encode()
            self._chunked(iter((body,)), "application/json")
        elif self.path == "/page":
            self._chunked(iter((b'<html><body><a href="/api/jobs/">jobs</a></body></html>',)), "text/html")
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/api/jobs/?moved=1")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._answer(f"{self.command} {self.path}".encode())

    def do_POST(self) -> None:
        sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if len(sent) > 1000:
            sent = f"{len(sent)} bytes, sha256 {hashlib.sha256(sent).hexdigest()}".encode()
        self._answer(f"{self.command} {self.path} ".encode() + sent)

    def _paced(self) -> Iterator[bytes]:
        """The rest only once the caller has the first piece: through a proxy that holds the answer back until it
        ends, the caller never has it (and the rest says so)."""
        yield b"first\n"
        released: threading.Event = self.server.released  # type: ignore[attr-defined]
        yield b"released\n" if released.wait(20) else b"timed out\n"

    @staticmethod
    def _big_pieces() -> Iterator[bytes]:
        body, at, turn = big_body(), 0, 0
        while at < len(body):
            size = CHUNKS[turn % len(CHUNKS)]
            yield body[at : at + size]
            at, turn = at + size, turn + 1

    def log_message(self, *args: Any) -> None:
        pass


@dataclasses.dataclass
class Backend:
    port: int
    released: threading.Event


@pytest.fixture
def dashboard() -> Iterator[Backend]:
    # On every address: kube-apiserver reaches it on this machine's network address, the dev cluster on loopback.
    server = ThreadingHTTPServer(("0.0.0.0", 0), Dashboard)
    server.released = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Backend(server.server_address[1], server.released)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def real(request: pytest.FixtureRequest) -> bool:
    return str(request.node.callspec.params["backend"]).endswith("-real")


async def make_service(kube: Any, namespace: str, name: str, port: int, labelled: bool, real: bool) -> None:
    """A Service with one port named ``dashboard``; on the real kube-apiserver also a pod at this machine's
    address as its endpoint (the dev cluster proxies to 127.0.0.1:<port> instead)."""
    labels = {"app.kubernetes.io/name": "kuberay" if labelled else "other"}
    await client.CoreV1Api(kube).create_namespaced_service(
        namespace,
        {
            "metadata": {"name": name, "labels": labels},
            "spec": {"ports": [{"name": "dashboard", "port": port, "targetPort": port}]},
        },
    )
    if real:
        await publish_pod_endpoint(kube, namespace, name, endpoint_address(), port)


def proxy(namespace: str, service: str, rest: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/services/{service}/proxy{rest}"


async def test_a_kuberay_service_is_proxied(
    api: httpx.AsyncClient, kube: Any, namespace: str, dashboard: Backend, real: bool
) -> None:
    await make_service(kube, namespace, "head-svc", dashboard.port, labelled=True, real=real)
    got = await api.get(proxy(namespace, f"head-svc:{dashboard.port}", "/api/jobs/x%20y?a=1&b=c%26d"))
    assert got.status_code == 200, got.text
    assert got.text == "Ray Dashboard\nGET /api/jobs/x%20y?a=1&b=c%26d", got.text
    assert got.headers["content-type"].startswith("text/plain")
    named = await api.get(proxy(namespace, "http:head-svc:dashboard", "/api/jobs/"))
    assert named.status_code == 200 and named.text == "Ray Dashboard\nGET /api/jobs/", named.text

    posted = await api.post(
        proxy(namespace, "head-svc:dashboard", "/api/jobs/"),
        content=b'{"entrypoint":"x"}',
        headers={"content-type": "application/json"},
    )
    assert posted.status_code == 200, posted.text
    assert posted.text == 'Ray Dashboard\nPOST /api/jobs/ {"entrypoint":"x"}', posted.text
    large = bytes(range(256)) * 4096 + b"end"
    uploaded = await api.post(proxy(namespace, "head-svc:dashboard", "/api/packages/"), content=large)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.text.endswith(f"{len(large)} bytes, sha256 {hashlib.sha256(large).hexdigest()}")

    async with api.stream("GET", proxy(namespace, "head-svc:dashboard", "/big")) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["content-type"] == "application/octet-stream"
        pieces = [chunk async for chunk in streamed.aiter_raw()]
    received = b"".join(pieces)
    size = len(received)
    assert size == BIG and hashlib.sha256(received).digest() == hashlib.sha256(big_body()).digest()
    # Streamed as it comes: the first piece arrives while the dashboard is still waiting to send the rest.
    async with api.stream("GET", proxy(namespace, "head-svc:dashboard", "/paced")) as paced:
        assert paced.status_code == 200
        parts, first = paced.aiter_bytes(), b""
        while not first.endswith(b"\n"):
            first += await anext(parts)
        dashboard.released.set()
        rest = b"".join([chunk async for chunk in parts])
    assert first + rest == b"first\nreleased\n", first + rest

    # The dashboard's own token header reaches it (Kubernetes drops Authorization, the caller's to the API);
    # nothing of the caller's credentials does.
    echoed = await api.get(
        proxy(namespace, "head-svc:dashboard", "/headers"),
        headers={"X-Ray-Authorization": "Bearer ray-token", "Authorization": "Bearer not-for-ray"},
    )
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["x-ray-authorization"] == "Bearer ray-token"
    assert "authorization" not in echoed.json()


async def test_redirects_stay_on_the_proxy_path(
    api: httpx.AsyncClient, kube: Any, namespace: str, dashboard: Backend, real: bool
) -> None:
    await make_service(kube, namespace, "head-svc", dashboard.port, labelled=True, real=real)
    # Kubernetes sends a bare proxy path to the same path with a slash, as a browser would need for relative links.
    root = await api.get(proxy(namespace, f"http:head-svc:{dashboard.port}"), params={"q": "1"})
    assert root.status_code == 301, root.text
    assert root.headers["location"] == proxy(namespace, f"http:head-svc:{dashboard.port}", "/?q=1")
    followed = await api.get(root.headers["location"])
    assert followed.status_code == 200 and followed.text == "Ray Dashboard\nGET /?q=1", followed.text
    # The dashboard's own redirect to one of its paths comes back pointing into the proxy, so it can be followed.
    moved = await api.get(proxy(namespace, "head-svc:dashboard", "/moved"))
    assert moved.status_code == 302, moved.text
    assert moved.headers["location"] == proxy(namespace, "head-svc:dashboard", "/api/jobs/?moved=1")
    landed = await api.get(moved.headers["location"])
    assert landed.status_code == 200 and landed.text == "Ray Dashboard\nGET /api/jobs/?moved=1", landed.text
    if real:  # kube-apiserver also points the links of an HTML page into the proxy (the dev cluster does not)
        page = await api.get(proxy(namespace, "head-svc:dashboard", "/page"))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
        assert f'<a href="{proxy(namespace, "head-svc:dashboard", "/api/jobs/")}">' in page.text, page.text


async def test_a_service_without_a_port_goes_to_its_unnamed_port(
    api: httpx.AsyncClient, kube: Any, namespace: str, dashboard: Backend, real: bool
) -> None:
    # As Kubernetes resolves it: no port is the Service's unnamed port; KubeRay's head service names all of them.
    await make_service(kube, namespace, "head-svc", dashboard.port, labelled=True, real=real)
    unnamed = await api.get(proxy(namespace, "head-svc", "/api/jobs/"))
    assert_status(unnamed, 503, "ServiceUnavailable")
    assert 'no endpoints available for service "head-svc"' in unnamed.json()["message"]
    unknown = await api.get(proxy(namespace, "head-svc:1", "/api/jobs/"))
    assert_status(unknown, 503, "ServiceUnavailable")
    assert 'no service port 1 found for service "head-svc"' in unknown.json()["message"]


async def test_other_services_are_refused(
    api: httpx.AsyncClient, kube: Any, namespace: str, dashboard: Backend, real: bool
) -> None:
    await make_service(kube, namespace, "plain-svc", dashboard.port, labelled=False, real=real)
    # The Service is live: Kubernetes itself proxies to it...
    direct = await client.CoreV1Api(kube).connect_get_namespaced_service_proxy_with_path(
        "plain-svc:dashboard", namespace, "api/jobs/"
    )
    assert direct == "Ray Dashboard\nGET /api/jobs/", direct
    # ...but it is not KubeRay's, so the service does not.
    for method in ("GET", "POST", "DELETE"):
        refused = await api.request(method, proxy(namespace, "plain-svc:dashboard", "/api/jobs/"))
        assert_status(refused, 404, "NotFound")
        assert "kuberay service not found" in refused.json()["message"]
    assert_status(await api.post(proxy(namespace, f"missing-{uuid.uuid4().hex[:4]}", "/x")), 404, "NotFound")
    for bad in ("Bad_Name", "a:b:c", "ftp:x:1"):
        answer = await api.get(proxy(namespace, bad, "/"))
        assert_status(answer, 400, "BadRequest")
        assert f"invalid service format: {bad}" in answer.json()["message"]


async def test_a_dead_backend_is_kubernetes_error_passed_through(
    api: httpx.AsyncClient, kube: Any, namespace: str, real: bool
) -> None:
    with socket.socket() as free:
        free.bind(("0.0.0.0", 0))
        port = free.getsockname()[1]
    await make_service(kube, namespace, "dead-svc", port, labelled=True, real=real)
    answer = await api.get(proxy(namespace, "dead-svc:dashboard", "/"))
    assert_status(answer, 503, "ServiceUnavailable")
    assert "error trying to reach service" in answer.json()["message"], answer.text
