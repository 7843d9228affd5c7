"""What only a real kube-apiserver can show: nothing we write is pruned, the chart's RBAC is exactly enough, and
the chart's manifests are accepted by the server."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.converters.cluster import cluster_to_cr
from service.converters.compute_template import compute_template_from_configmap
from service.converters.job import job_to_cr
from service.converters.service import service_to_cr
from service.schemas.base import decode
from service.schemas.cluster import Cluster
from service.schemas.job import RayJob
from service.schemas.service import RayService
from tests.conftest import SERVICE_USER, unavailable
from tests.e2e import payloads
from tests.kubenative.test_ray_routes import raycluster
from tests.support import processes
from tests.support.kube_apiserver import RealKubeApiServer

pytestmark = pytest.mark.kubeapi

CHART = Path(__file__).resolve().parents[2] / "charts" / "kuberay-apiserver"


def helm_binary() -> str:
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "kuberay-apiserver"
        / "bin"
        / "helm"
    )
    path = os.environ.get("KUBERAY_HELM") or str(cache)
    if not Path(path).exists():
        unavailable("helm not built: run `bash hack/install-helm.sh`")
    return path


def render(*args: str, namespace: str = "ray-system") -> list[dict[str, Any]]:
    result = subprocess.run(
        [helm_binary(), "template", "kuberay-apiserver", str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


MERGE = {"content-type": "application/merge-patch+json"}


def kubectl(kube: RealKubeApiServer, *args: str, user: str | None = None, input: str | None = None) -> str:
    result = kube.kubectl(*args, user=user, input=input)
    assert result.returncode == 0, result.stderr
    return result.stdout


def is_subset(expected: Any, stored: Any, path: str = "$") -> list[str]:
    """Paths where ``stored`` lacks or changed what ``expected`` holds (defaults added by the server are fine)."""
    if isinstance(expected, dict):
        if not isinstance(stored, dict):
            return [path]
        problems: list[str] = []
        for key, value in expected.items():
            if key not in stored:
                problems.append(f"{path}.{key} pruned")
            else:
                problems += is_subset(value, stored[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(stored, list) or len(stored) != len(expected):
            return [f"{path} length"]
        return [
            p
            for i, (a, b) in enumerate(zip(expected, stored, strict=True))
            for p in is_subset(a, b, f"{path}[{i}]")
        ]
    return [] if expected == stored else [f"{path}: {expected!r} != {stored!r}"]


@pytest.fixture(scope="module")
def service_as_chart_account(
    real_kube: RealKubeApiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The service authenticated as the chart's ServiceAccount, with exactly the chart's RBAC applied."""
    rbac = [doc for doc in render() if doc["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert {doc["kind"] for doc in rbac} == {"ClusterRole", "ClusterRoleBinding"}
    kubectl(
        real_kube, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac})
    )
    workdir = tmp_path_factory.mktemp("rbac-service")
    url = f"sqlite+aiosqlite:///{workdir / 'rbac.db'}"
    with processes.service(workdir, url, real_kube.kubeconfig_for(SERVICE_USER), grpc=False) as running:
        yield running.url
        log = running.log()
    assert "Forbidden" not in log and "lacks this permission" not in log, log[-3000:]


