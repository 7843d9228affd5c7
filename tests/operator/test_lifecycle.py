"""Ray resources through the service's API while the real KubeRay operator reconciles them on kwok nodes.

What only a control plane can show: clusters the operator makes ready (over HTTP and gRPC), cascading deletion
by the garbage collector, the statuses the operator writes for jobs and services as our API reports them, and
the watcher's audit of a deletion made behind the service's back. Pods never run Ray (kwok only plays
kubelet), so anything that needs a Ray dashboard stays unreached and is not asserted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from kubernetes_asyncio import client

from service.rpc.proto_gen import cluster_pb2, cluster_pb2_grpc
from tests.e2e import payloads
from tests.e2e.test_clusters import make_template
from tests.operator.waiting import eventually
from tests.support import processes
from tests.support.control_plane import ControlPlane

pytestmark = [pytest.mark.operator, pytest.mark.asyncio(loop_scope="session")]

# The probe cluster is ready within seconds; this leaves room for a loaded CI machine.
READY = 90.0
# Operator event reasons for a RayCluster's children.
CLUSTER_EVENTS = {"CreatedHeadPod", "CreatedWorkerPod", "CreatedService"}


async def get_cr(kube: client.ApiClient, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        cr: dict[str, Any] = await client.CustomObjectsApi(kube).get_namespaced_custom_object(
            "ray.io", "v1", namespace, plural, name
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return cr


async def cluster_children(
    kube: client.ApiClient, namespace: str, cluster: str
) -> tuple[list[Any], list[Any]]:
    """The pods and Services the operator made for ``cluster`` (by its ``ray.io/cluster`` label)."""
    core = client.CoreV1Api(kube)
    selector = f"ray.io/cluster={cluster}"
    pods = await core.list_namespaced_pod(namespace, label_selector=selector)
    services = await core.list_namespaced_service(namespace, label_selector=selector)
    return pods.items, services.items


async def deletes_of(api: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await api.get("/apis/v1/audit", params={"name": name, "action": "DELETE"})
    assert response.status_code == 200, response.text
    return [e for e in response.json().get("events", []) if e["name"] == name and e["action"] == "DELETE"]


async def assert_audited_once(api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """Waits for the DELETE of ``name``, then makes sure no second one follows.

    A duplicate could only come from the watcher, which acts on a deletion within its grace second; watching
    three times that long is the bounded way to show it did not.
    """
    first = await eventually(lambda: deletes_of(api, name), f"DELETE of {name} audited", seconds=30)
    for _ in range(6):
        await asyncio.sleep(0.5)
        again = await deletes_of(api, name)
        assert len(again) == 1, again
    return first[0]


async def ready_cluster(api: httpx.AsyncClient, namespace: str, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        got = await api.get(f"/apis/v1/namespaces/{namespace}/clusters/{name}")
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body if body.get("clusterState") == "ready" else None

    return await eventually(probe, f"cluster {name} ready in our API", seconds=READY)


def assert_reconciled(answer: dict[str, Any], cr: dict[str, Any]) -> None:
    """Our answer carries what the operator wrote: state, endpoints and its events for the children."""
    status = cr.get("status") or {}
    assert answer["clusterState"] == status.get("state") == "ready"
    assert answer["serviceEndpoint"] == {k: str(v) for k, v in (status.get("endpoints") or {}).items()}
    assert "dashboard" in answer["serviceEndpoint"], answer["serviceEndpoint"]
    reasons = {event["reason"] for event in answer.get("events", [])}
    assert reasons >= CLUSTER_EVENTS, reasons


async def test_cluster_created_over_http_becomes_ready(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_template(api, namespace)
    created = await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace))
    assert created.status_code == 200, created.text
    assert "clusterState" not in created.json()  # nothing has reconciled it yet

    answer = await ready_cluster(api, namespace, "test-cluster")
    # Events are written asynchronously by the operator's recorder: wait for all three kinds.
    answer = await eventually(
        lambda: _with_events(api, namespace, "test-cluster"), "operator events in our answer", seconds=30
    )
    cr = await get_cr(kube, "rayclusters", namespace, "test-cluster")
    assert cr is not None
    assert_reconciled(answer, cr)

    listed = await api.get(f"/apis/v1/namespaces/{namespace}/clusters")
    assert [(c["name"], c.get("clusterState")) for c in listed.json()["clusters"]] == [
        ("test-cluster", "ready")
    ]

    pods, services = await cluster_children(kube, namespace, "test-cluster")
    assert sorted(p.metadata.labels["ray.io/node-type"] for p in pods) == ["head", "worker"]
    assert {p.status.phase for p in pods} == {"Running"}
    assert all(p.spec.node_name.startswith("kwok-node-") for p in pods)
    assert [s.metadata.name for s in services] == ["test-cluster-head-svc"]


async def _with_events(api: httpx.AsyncClient, namespace: str, name: str) -> dict[str, Any] | None:
    body: dict[str, Any] = (await api.get(f"/apis/v1/namespaces/{namespace}/clusters/{name}")).json()
    reasons = {event["reason"] for event in body.get("events", [])}
    return body if reasons >= CLUSTER_EVENTS and body.get("clusterState") == "ready" else None


async def test_cluster_created_over_grpc_becomes_ready(
    api: httpx.AsyncClient, kube: client.ApiClient, channel: grpc.aio.Channel, namespace: str
) -> None:
    # Its workers ask for a GPU: the fake nodes advertise nvidia.com/gpu, so they schedule.
    gpu_template = payloads.template(namespace, "gpu-template", gpu=1, gpuAccelerator="nvidia.com/gpu")
    for body in (payloads.template(namespace), gpu_template):
        response = await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body)
        assert response.status_code == 200, response.text
    body = payloads.cluster(namespace, name="grpc-cluster")
    body["clusterSpec"]["workerGroupSpec"][0]["computeTemplate"] = "gpu-template"
    stub = cluster_pb2_grpc.ClusterServiceStub(channel)
    await stub.CreateCluster(
        cluster_pb2.CreateClusterRequest(
            cluster=json_format.ParseDict(body, cluster_pb2.Cluster()), namespace=namespace
        )
    )

    async def ready() -> cluster_pb2.Cluster | None:
        got = await stub.GetCluster(cluster_pb2.GetClusterRequest(name="grpc-cluster", namespace=namespace))
        reasons = {event.reason for event in got.events}
        return got if got.cluster_state == "ready" and reasons >= CLUSTER_EVENTS else None

    got = await eventually(ready, "gRPC cluster ready with events", seconds=READY)
    cr = await get_cr(kube, "rayclusters", namespace, "grpc-cluster")
    assert cr is not None
    assert_reconciled(json_format.MessageToDict(got), cr)

    listed = await stub.ListCluster(cluster_pb2.ListClustersRequest(namespace=namespace))
    assert [(c.name, c.cluster_state) for c in listed.clusters] == [("grpc-cluster", "ready")]

    pods, _ = await cluster_children(kube, namespace, "grpc-cluster")
    workers = [p for p in pods if p.metadata.labels["ray.io/node-type"] == "worker"]
    assert len(workers) == 1 and workers[0].status.phase == "Running"
    assert workers[0].spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"


async def test_deleted_cluster_is_cascaded_and_closed_once(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_template(api, namespace)
    body = payloads.cluster(namespace, name="doomed")
    assert (await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)).status_code == 200
    await ready_cluster(api, namespace, "doomed")
    pods, services = await cluster_children(kube, namespace, "doomed")
    assert len(pods) == 2 and len(services) == 1
    # The operator's children belong to the RayCluster: the garbage collector is what removes them.
    for child in (*pods, *services):
        owners = [(o.kind, o.name) for o in child.metadata.owner_references or []]
        assert owners == [("RayCluster", "doomed")], owners

    deleted = await api.delete(f"/apis/v1/namespaces/{namespace}/clusters/doomed")
    assert deleted.status_code == 200, deleted.text

    async def children_gone() -> bool:
        pods, services = await cluster_children(kube, namespace, "doomed")
        return not pods and not services

    await eventually(children_gone, "pods and head Service of a deleted cluster removed", seconds=60)
    assert await get_cr(kube, "rayclusters", namespace, "doomed") is None

    event = await assert_audited_once(api, "doomed")
    assert event["outcome"] == "SUCCESS" and event["namespace"] == namespace
    history = await api.get(f"/apis/v1/namespaces/{namespace}/clusters", params={"includeDeleted": "true"})
    rows = [c for c in history.json()["clusters"] if c["name"] == "doomed"]
    assert len(rows) == 1 and rows[0].get("deletedAt"), rows
    live = await api.get(f"/apis/v1/namespaces/{namespace}/clusters")
    assert [c["name"] for c in live.json().get("clusters", [])] == []


async def test_rayjob_runs_its_own_cluster(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_template(api, namespace)
    body = payloads.job(namespace)
    # A short deadline: the submitter never finishes on a fake node, so the operator fails the job by its
    # deadline and, as asked, deletes the job's cluster: the whole lifecycle within a minute.
    body.update(activeDeadlineSeconds=30, ttlSecondsAfterFinished=0, shutdownAfterJobFinishes=True)
    created = await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=body)
    assert created.status_code == 200, created.text

    async def our_job() -> dict[str, Any]:
        got = await api.get(f"/apis/v1/namespaces/{namespace}/jobs/test-job")
        assert got.status_code == 200, got.text
        job: dict[str, Any] = got.json()
        return job

    async def running() -> dict[str, Any] | None:
        job = await our_job()
        return job if job.get("jobDeploymentStatus") == "Running" and job.get("rayClusterName") else None

    job = await eventually(running, "job Running on its cluster", seconds=READY)
    cluster_name = job["rayClusterName"]
    cluster = await get_cr(kube, "rayclusters", namespace, cluster_name)
    assert cluster is not None and (cluster.get("status") or {}).get("state") == "ready"
    assert [(o["kind"], o["name"]) for o in cluster["metadata"]["ownerReferences"]] == [
        ("RayJob", "test-job")
    ]
    # The submitter the operator started for it (kwok keeps its pod Running).
    submitter = await client.BatchV1Api(kube).read_namespaced_job("test-job", namespace)
    assert submitter.metadata.owner_references[0].kind == "RayJob"
    # The job's cluster is not one of ours to list.
    listed = await api.get(f"/apis/v1/namespaces/{namespace}/clusters")
    assert cluster_name not in [c["name"] for c in listed.json().get("clusters", [])]
    everywhere = await api.get("/apis/v1/clusters")
    assert cluster_name not in [c["name"] for c in everywhere.json().get("clusters", [])]

    async def same_as_operator(expected_state: str) -> dict[str, Any] | None:
        job = await our_job()
        cr = await get_cr(kube, "rayjobs", namespace, "test-job")
        status = (cr or {}).get("status") or {}
        if status.get("jobDeploymentStatus") != expected_state:
            return None
        assert job["jobDeploymentStatus"] == status["jobDeploymentStatus"]
        assert job["rayClusterName"] == status.get("rayClusterName", "")
        assert job.get("jobId", "") == status.get("jobId", "")
        assert job.get("jobStatus", "") == status.get("jobStatus", "")
        assert job.get("message", "") == status.get("message", "")
        assert bool(job.get("startTime")) == bool(status.get("startTime"))
        return job

    await eventually(
        lambda: same_as_operator("Running"), "our job status equal to the operator's", seconds=30
    )
    job = await eventually(lambda: same_as_operator("Failed"), "job failed by its deadline", seconds=READY)
    assert "activeDeadlineSeconds" in job["message"], job["message"]

    async def cluster_deleted() -> bool:
        return await get_cr(kube, "rayclusters", namespace, cluster_name) is None

    await eventually(cluster_deleted, "the finished job's cluster deleted by the operator", seconds=60)


async def test_rayservice_status_is_the_operators(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_template(api, namespace)
    created = await api.post(f"/apis/v1/namespaces/{namespace}/services", json=payloads.service(namespace))
    assert created.status_code == 200, created.text

    async def pending_cluster() -> str | None:
        cr = await get_cr(kube, "rayservices", namespace, "test-service")
        name = (((cr or {}).get("status") or {}).get("pendingServiceStatus") or {}).get("rayClusterName")
        return str(name) if name else None

    cluster_name = await eventually(pending_cluster, "the operator's pending cluster", seconds=READY)

    async def pending_ready() -> bool:
        cluster = await get_cr(kube, "rayclusters", namespace, cluster_name)
        return ((cluster or {}).get("status") or {}).get("state") == "ready"

    await eventually(pending_ready, "the service's cluster ready", seconds=READY)
    listed = await api.get(f"/apis/v1/namespaces/{namespace}/clusters")
    assert cluster_name not in [c["name"] for c in listed.json().get("clusters", [])]

    async def same_as_operator() -> dict[str, Any] | None:
        got = await api.get(f"/apis/v1/namespaces/{namespace}/services/test-service")
        assert got.status_code == 200, got.text
        status = got.json().get("rayServiceStatus") or {}
        cr = await get_cr(kube, "rayservices", namespace, "test-service")
        written = (cr or {}).get("status") or {}
        active = written.get("activeServiceStatus") or {}
        # The serve applications never start (no Ray), so the operator keeps the cluster pending: our answer
        # must not invent an active cluster or application statuses.
        assert status.get("rayClusterName", "") == active.get("rayClusterName", "")
        assert len(status.get("serveApplicationStatus", [])) == len(active.get("applicationStatuses") or {})
        events = status.get("rayServiceEvents", [])
        created_cluster = [e for e in events if e["reason"] == "CreatedRayCluster"]
        if not created_cluster:
            return None
        assert cluster_name in created_cluster[0]["message"], created_cluster
        return status

    await eventually(
        same_as_operator, "the operator's RayService status and events in our answer", seconds=30
    )

    # Every event the operator had recorded for the service before we asked is in our answer.
    # (core/v1 Events: the operator records those, and the client's events.k8s.io model rejects them for
    # lacking eventTime.)
    stored = await client.CoreV1Api(kube).list_namespaced_event(
        namespace, field_selector="involvedObject.kind=RayService,involvedObject.name=test-service"
    )
    got = (await api.get(f"/apis/v1/namespaces/{namespace}/services/test-service")).json()
    shown = {(e["reason"], e["message"]) for e in got["rayServiceStatus"].get("rayServiceEvents", [])}
    assert stored.items and {(e.reason, e.message) for e in stored.items} <= shown


async def test_out_of_band_delete_is_audited_once(
    api: httpx.AsyncClient, control_plane: ControlPlane, namespace: str
) -> None:
    await make_template(api, namespace)
    body = payloads.cluster(namespace, name="kubectl-victim")
    assert (await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)).status_code == 200
    await ready_cluster(api, namespace, "kubectl-victim")

    result = control_plane.kube.kubectl("delete", "raycluster", "kubectl-victim", "-n", namespace)
    assert result.returncode == 0, result.stderr

    event = await assert_audited_once(api, "kubectl-victim")
    assert event["message"] == "deleted outside the API (noticed by the service)"
    assert event["outcome"] == "SUCCESS" and event["namespace"] == namespace


async def test_no_too_large_resource_version(
    operator_service: processes.Service, control_plane: ControlPlane
) -> None:
    """On etcd 3.4 the watch cache answered the service's watches with "Too large resource version"; 3.6 does not.

    Runs last in this module, after the watcher has seen the deletions above.
    """
    log = operator_service.log()
    assert "recorded a deletion made outside the API" in log  # the watcher did run
    assert "Too large resource version" not in log, log[-3000:]
    assert control_plane.dead_components() == {}
