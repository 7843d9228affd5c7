"""The real kubectl against the running service: apply, get, patch --type merge, delete, each change audited."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.kubenative.test_ray_routes import raycluster
from tests.support.kube_apiserver import find_binaries
from tests.support.processes import Service

pytestmark = pytest.mark.asyncio(loop_scope="session")


def kubectl(service: Service, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binaries = find_binaries()
    assert binaries is not None, "kubectl is not built: make kube-apiserver"
    return subprocess.run(
        [str(binaries[1]), "--server", service.url, "--cache-dir", str(tmp / "cache"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"HOME": str(tmp), "KUBECONFIG": str(tmp / "none")},
    )


async def test_kubectl_drives_ray_clusters_through_the_service(
    api: httpx.AsyncClient, backend: Service, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    manifest = tmp_path / "raycluster.yaml"
    manifest.write_text(yaml.safe_dump(raycluster("by-kubectl")))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return kubectl(backend, tmp_path, "-n", namespace, *args)

    # The dev cluster's OpenAPI document has no CRD schemas, which kubectl's client-side validation does not take;
    # on a real kube-apiserver the service passes the CRDs' own document through and kubectl validates with it.
    validate = ["--validate=false"] if request.node.name.endswith("-dev]") else []
    applied = await asyncio.to_thread(run, "apply", *validate, "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    got = await asyncio.to_thread(run, "get", "rayclusters", "by-kubectl", "-o", "json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["metadata"]["name"] == "by-kubectl"
    listed = await asyncio.to_thread(run, "get", "rayclusters")
    assert listed.returncode == 0 and "by-kubectl" in listed.stdout, listed.stderr
    patch: dict[str, Any] = raycluster("by-kubectl", replicas=4)["spec"]
    patched = await asyncio.to_thread(
        run, "patch", "raycluster", "by-kubectl", "--type", "merge", "-p", json.dumps({"spec": patch})
    )
    assert patched.returncode == 0, patched.stderr
    after = (await api.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/by-kubectl")).json()
    assert after["spec"]["workerGroupSpecs"][0]["replicas"] == 4
    deleted = await asyncio.to_thread(run, "delete", "raycluster", "by-kubectl", "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    missing = await asyncio.to_thread(run, "get", "raycluster", "by-kubectl")
    assert missing.returncode != 0 and "NotFound" in missing.stderr, missing.stderr

    audit = (await api.get(f"/apis/v1/namespaces/{namespace}/audit")).json()["events"]
    actions = sorted(
        e["action"] for e in audit if e["name"] == "by-kubectl" and e.get("outcome") == "SUCCESS"
    )
    assert actions == ["CREATE", "DELETE", "UPDATE"], audit
    assert all("kubectl" in e.get("userAgent", "kubectl") for e in audit), audit


async def test_kubectl_describe_shows_a_ray_cluster_and_its_events(
    api: httpx.AsyncClient, backend: Service, kube: Any, namespace: str, tmp_path: Path
) -> None:
    from tests.kubenative.test_events import setup_events

    await setup_events(api, kube, namespace)
    described = await asyncio.to_thread(
        kubectl, backend, tmp_path, "-n", namespace, "describe", "raycluster", "evented"
    )
    assert described.returncode == 0, described.stderr
    assert "Name:" in described.stdout and "evented" in described.stdout, described.stdout
    assert "Events:" in described.stdout and "Created" in described.stdout, described.stdout
    # Only the cluster's event: the ConfigMap's (same reason) is not the cluster's, and is never served.
    assert described.stdout.count("Created happened") == 1, described.stdout
