"""Partial updates over gRPC: the same validation, concurrency and records as over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from kubernetes_asyncio import client

from service.rpc.proto_gen import cluster_pb2, config_pb2, job_pb2, serve_pb2
from tests.e2e import payloads
from tests.e2e.test_clusters import make_template
from tests.e2e.test_updates import custom, groups_of, raycluster, rayjob, updates
from tests.rpc.test_grpc import Stubs, channel, rpc  # noqa: F401  (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def cluster_update(namespace: str, **fields: Any) -> cluster_pb2.UpdateClusterRequest:
    request = cluster_pb2.UpdateClusterRequest(name="test-cluster", namespace=namespace)
    json_format.ParseDict(fields, request)
    return request


async def test_update_cluster(
    api: httpx.AsyncClient,
    kube: client.ApiClient,
    namespace: str,
    rpc: Stubs,  # noqa: F811
) -> None:
    await make_template(api, namespace)
    assert (
        await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace))
    ).is_success

    scaled = await rpc.clusters.UpdateCluster(
        cluster_update(
            namespace, workerGroupSpec=[{"groupName": "small-wg", "replicas": 0, "minReplicas": 0}]
        )
    )
    assert [(g.group_name, g.replicas) for g in scaled.cluster_spec.worker_group_spec] == [("small-wg", 0)]
    assert groups_of(await raycluster(kube, namespace))["small-wg"]["replicas"] == 0
    got = await rpc.clusters.GetCluster(
        cluster_pb2.GetClusterRequest(name="test-cluster", namespace=namespace)
    )
    assert got.cluster_spec.worker_group_spec[0].replicas == 0

    added = await rpc.clusters.UpdateCluster(
        cluster_update(
            namespace,
            workerGroupSpec=[
                {"groupName": "gpu-wg", "computeTemplate": "default-template", "maxReplicas": 2}
            ],
            removeWorkerGroups=["small-wg"],
        )
    )
    assert [g.group_name for g in added.cluster_spec.worker_group_spec] == ["gpu-wg"]

    refused = await rpc_error(
        rpc.clusters.UpdateCluster(
            cluster_update(namespace, workerGroupSpec=[{"groupName": "gpu-wg", "replicas": 3}])
        )
    )
    http = await api.patch(
        f"/apis/v1/namespaces/{namespace}/clusters/test-cluster",
        json={"workerGroupSpec": [{"groupName": "gpu-wg", "replicas": 3}]},
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert http.json() == {"code": 3, "message": refused.details()}

    version = (await raycluster(kube, namespace))["metadata"]["resourceVersion"]
    racing = await asyncio.gather(
        *(
            rpc.clusters.UpdateCluster(
                cluster_update(
                    namespace,
                    workerGroupSpec=[{"groupName": "gpu-wg", "replicas": n}],
                    resourceVersion=version,
                )
            )
            for n in range(3)
        ),
        return_exceptions=True,
    )
    failures = [r for r in racing if isinstance(r, grpc.aio.AioRpcError)]
    assert len(failures) == 2 and all(f.code() == grpc.StatusCode.ABORTED for f in failures), racing

    events = await updates(api, namespace, "test-cluster", "clusters")
    assert [e["outcome"] for e in events[:2]] == ["SUCCESS", "SUCCESS"]
    assert events[0]["previous"]["clusterSpec"]["workerGroupSpec"][0]["replicas"] == 1
    assert events[0]["spec"]["clusterSpec"]["workerGroupSpec"][0].get("replicas", 0) == 0


async def test_update_job(
    api: httpx.AsyncClient,
    kube: client.ApiClient,
    namespace: str,
    rpc: Stubs,  # noqa: F811
) -> None:
    await make_template(api, namespace)
    assert (await api.post(f"/apis/v1/namespaces/{namespace}/jobs", json=payloads.job(namespace))).is_success
    suspended = await rpc.jobs.UpdateRayJob(
        job_pb2.UpdateRayJobRequest(name="test-job", namespace=namespace, suspend=True)
    )
    assert suspended.name == "test-job"
    assert (await rayjob(kube, namespace))["spec"]["suspend"] is True
    await rpc.jobs.UpdateRayJob(
        job_pb2.UpdateRayJobRequest(name="test-job", namespace=namespace, suspend=False)
    )
    assert (await rayjob(kube, namespace))["spec"]["suspend"] is False
    nothing = await rpc_error(
        rpc.jobs.UpdateRayJob(job_pb2.UpdateRayJobRequest(name="test-job", namespace=namespace))
    )
    assert nothing.code() == grpc.StatusCode.INVALID_ARGUMENT and "Nothing to update" in nothing.details()
    stale = await rpc_error(
        rpc.jobs.UpdateRayJob(
            job_pb2.UpdateRayJobRequest(
                name="test-job", namespace=namespace, suspend=True, resource_version="1"
            )
        )
    )
    assert stale.code() == grpc.StatusCode.ABORTED
    events = await updates(api, namespace, "test-job", "jobs")
    assert [e["outcome"] for e in events] == ["SUCCESS", "SUCCESS", "FAILURE", "FAILURE"]


async def test_update_compute_template(
    api: httpx.AsyncClient,
    kube: client.ApiClient,
    namespace: str,
    rpc: Stubs,  # noqa: F811
) -> None:
    await make_template(api, namespace)
    request = config_pb2.UpdateComputeTemplateRequest(
        namespace=namespace, name="default-template", cpu_limit=4, node_selector={"pool": "big"}
    )
    json_format.ParseDict(payloads.template(namespace, cpu=3), request.compute_template)
    json_format.ParseDict({"nodeAffinity": {}}, request.affinity)
    updated = await rpc.templates.UpdateComputeTemplate(request)
    assert (updated.cpu, updated.memory) == (3, 4)
    full = (
        await api.get(
            f"/apis/v1/namespaces/{namespace}/compute_templates/default-template",
            params={"extensions": "true"},
        )
    ).json()
    assert (
        full["cpuLimit"] == 4
        and full["nodeSelector"] == {"pool": "big"}
        and full["affinity"] == {"nodeAffinity": {}}
    )
    stale = await rpc_error(
        rpc.templates.UpdateComputeTemplate(
            config_pb2.UpdateComputeTemplateRequest(
                namespace=namespace,
                name="default-template",
                resource_version="1",
                compute_template=config_pb2.ComputeTemplate(name="default-template", cpu=1, memory=1),
            )
        )
    )
    assert stale.code() == grpc.StatusCode.ABORTED
    low = await rpc_error(
        rpc.templates.UpdateComputeTemplate(
            config_pb2.UpdateComputeTemplateRequest(
                namespace=namespace,
                name="default-template",
                cpu_limit=1,
                compute_template=config_pb2.ComputeTemplate(name="default-template", cpu=2, memory=1),
            )
        )
    )
    assert low.code() == grpc.StatusCode.INVALID_ARGUMENT and "cpuLimit (1) is below cpu (2)" in low.details()
    events = await updates(api, namespace, "default-template", "computeTemplates")
    assert [(e["outcome"], e.get("code", 0)) for e in events] == [
        ("SUCCESS", 0),
        ("FAILURE", 10),
        ("FAILURE", 3),
    ]


async def test_update_service_configs(
    api: httpx.AsyncClient,
    kube: client.ApiClient,
    namespace: str,
    rpc: Stubs,  # noqa: F811
) -> None:
    await make_template(api, namespace)
    body = payloads.service(namespace)
    assert (await api.post(f"/apis/v1/namespaces/{namespace}/services", json=body)).is_success
    group = body["clusterSpec"]["workerGroupSpec"][0]["groupName"]
    config = body["serveConfigV2"].replace("num_replicas: 1", "num_replicas: 3")

    def request(**fields: Any) -> serve_pb2.UpdateRayServiceConfigsRequest:
        message = serve_pb2.UpdateRayServiceConfigsRequest(name="test-service", namespace=namespace)
        json_format.ParseDict(fields, message)
        return message

    changed = await rpc.services.UpdateRayServiceConfigs(
        request(
            serveConfigV2=config,
            workerGroupUpdateSpec=[{"groupName": group, "replicas": 0, "minReplicas": 0}],
        )
    )
    assert "num_replicas: 3" in changed.serve_config_V2
    cr = await custom(kube).get_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayservices", "test-service"
    )
    assert "num_replicas: 3" in cr["spec"]["serveConfigV2"]
    assert (
        cr["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] == 0
    )  # zero is a value, not unset

    refused = await rpc_error(
        rpc.services.UpdateRayServiceConfigs(request(workerGroupUpdateSpec=[{"groupName": "nope"}]))
    )
    http = await api.patch(
        f"/apis/v1/namespaces/{namespace}/services/test-service/configs",
        json={"workerGroupUpdateSpec": [{"groupName": "nope"}]},
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert http.json() == {"code": 3, "message": refused.details()}
    stale = await rpc_error(
        rpc.services.UpdateRayServiceConfigs(request(serveConfigV2=config, resourceVersion="1"))
    )
    assert stale.code() == grpc.StatusCode.ABORTED

    events = await updates(api, namespace, "test-service", "services")
    assert [e["outcome"] for e in events] == ["SUCCESS", "FAILURE", "FAILURE", "FAILURE"]
    assert "num_replicas: 1" in events[0]["previous"]["serveConfigV2"]
    assert "num_replicas: 3" in events[0]["spec"]["serveConfigV2"]
