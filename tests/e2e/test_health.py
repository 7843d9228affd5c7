"""Health and readiness, including what happens when a dependency stops answering."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest
from kubernetes_asyncio import client, config

from tests.e2e import payloads
from tests.support import processes


def test_readyz_turns_503_when_kubernetes_goes_away(tmp_path: Path) -> None:
    with processes.dev_cluster(tmp_path) as kubeconfig:
        url = f"sqlite+aiosqlite:///{tmp_path / 'ready.db'}"
        with processes.service(tmp_path, url, kubeconfig, grpc=False) as service:
            assert httpx.get(f"{service.url}/readyz").json()["checks"] == {
                "database": "ok",
                "kubernetes": "ok",
                "informers": "ok",
            }
            dev = _dev_cluster_process(kubeconfig)
            dev.terminate()
            dev.wait(10)
            response = httpx.get(f"{service.url}/readyz", timeout=30)
            assert response.status_code == 503
            assert response.json()["checks"]["database"] == "ok"
            assert response.json()["checks"]["kubernetes"].startswith("unavailable")
            assert httpx.get(f"{service.url}/healthz").status_code == 200
            assert response.json()["checks"]["informers"] == "ok"  # they listed once; reads know they lag
            # With the watches down, reads go to Kubernetes rather than serve what may be stale: they fail fast
            # and cleanly, not with a hang or a 500.
            listed = httpx.get(f"{service.url}/apis/v1/clusters", timeout=30)
            assert listed.status_code == 503 and listed.json()["code"] == 14


@pytest.mark.postgres
def test_readyz_turns_503_when_the_database_goes_away(tmp_path: Path, dev_kubeconfig: Path) -> None:
    with processes.postgres() as admin_url:
        url = processes.create_database(admin_url, "ready")
        with processes.service(tmp_path, url, dev_kubeconfig, grpc=False) as service:
            assert httpx.get(f"{service.url}/readyz").status_code == 200
            namespace = "ray-system"
            template = payloads.template(namespace, "db-down-template")
            assert (
                httpx.post(
                    f"{service.url}/apis/v1/namespaces/{namespace}/compute_templates", json=template
                ).status_code
                == 200
            )
            processes.stop_postgres(admin_url)
            response = httpx.get(f"{service.url}/readyz", timeout=30)
            assert response.status_code == 503
            assert response.json()["checks"]["database"].startswith("unavailable")
            assert response.json()["checks"]["kubernetes"] == "ok"
            # A create whose record cannot be written is never sent: no resource without its record.
            body = payloads.cluster(namespace, "db-down-cluster", "db-down-template")
            created = httpx.post(
                f"{service.url}/apis/v1/namespaces/{namespace}/clusters", json=body, timeout=60
            )
            assert created.status_code == 503 and created.json()["code"] == 14, created.text
            assert "nothing was changed" in created.json()["message"]
            assert asyncio.run(_raycluster_exists(dev_kubeconfig, namespace, "db-down-cluster")) is False


async def _raycluster_exists(kubeconfig: Path, namespace: str, name: str) -> bool:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api:
        try:
            await client.CustomObjectsApi(api).get_namespaced_custom_object(
                "ray.io", "v1", namespace, "rayclusters", name
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
    return True


def _dev_cluster_process(kubeconfig: Path) -> subprocess.Popen[bytes]:
    process = processes.DEV_CLUSTERS[kubeconfig]
    return process
