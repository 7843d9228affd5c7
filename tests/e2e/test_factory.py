"""``uvicorn --factory service.app:create_app`` serves exactly what ``kuberay-apiserver serve`` serves: the same
OpenAPI document, and the behaviour that lives in middleware (request ids, cross-site refusal, metrics, errors)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e import payloads
from tests.support import processes


def _probe(base: str, name: str) -> dict[str, object]:
    namespace = "ray-system"
    with httpx.Client(base_url=base, timeout=30) as http:
        created = http.post(
            f"/apis/v1/namespaces/{namespace}/compute_templates",
            json=payloads.template(namespace, name),
            headers={"X-Request-Id": "factory-check"},
        )
        refused = http.post(
            f"/apis/v1/namespaces/{namespace}/compute_templates",
            json=payloads.template(namespace, "other"),
            headers={"Origin": "https://evil.example"},
        )
        missing = http.get("/apis/v1/nothing")
        metrics = http.get("/metrics").text
        return {
            "openapi": http.get("/schema/openapi.json").json(),
            "created": (
                created.status_code,
                created.headers.get("x-request-id"),
                created.json()["name"] == name,
            ),
            "refused": (refused.status_code, refused.json()["code"]),
            "missing": (missing.status_code, missing.json(), missing.headers.get("x-request-id") is not None),
            "counted": 'operation="CreateComputeTemplate"' in metrics,
            "trail": [
                (e["action"], e["outcome"], e["requestId"])
                for e in http.get(f"/apis/v1/namespaces/{namespace}/audit", params={"name": name}).json()[
                    "events"
                ]
            ],
        }


def test_the_factory_serves_what_serve_serves(dev_kubeconfig: Path, tmp_path: Path) -> None:
    quiet = {"KUBERAY_APISERVER_WATCH": "false"}
    with processes.service(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}", dev_kubeconfig, False, env=quiet
    ) as served:
        by_serve = _probe(served.url, "factory-a")
    port = processes.free_port()
    env = {
        **os.environ,
        **quiet,
        "KUBERAY_APISERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}",
        "KUBERAY_APISERVER_KUBECONFIG": str(dev_kubeconfig),
        "KUBERAY_APISERVER_GRPC_PORT": "0",
        "KUBERAY_APISERVER_LOG_FORMAT": "json",
        "KUBERAY_APISERVER_AUTH": "none",
        "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "true",
    }
    log = tmp_path / "factory.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        processes.wait_ready(f"http://127.0.0.1:{port}", process, log)
        by_factory = _probe(f"http://127.0.0.1:{port}", "factory-b")
    finally:
        processes.stop(process)
    assert by_factory == by_serve
    assert by_serve["created"] == (200, "factory-check", True)
    assert by_serve["refused"] == (403, 7)
    assert by_serve["trail"] == [("CREATE", "SUCCESS", "factory-check")]
