"""Names and namespaces are checked before they become Kubernetes URLs: every route answers a bad one with 400,
and nothing reaches Kubernetes (the dev cluster's request log shows no such request; on a real kube-apiserver the
victim namespace and its objects are untouched)."""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from google.protobuf import json_format
from kubernetes_asyncio import client

from service.rpc.proto_gen import (
    cluster_pb2,
    cluster_pb2_grpc,
    config_pb2,
    config_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    serve_pb2,
    serve_pb2_grpc,
)
from tests.e2e import payloads
from tests.support import processes

pytestmark = pytest.mark.asyncio(loop_scope="session")

PREFIXES = ("/apis/v1", "/apis/v1alpha2")
COLLECTIONS = ("compute_templates", "clusters", "jobs", "services")
# How each bad value is written in a path (already percent-encoded, sent as is), and its decoded form.
IN_PATH = {
    "dot-dot": "..",
    "dot": ".",
    "encoded dot-dot": "%2e%2e",
    "encoded slash": "a%2Fb",
    "NUL": "a%00b",
    "unicode": "%C3%9Cn%C3%AFc%C3%B8d%C3%A9",
    "254 characters": "a" * 254,
}
IN_BODY = ["..", ".", "a/b", "a\x00b", "Ünïcødé", "a" * 254]


