"""The service over TLS: HTTPS on the HTTP port and gRPC over TLS on the gRPC port, with a certificate from a
throwaway CA; clients that do not trust that CA, or that speak plain text, get nothing; a start with a key file
that is not there is refused with a message, not a traceback."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.rpc.proto_gen import config_pb2, config_pb2_grpc
from tests.support import processes
from tests.support.tls import Certificates, make_certificates


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def served(
    dev_kubeconfig: Path, certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[processes.Service]:
    workdir = tmp_path_factory.mktemp("https")
    database = f"sqlite+aiosqlite:///{workdir / 'tls.db'}"
    with processes.service(workdir, database, dev_kubeconfig, tls=certificates) as running:
        yield running


def test_https_answers_clients_that_trust_the_ca(
    served: processes.Service, certificates: Certificates
) -> None:
    assert served.url.startswith("https://127.0.0.1:")
    with httpx.Client(base_url=served.url, verify=certificates.client_context(), timeout=30) as client:
        for path in ("/healthz", "/readyz"):
            assert client.get(path).status_code == 200, path
        created = client.post(
            "/apis/v1/namespaces/default/compute_templates",
            json={"name": "over-https", "namespace": "default", "cpu": 1, "memory": 2},
        )
        assert created.status_code == 200, created.text
        assert client.get("/apis/v1/namespaces/default/compute_templates/over-https").json()["cpu"] == 1


def test_clients_that_do_not_trust_the_ca_or_speak_plain_http_get_nothing(served: processes.Service) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{served.url}/readyz", verify=ssl.create_default_context(), timeout=10)
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url.replace("https://", "http://") + "/readyz", timeout=10)


def test_grpc_over_tls(served: processes.Service, certificates: Certificates) -> None:
    asyncio.run(_grpc_over_tls(served, certificates))
    # The template created over gRPC, read over HTTPS: one service behind both ports.
    read = httpx.get(
        f"{served.url}/apis/v1/namespaces/default/compute_templates/over-grpc-tls",
        verify=certificates.client_context(),
        timeout=30,
    )
    assert read.status_code == 200 and read.json()["cpu"] == 3, read.text


async def _grpc_over_tls(served: processes.Service, certificates: Certificates) -> None:
    target = f"127.0.0.1:{served.grpc_port}"
    trusted = grpc.ssl_channel_credentials(root_certificates=certificates.ca.read_bytes())
    async with grpc.aio.secure_channel(target, trusted) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        templates = config_pb2_grpc.ComputeTemplateServiceStub(channel)
        template = config_pb2.ComputeTemplate(name="over-grpc-tls", namespace="default", cpu=3, memory=4)
        await templates.CreateComputeTemplate(
            config_pb2.CreateComputeTemplateRequest(compute_template=template, namespace="default"),
            timeout=30,
        )
        got = await templates.GetComputeTemplate(
            config_pb2.GetComputeTemplateRequest(name="over-grpc-tls", namespace="default"), timeout=30
        )
        assert (got.name, got.cpu) == ("over-grpc-tls", 3)
    # Plain text, or TLS without trusting the CA: no call gets through.
    async with grpc.aio.insecure_channel(target) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    async with grpc.aio.secure_channel(target, grpc.ssl_channel_credentials()) as untrusting:
        with pytest.raises(grpc.aio.AioRpcError) as unverified:
            await health_pb2_grpc.HealthStub(untrusting).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert unverified.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_start_is_logged_as_https_without_the_key(
    served: processes.Service, certificates: Certificates
) -> None:
    log = served.log()
    port = served.url.rsplit(":", 1)[1]
    assert f"Uvicorn running on https://127.0.0.1:{port}" in log
    assert f"serving HTTPS on port {port} and gRPC over TLS on port {served.grpc_port}" in log
    assert f"gRPC listening on 127.0.0.1:{served.grpc_port} over TLS" in log
    assert '"subject": "CN=kuberay-apiserver"' in log
    key_lines = [line for line in certificates.key.read_text().splitlines() if not line.startswith("-----")]
    assert key_lines and not any(line in log for line in key_lines)
    assert "PRIVATE KEY" not in log


def test_start_is_refused_when_the_key_file_is_missing(certificates: Certificates, tmp_path: Path) -> None:
    missing = tmp_path / "tls.key"
    no_key = Certificates(ca=certificates.ca, cert=certificates.cert, key=missing)
    with pytest.raises(RuntimeError) as refused:
        processes.start_service(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
            tmp_path / "no-kubeconfig",
            False,
            tls=no_key,
        )
    output = str(refused.value)
    assert re.match(r"service exited with 2\b", output), output  # click's usage error, before anything starts
    assert f"Error: cannot read --tls-key-file {missing}: No such file or directory" in output, output
    assert "Traceback" not in output, output


def test_an_expired_certificate_is_served_but_logged_as_an_error(
    dev_kubeconfig: Path, tmp_path: Path
) -> None:
    """Clients will refuse it, so the operator hears of it at start (the service still starts: the pod stays up
    for a renewed Secret and a restart, rather than crash-looping)."""
    expired = make_certificates(tmp_path / "expired", days=-1)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--http-port",
                str(processes.free_port()),
                "--grpc-port",
                "0",
                "--kubeconfig",
                str(dev_kubeconfig),
                *expired.options(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "KUBERAY_APISERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                "KUBERAY_APISERVER_LOG_FORMAT": "json",
                "KUBERAY_APISERVER_AUTH": "none",
                "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "true",
            },
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while "Uvicorn running on https://" not in log_path.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.2)
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    finally:
        processes.stop(process)
    errors = [line for line in lines if line["level"] == "error"]
    assert [line["event"] for line in errors] == [
        "the TLS certificate has expired: clients will refuse the connection"
    ], lines
    assert datetime.datetime.fromisoformat(errors[0]["not_after"]) < datetime.datetime.now(datetime.UTC)
