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


async def test_kubectl_get_watch_sees_a_change_made_while_it_watches(
    api: httpx.AsyncClient, backend: Service, namespace: str, tmp_path: Path
) -> None:
    binaries = find_binaries()
    assert binaries is not None, "kubectl is not built: make kube-apiserver"
    base = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    assert (await api.post(base, json=raycluster("before"))).status_code == 201
    watcher = await asyncio.create_subprocess_exec(
        str(binaries[1]),
        *("--server", backend.url, "--cache-dir", str(tmp_path / "cache"), "-n", namespace),
        *("get", "rayclusters", "--watch", "--output-watch-events"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")},
    )
    assert watcher.stdout is not None

    async def line_with(*words: str) -> str:
        while True:
            line = (await asyncio.wait_for(watcher.stdout.readline(), 30)).decode()
            assert line, "kubectl get -w ended early"
            if all(word in line.split() for word in words):
                return line

    try:
        await line_with("ADDED", "before")  # the list is shown: the watch starts from its resourceVersion
        await asyncio.sleep(1)
        assert (await api.post(base, json=raycluster("during"))).status_code == 201
        await line_with("ADDED", "during")
        patch = {"metadata": {"labels": {"seen": "yes"}}}
        merge = {"content-type": "application/merge-patch+json"}
        assert (await api.patch(f"{base}/before", json=patch, headers=merge)).status_code == 200
        await line_with("MODIFIED", "before")
        assert (await api.delete(f"{base}/during")).status_code == 200
        await line_with("DELETED", "during")
    finally:
        watcher.terminate()
        await watcher.wait()


async def test_kubectl_dry_run_patches_status_and_cascading_delete(
    api: httpx.AsyncClient, backend: Service, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    real = request.node.name.endswith("-real]")
    manifest = tmp_path / "raycluster.yaml"
    manifest.write_text(yaml.safe_dump(raycluster("opts")))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return kubectl(backend, tmp_path, "-n", namespace, *args)

    validate = [] if real else ["--validate=false"]
    tried = await asyncio.to_thread(run, "apply", *validate, "--dry-run=server", "-f", str(manifest))
    assert tried.returncode == 0 and "(server dry run)" in tried.stdout, tried.stderr
    missing = await asyncio.to_thread(run, "get", "raycluster", "opts")
    assert missing.returncode != 0 and "NotFound" in missing.stderr, missing.stderr
    audit = (await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"name": "opts"})).json()
    assert audit["events"] == [], audit

    applied = await asyncio.to_thread(run, "apply", *validate, "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    if real:
        # Server-side apply (the dev cluster answers it with 415). The worker groups are an atomic list that the
        # CRD's defaults (numOfHosts) make differ from the manifest, so the client-side apply's manager owns them
        # with another value: Kubernetes' own conflict. The intent id, which that manager owns too, is not named.
        manifest.write_text(yaml.safe_dump(raycluster("opts", tier="gold")))
        refused = await asyncio.to_thread(run, "apply", "--server-side", "-f", str(manifest))
        assert refused.returncode != 0 and ".spec.workerGroupSpecs" in refused.stderr, refused.stderr
        assert "apiserver-intent" not in refused.stderr, refused.stderr
        forced = await asyncio.to_thread(
            run, "apply", "--server-side", "--force-conflicts", "-f", str(manifest)
        )
        assert forced.returncode == 0, forced.stderr
        again = await asyncio.to_thread(
            run, "apply", "--server-side", "--dry-run=server", "-f", str(manifest)
        )
        assert again.returncode == 0 and "(server dry run)" in again.stdout, again.stderr
    ops = '[{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 3}]'
    patched = await asyncio.to_thread(run, "patch", "raycluster", "opts", "--type", "json", "-p", ops)
    assert patched.returncode == 0, patched.stderr
    status = '{"status": {"state": "ready"}}'
    set_status = await asyncio.to_thread(
        run, "patch", "raycluster", "opts", "--subresource=status", "--type", "merge", "-p", status
    )
    assert set_status.returncode == 0, set_status.stderr
    state = await asyncio.to_thread(
        run, "get", "raycluster", "opts", "--subresource=status", "-o", "jsonpath={.status.state}"
    )
    assert state.returncode == 0 and state.stdout == "ready", (state.stdout, state.stderr)
    after = (await api.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/opts")).json()
    assert after["spec"]["workerGroupSpecs"][0]["replicas"] == 3
    assert after["status"] == {"state": "ready"}
    assert after["metadata"]["labels"].get("tier") == ("gold" if real else None)

    deleted = await asyncio.to_thread(
        run, "delete", "raycluster", "opts", "--cascade=foreground", "--wait=false"
    )
    assert deleted.returncode == 0, deleted.stderr
    left = await api.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/opts")
    if real:  # no garbage collector runs beside this kube-apiserver: the foreground finalizer stays
        assert "foregroundDeletion" in left.json()["metadata"]["finalizers"], left.text
    else:
        assert left.status_code == 404, left.text

    audit = (await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"name": "opts"})).json()[
        "events"
    ]
    rows = [(e["action"], e["outcome"], e.get("subresource", "")) for e in reversed(audit)]
    # On the real server the refused server-side apply, then the forced one: kubectl's apply, its update of the
    # last-applied annotation, its hand-over of the client-side apply's fields (managedFields) and its apply again.
    applies = [("UPDATE", "FAILURE", ""), *[("UPDATE", "SUCCESS", "")] * 4] if real else []
    updates = [*applies, ("UPDATE", "SUCCESS", "")]
    assert rows == [
        ("CREATE", "SUCCESS", ""),
        *updates,
        ("UPDATE", "SUCCESS", "status"),
        ("DELETE", "SUCCESS", ""),
    ], rows