def test_cr_written_by_the_service_is_stored_unchanged(
    real_kube: RealKubeApiServer, service_as_chart_account: str
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(real_kube, "create", "namespace", namespace)
    with httpx.Client(base_url=service_as_chart_account, timeout=30) as api:
        assert (
            api.post(
                f"/apis/v1/namespaces/{namespace}/compute_templates", json=payloads.template(namespace)
            ).status_code
            == 200
        )
        template = compute_template_from_configmap(
            json.loads(
                kubectl(real_kube, "get", "configmap", "default-template", "-n", namespace, "-o", "json")
            )
        )
        templates = {"default-template": template}
        now = dt.datetime.now(dt.UTC)
        cases: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        cluster = payloads.cluster(namespace)
        cluster["clusterSpec"]["headGroupSpec"]["volumes"] = [
            {
                "name": "cm",
                "mountPath": "/cm",
                "volumeType": "CONFIGMAP",
                "source": "cfg",
                "items": {"a": "b"},
            },
            {"name": "sec", "mountPath": "/sec", "volumeType": "SECRET", "source": "s", "items": {"k": "p"}},
            {"name": "scratch", "mountPath": "/tmp/x", "volumeType": "EMPTY_DIR", "storage": "1Gi"},
            {
                "name": "eph",
                "mountPath": "/eph",
                "volumeType": "EPHEMERAL",
                "storage": "5Gi",
                "accessMode": "RWX",
            },
        ]
        cluster["clusterSpec"]["enableInTreeAutoscaling"] = True
        cluster["clusterSpec"]["autoscalerOptions"] = {
            "upscalingMode": "Default",
            "idleTimeoutSeconds": 30,
            "cpu": "500m",
        }
        cases.append(
            (
                "clusters",
                "rayclusters",
                cluster,
                cluster_to_cr(decode(json.dumps(cluster), Cluster), namespace, templates, now),
            )
        )
        job = payloads.job(namespace)
        job["jobSubmitter"] = {"image": "rayproject/ray:2.46.0", "cpu": "400m", "memory": "150Mi"}
        cases.append(
            ("jobs", "rayjobs", job, job_to_cr(decode(json.dumps(job), RayJob), namespace, templates))
        )
        service = payloads.service(namespace)
        cases.append(
            (
                "services",
                "rayservices",
                service,
                service_to_cr(decode(json.dumps(service), RayService), namespace, templates, now),
            )
        )
        for route, plural, body, expected in cases:
            response = api.post(f"/apis/v1/namespaces/{namespace}/{route}", json=body)
            assert response.status_code == 200, response.text
            stored = json.loads(
                kubectl(real_kube, "get", plural, body["name"], "-n", namespace, "-o", "json")
            )
            assert is_subset(expected["spec"], stored["spec"]) == [], plural
            assert stored["metadata"]["labels"] == expected["metadata"]["labels"]


def test_chart_rbac_is_enough_for_every_operation(
    real_kube: RealKubeApiServer, service_as_chart_account: str
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(real_kube, "create", "namespace", namespace)
    with httpx.Client(base_url=service_as_chart_account, timeout=30) as api:
        base = f"/apis/v1/namespaces/{namespace}"
        calls = [
            ("POST", f"{base}/compute_templates", payloads.template(namespace)),
            ("GET", f"{base}/compute_templates/default-template", None),
            ("GET", f"{base}/compute_templates", None),
            ("GET", "/apis/v1/compute_templates", None),
        ]
        for route, body in (
            ("clusters", payloads.cluster(namespace)),
            ("jobs", payloads.job(namespace)),
            ("services", payloads.service(namespace)),
        ):
            calls += [
                ("POST", f"{base}/{route}", body),
                ("GET", f"{base}/{route}/{body['name']}", None),
                ("GET", f"{base}/{route}", None),
                ("GET", f"/apis/v1/{route}", None),
            ]
        calls.append(
            ("PUT", f"{base}/services/test-service", {**payloads.service(namespace), "user": "carol"})
        )
        for route, name in (("clusters", "test-cluster"), ("jobs", "test-job"), ("services", "test-service")):
            calls.append(("DELETE", f"{base}/{route}/{name}", None))
        calls += [
            ("DELETE", f"{base}/compute_templates/default-template", None),
            ("GET", f"{base}/clusters?includeDeleted=true", None),
            ("GET", f"{base}/audit", None),
        ]
        for method, path, body in calls:
            response = api.request(method, path, json=body)
            assert response.status_code == 200, (method, path, response.text)
        # The Kubernetes-native writes: server-side apply (patch), the status subresource, a delete.
        one = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/native"
        apply = {"content-type": "application/apply-patch+yaml"}
        native: list[tuple[str, str, Any, dict[str, str], int]] = [
            ("PATCH", one, raycluster("native"), apply, 201),
            ("GET", f"{one}/status", None, {}, 200),
            ("PATCH", f"{one}/status", {"status": {"state": "ready"}}, MERGE, 200),
            ("PATCH", f"{one}/status", {"apiVersion": "ray.io/v1", "kind": "RayCluster"}, apply, 200),
            ("DELETE", one, None, {}, 200),
        ]
        for method, path, body, headers, code in native:
            response = api.request(method, path, json=body, headers=headers, params={"fieldManager": "t"})
            assert response.status_code == code, (method, path, response.text)
        assert httpx.get(f"{service_as_chart_account}/readyz").status_code == 200


@pytest.mark.parametrize(
    ("verb", "resource"),
    [
        ("list", "secrets"),
        ("create", "pods"),
        ("delete", "namespaces"),
        ("update", "configmaps"),
        ("deletecollection", "rayclusters.ray.io"),
        ("create", "secrets"),
    ],
)
def test_chart_rbac_refuses_everything_else(
    real_kube: RealKubeApiServer, service_as_chart_account: str, verb: str, resource: str
) -> None:
    answer = real_kube.kubectl("auth", "can-i", verb, resource, "--all-namespaces", user=SERVICE_USER)
    assert answer.stdout.strip() == "no", (verb, resource, answer.stdout, answer.stderr)
    allowed = real_kube.kubectl(
        "auth", "can-i", "create", "rayclusters.ray.io", "--all-namespaces", user=SERVICE_USER
    )
    assert allowed.stdout.strip() == "yes"


@pytest.mark.parametrize("values", sorted(p.name for p in (CHART / "ci").glob("*.yaml")))
def test_chart_manifests_pass_server_side_dry_run(real_kube: RealKubeApiServer, values: str) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(real_kube, "create", "namespace", namespace)
    docs = [
        doc
        for doc in render("-f", str(CHART / "ci" / values), namespace=namespace)
        if doc["kind"] != "ServiceMonitor"
    ]
    out = kubectl(
        real_kube,
        "apply",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
    )
    assert out.count("(server dry run)") == len(docs), out