def raw_request(base: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """One request with the path sent exactly as written (httpx would normalise ``..`` away)."""
    parsed = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def path_probes(victim: str) -> Iterator[tuple[str, str]]:
    for prefix in PREFIXES:
        for bad in IN_PATH.values():
            for collection in COLLECTIONS:
                yield "GET", f"{prefix}/namespaces/{victim}/{collection}/{bad}"
                yield "DELETE", f"{prefix}/namespaces/{victim}/{collection}/{bad}"
                yield "GET", f"{prefix}/namespaces/{bad}/{collection}"
                yield "GET", f"{prefix}/namespaces/{bad}/{collection}/x"
                yield "DELETE", f"{prefix}/namespaces/{bad}/{collection}/x"
                yield "POST", f"{prefix}/namespaces/{bad}/{collection}"
            yield "PUT", f"{prefix}/namespaces/{victim}/services/{bad}"
            yield "GET", f"{prefix}/namespaces/{bad}/audit"
            yield "GET", f"{prefix}/namespaces/{bad}/audit/1"


def dev_cluster_url(kubeconfig: Path) -> str | None:
    if kubeconfig not in processes.DEV_CLUSTERS:
        return None
    config = yaml.safe_load(kubeconfig.read_text())
    return str(config["clusters"][0]["cluster"]["server"])


class KubeLog:
    """What reached Kubernetes between two points: the dev cluster's request log, or the victim's objects."""

    def __init__(self, kubeconfig: Path, kube: client.ApiClient, victim: str) -> None:
        self.dev = dev_cluster_url(kubeconfig)
        self.kube = kube
        self.victim = victim
        self.since = 0

    async def mark(self) -> None:
        if self.dev:
            async with httpx.AsyncClient() as http:
                self.since = (await http.get(f"{self.dev}/_devcluster/requests", params={"since": 0})).json()[
                    "next"
                ]

    async def assert_untouched(self, values: list[str]) -> None:
        if self.dev:
            async with httpx.AsyncClient() as http:
                log = (
                    await http.get(f"{self.dev}/_devcluster/requests", params={"since": self.since})
                ).json()
            reached = [
                r
                for r in log["requests"]
                if r["method"] != "GET" or self.victim in r["path"] or any(v in r["path"] for v in values)
            ]
            assert reached == [], reached
        namespace = await client.CoreV1Api(self.kube).read_namespace(self.victim)
        assert namespace.status.phase == "Active" and namespace.metadata.deletion_timestamp is None
        await client.CoreV1Api(self.kube).read_namespaced_config_map("victim-template", self.victim)
        await client.CustomObjectsApi(self.kube).get_namespaced_custom_object(
            "ray.io", "v1", self.victim, "rayclusters", "victim-cluster"
        )


@pytest.fixture
async def victim(api: httpx.AsyncClient, kube: client.ApiClient) -> str:
    """A namespace holding a template and a cluster that no probe may touch."""
    name = f"victim-{uuid.uuid4().hex[:8]}"
    await client.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    assert (
        await api.post(
            f"/apis/v1/namespaces/{name}/compute_templates", json=payloads.template(name, "victim-template")
        )
    ).status_code == 200
    body = payloads.cluster(name, "victim-cluster", "victim-template")
    assert (await api.post(f"/apis/v1/namespaces/{name}/clusters", json=body)).status_code == 200
    return name


async def test_bad_names_in_paths_are_400_and_reach_nothing(
    backend: processes.Service, kube: client.ApiClient, victim: str
) -> None:
    log = KubeLog(backend.kubeconfig, kube, victim)  # type: ignore[attr-defined]
    await log.mark()
    failures = []
    for method, path in path_probes(victim):
        body = json.dumps(payloads.template(victim, "x")).encode() if method in ("POST", "PUT") else None
        status, answer = await asyncio.to_thread(raw_request, backend.url, method, path, body)
        if status != 400 or not isinstance(answer, dict) or answer.get("code") != 3:
            failures.append((method, path, status, answer))
    assert failures == []
    await log.assert_untouched([".."])


@pytest.mark.parametrize("bad", IN_BODY, ids=["dot-dot", "dot", "slash", "NUL", "unicode", "254 characters"])
async def test_bad_names_in_bodies_are_400_and_reach_nothing(
    backend: processes.Service, api: httpx.AsyncClient, kube: client.ApiClient, victim: str, bad: str
) -> None:
    log = KubeLog(backend.kubeconfig, kube, victim)  # type: ignore[attr-defined]
    await log.mark()
    bodies = {
        "compute_templates": payloads.template(victim, bad),
        "clusters": payloads.cluster(victim, bad, "victim-template"),
        "jobs": payloads.job(victim, bad, "victim-template"),
        "services": payloads.service(victim, bad, "victim-template"),
    }
    for prefix in PREFIXES:
        for collection, body in bodies.items():
            response = await api.post(f"{prefix}/namespaces/{victim}/{collection}", json=body)
            assert response.status_code == 400 and response.json()["code"] == 3, (collection, response.text)
            assert "is invalid" in response.json()["message"]
        update = await api.put(f"{prefix}/namespaces/{victim}/services/x", json=payloads.service(victim, bad))
        assert update.status_code == 400, update.text
    await log.assert_untouched([])
    # Refused attempts are in the audit trail too (names cut to fit, NULs dropped).
    refused = (await api.get(f"/apis/v1/namespaces/{victim}/audit", params={"outcome": "FAILURE"})).json()
    assert len(refused["events"]) >= 8


GRPC_BAD = ["..", "a/b", "a\x00b", "a" * 254]


@pytest.mark.parametrize("bad", GRPC_BAD, ids=["dot-dot", "slash", "NUL", "254 characters"])
async def test_bad_names_over_grpc_are_invalid_argument(
    backend: processes.Service, kube: client.ApiClient, victim: str, bad: str
) -> None:
    log = KubeLog(backend.kubeconfig, kube, victim)  # type: ignore[attr-defined]
    await log.mark()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{backend.grpc_port}") as channel:
        templates = config_pb2_grpc.ComputeTemplateServiceStub(channel)
        clusters = cluster_pb2_grpc.ClusterServiceStub(channel)
        jobs = job_pb2_grpc.RayJobServiceStub(channel)
        services = serve_pb2_grpc.RayServeServiceStub(channel)
        template = json_format.ParseDict(payloads.template(victim, bad), config_pb2.ComputeTemplate())
        cluster = json_format.ParseDict(
            payloads.cluster(victim, bad, "victim-template"), cluster_pb2.Cluster()
        )
        calls = [
            templates.GetComputeTemplate(config_pb2.GetComputeTemplateRequest(name=bad, namespace=victim)),
            templates.DeleteComputeTemplate(
                config_pb2.DeleteComputeTemplateRequest(name=bad, namespace=victim)
            ),
            templates.ListComputeTemplates(config_pb2.ListComputeTemplatesRequest(namespace=bad)),
            templates.CreateComputeTemplate(
                config_pb2.CreateComputeTemplateRequest(compute_template=template, namespace=victim)
            ),
            clusters.GetCluster(cluster_pb2.GetClusterRequest(name=bad, namespace=victim)),
            clusters.GetCluster(cluster_pb2.GetClusterRequest(name="x", namespace=bad)),
            clusters.DeleteCluster(cluster_pb2.DeleteClusterRequest(name=bad, namespace=victim)),
            clusters.ListCluster(cluster_pb2.ListClustersRequest(namespace=bad)),
            clusters.CreateCluster(cluster_pb2.CreateClusterRequest(cluster=cluster, namespace=victim)),
            jobs.GetRayJob(job_pb2.GetRayJobRequest(name=bad, namespace=victim)),
            jobs.DeleteRayJob(job_pb2.DeleteRayJobRequest(name=bad, namespace=victim)),
            jobs.ListRayJobs(job_pb2.ListRayJobsRequest(namespace=bad)),
            services.GetRayService(serve_pb2.GetRayServiceRequest(name=bad, namespace=victim)),
            services.DeleteRayService(serve_pb2.DeleteRayServiceRequest(name=bad, namespace=victim)),
            services.ListRayServices(serve_pb2.ListRayServicesRequest(namespace=bad)),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    await log.assert_untouched([])
