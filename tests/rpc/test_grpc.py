"""The gRPC API against the running service.

Every RPC, errors identical to HTTP's, parity with HTTP (results and audit), reflection, health and the
documented grpcurl examples.
"""

from __future__ import annotations

import copy
import re
import shlex
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
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
from tests.e2e.test_clusters import expected_spec, make_template
from tests.support import processes

pytestmark = pytest.mark.asyncio(loop_scope="session")

M = TypeVar("M", bound=Message)

API_SERVICES = {
    "proto.ClusterService",
    "proto.ComputeTemplateService",
    "proto.RayJobService",
    "proto.RayServeService",
    "proto.RayJobSubmissionService",
}


class Stubs:
    """One stub per service on a shared channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.templates = config_pb2_grpc.ComputeTemplateServiceStub(channel)
        self.clusters = cluster_pb2_grpc.ClusterServiceStub(channel)
        self.jobs = job_pb2_grpc.RayJobServiceStub(channel)
        self.services = serve_pb2_grpc.RayServeServiceStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)
        self.reflection = reflection_pb2_grpc.ServerReflectionStub(channel)


@pytest_asyncio.fixture(loop_scope="session")
async def channel(backend: processes.Service) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{backend.grpc_port}") as opened:
        await opened.channel_ready()
        yield opened


@pytest.fixture
def rpc(channel: grpc.aio.Channel) -> Stubs:
    return Stubs(channel)


@pytest_asyncio.fixture(loop_scope="session")
async def other_namespace(kube: client.ApiClient) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    await client.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    return name


def message(data: dict[str, Any], message_type: type[M]) -> M:
    """A protobuf message from the JSON body an HTTP client would send (enum names allowed)."""
    return json_format.ParseDict(data, message_type())


def as_json(value: Message) -> dict[str, Any]:
    """The message as upstream's gateway would print it: JSON names, enums as numbers."""
    data: dict[str, Any] = json_format.MessageToDict(value, use_integers_for_enums=True)
    return data


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


# -- every RPC --


async def test_compute_templates(rpc: Stubs, api: httpx.AsyncClient, namespace: str) -> None:
    body = payloads.template(
        namespace,
        gpu=1,
        gpuAccelerator="nvidia.com/gpu",
        extendedResources={"vpc.amazonaws.com/efa": 32},
        tolerations=[{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
    )
    template = message(body, config_pb2.ComputeTemplate)
    created = await rpc.templates.CreateComputeTemplate(
        config_pb2.CreateComputeTemplateRequest(compute_template=template, namespace=namespace)
    )
    assert as_json(created) == {**body, "memoryUnit": "Gi"}

    got = await rpc.templates.GetComputeTemplate(
        config_pb2.GetComputeTemplateRequest(name="default-template", namespace=namespace)
    )
    assert got == created
    # The HTTP API sees the same template (plus its audit extension fields, which gRPC does not carry).
    http = (await api.get(f"/apis/v1/namespaces/{namespace}/compute_templates/default-template")).json()
    assert {k: v for k, v in http.items() if k not in ("createdAt", "user", "deletedAt")} == as_json(got)

    await make_template(api, namespace, "second")
    listed = await rpc.templates.ListComputeTemplates(
        config_pb2.ListComputeTemplatesRequest(namespace=namespace)
    )
    assert [t.name for t in listed.compute_templates] == ["default-template", "second"]
    everywhere = await rpc.templates.ListAllComputeTemplates(config_pb2.ListAllComputeTemplatesRequest())
    assert {(t.namespace, t.name) for t in everywhere.compute_templates} >= {
        (namespace, "default-template"),
        (namespace, "second"),
    }

    deleted = await rpc.templates.DeleteComputeTemplate(
        config_pb2.DeleteComputeTemplateRequest(name="second", namespace=namespace)
    )
    assert as_json(deleted) == {}
    missing = await rpc_error(
        rpc.templates.GetComputeTemplate(
            config_pb2.GetComputeTemplateRequest(name="second", namespace=namespace)
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    http_missing = await api.get(f"/apis/v1/namespaces/{namespace}/compute_templates/second")
    assert http_missing.json() == {"code": 5, "message": missing.details()}


async def test_clusters(rpc: Stubs, api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    body = payloads.cluster(namespace)
    created = await rpc.clusters.CreateCluster(
        cluster_pb2.CreateClusterRequest(cluster=message(body, cluster_pb2.Cluster), namespace=namespace)
    )
    data = as_json(created)
    assert (data["name"], data["user"], data["version"]) == ("test-cluster", "3cpo", "2.46.0")
    assert data["clusterSpec"] == expected_spec(body)
    assert created.HasField("created_at") and "ray.io/creation-timestamp" in created.annotations

    got = await rpc.clusters.GetCluster(
        cluster_pb2.GetClusterRequest(name="test-cluster", namespace=namespace)
    )
    assert got.created_at == created.created_at and as_json(got)["clusterSpec"] == expected_spec(body)

    for name in ("c2", "c3"):
        await rpc.clusters.CreateCluster(
            cluster_pb2.CreateClusterRequest(
                cluster=message(payloads.cluster(namespace, name), cluster_pb2.Cluster), namespace=namespace
            )
        )
    names, token = [], ""
    for _ in range(3):
        page = await rpc.clusters.ListCluster(
            cluster_pb2.ListClustersRequest(namespace=namespace, limit=1, **{"continue": token})
        )
        names += [c.name for c in page.clusters]
        token = getattr(page, "continue")
    assert names == ["c2", "c3", "test-cluster"] and token == ""
    whole = await rpc.clusters.ListCluster(cluster_pb2.ListClustersRequest(namespace=namespace))
    assert len(whole.clusters) == 3 and getattr(whole, "continue") == ""
    everywhere = await rpc.clusters.ListAllClusters(cluster_pb2.ListAllClustersRequest())
    assert {c.name for c in everywhere.clusters if c.namespace == namespace} == {"test-cluster", "c2", "c3"}
    first = await rpc.clusters.ListAllClusters(cluster_pb2.ListAllClustersRequest(limit=1))
    assert len(first.clusters) == 1

    await rpc.clusters.DeleteCluster(
        cluster_pb2.DeleteClusterRequest(name="test-cluster", namespace=namespace)
    )
    missing = await rpc_error(
        rpc.clusters.GetCluster(cluster_pb2.GetClusterRequest(name="test-cluster", namespace=namespace))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert missing.details().startswith("Cluster test-cluster not found: Get cluster failed.: NotFoundError:")
    http_missing = await api.get(f"/apis/v1/namespaces/{namespace}/clusters/test-cluster")
    assert http_missing.json() == {"code": 5, "message": missing.details()}
    gone = await rpc_error(
        rpc.clusters.DeleteCluster(cluster_pb2.DeleteClusterRequest(name="test-cluster", namespace=namespace))
    )
    assert gone.code() == grpc.StatusCode.NOT_FOUND


async def test_jobs(rpc: Stubs, api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    body = payloads.job(namespace)
    created = await rpc.jobs.CreateRayJob(
        job_pb2.CreateRayJobRequest(job=message(body, job_pb2.RayJob), namespace=namespace)
    )
    data = as_json(created)
    echoed = "name user entrypoint metadata runtimeEnv shutdownAfterJobFinishes ttlSecondsAfterFinished"
    for key in (*echoed.split(), "activeDeadlineSeconds", "entrypointNumCpus", "entrypointNumGpus"):
        assert data[key] == body[key], key
    assert data["clusterSpec"] == expected_spec(body)

    got = await rpc.jobs.GetRayJob(job_pb2.GetRayJobRequest(name="test-job", namespace=namespace))
    assert got.name == "test-job" and got.created_at == created.created_at

    await rpc.jobs.CreateRayJob(
        job_pb2.CreateRayJobRequest(
            job=message(payloads.job(namespace, "job2"), job_pb2.RayJob), namespace=namespace
        )
    )
    first = await rpc.jobs.ListRayJobs(job_pb2.ListRayJobsRequest(namespace=namespace, limit=1))
    assert len(first.jobs) == 1 and getattr(first, "continue")
    second = await rpc.jobs.ListRayJobs(
        job_pb2.ListRayJobsRequest(namespace=namespace, limit=1, **{"continue": getattr(first, "continue")})
    )
    assert [j.name for j in [*first.jobs, *second.jobs]] == ["job2", "test-job"]
    assert getattr(second, "continue") == ""
    everywhere = await rpc.jobs.ListAllRayJobs(job_pb2.ListAllRayJobsRequest())
    assert {j.name for j in everywhere.jobs if j.namespace == namespace} == {"test-job", "job2"}

    await rpc.jobs.DeleteRayJob(job_pb2.DeleteRayJobRequest(name="test-job", namespace=namespace))
    missing = await rpc_error(
        rpc.jobs.GetRayJob(job_pb2.GetRayJobRequest(name="test-job", namespace=namespace))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND and missing.details().startswith(
        "Job test-job not found"
    )


async def test_services(rpc: Stubs, api: httpx.AsyncClient, kube: client.ApiClient, namespace: str) -> None:
    await make_template(api, namespace)
    body = payloads.service(namespace)
    created = await rpc.services.CreateRayService(
        serve_pb2.CreateRayServiceRequest(service=message(body, serve_pb2.RayService), namespace=namespace)
    )
    data = as_json(created)
    echoed = "name namespace user version serveConfigV2 serviceUnhealthySecondThreshold"
    for key in (*echoed.split(), "deploymentUnhealthySecondThreshold"):
        assert data[key] == body[key], key

    changed = {**body, "serveConfigV2": body["serveConfigV2"].replace("num_replicas: 1", "num_replicas: 2")}
    updated = await rpc.services.UpdateRayService(
        serve_pb2.UpdateRayServiceRequest(
            service=message(changed, serve_pb2.RayService), namespace=namespace, name="test-service"
        )
    )
    assert "num_replicas: 2" in updated.serve_config_V2
    cr = await client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayservices", "test-service"
    )
    assert "num_replicas: 2" in cr["spec"]["serveConfigV2"]
    got = await rpc.services.GetRayService(
        serve_pb2.GetRayServiceRequest(name="test-service", namespace=namespace)
    )
    assert got.serve_config_V2 == updated.serve_config_V2

    for name in ("svc1", "svc2"):
        await rpc.services.CreateRayService(
            serve_pb2.CreateRayServiceRequest(
                service=message(payloads.service(namespace, name), serve_pb2.RayService), namespace=namespace
            )
        )
    names, token = [], ""
    for _ in range(3):
        page = await rpc.services.ListRayServices(
            serve_pb2.ListRayServicesRequest(namespace=namespace, page_size=1, page_token=token)
        )
        names += [s.name for s in page.services]
        token = page.next_page_token
    assert names == ["svc1", "svc2", "test-service"] and token == ""
    everywhere = await rpc.services.ListAllRayServices(serve_pb2.ListAllRayServicesRequest())
    assert {s.name for s in everywhere.services if s.namespace == namespace} == {
        "svc1",
        "svc2",
        "test-service",
    }
    first = await rpc.services.ListAllRayServices(serve_pb2.ListAllRayServicesRequest(page_size=1))
    assert len(first.services) == 1 and first.next_page_token

    await rpc.services.DeleteRayService(
        serve_pb2.DeleteRayServiceRequest(name="test-service", namespace=namespace)
    )
    missing = await rpc_error(
        rpc.services.GetRayService(serve_pb2.GetRayServiceRequest(name="test-service", namespace=namespace))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert missing.details().startswith("Service test-service not found")
    update_missing = await rpc_error(
        rpc.services.UpdateRayService(
            serve_pb2.UpdateRayServiceRequest(
                service=message(body, serve_pb2.RayService), namespace=namespace, name="test-service"
            )
        )
    )
    http_update = await api.put(f"/apis/v1/namespaces/{namespace}/services/test-service", json=body)
    assert http_update.json() == {"code": 5, "message": update_missing.details()}


# -- errors: the same code and message as the HTTP body --


def _changed(body: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    result = copy.deepcopy(body)
    target: Any = result
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return result


# (case, HTTP path segment of the kind, payload factory)
INVALID_CREATES: list[tuple[str, str, Any]] = [
    ("template without cpu", "compute_templates", lambda ns: payloads.template(ns, cpu=0)),
    ("template of another namespace", "compute_templates", lambda ns: payloads.template("elsewhere")),
    (
        "template with a bad memory unit",
        "compute_templates",
        lambda ns: payloads.template(ns, memoryUnit="lots"),
    ),
    ("cluster without body", "clusters", lambda ns: None),
    ("cluster without name", "clusters", lambda ns: _changed(payloads.cluster(ns), "", "name")),
    ("cluster without user", "clusters", lambda ns: _changed(payloads.cluster(ns), "", "user")),
    (
        "cluster worker min > max",
        "clusters",
        lambda ns: _changed(payloads.cluster(ns), 9, "clusterSpec", "workerGroupSpec", 0, "minReplicas"),
    ),
    ("job without name", "jobs", lambda ns: _changed(payloads.job(ns), "", "name")),
    ("job without user", "jobs", lambda ns: _changed(payloads.job(ns), "", "user")),
    ("service without user", "services", lambda ns: _changed(payloads.service(ns), "", "user")),
    (
        "service without serve config",
        "services",
        lambda ns: _changed(payloads.service(ns), "", "serveConfigV2"),
    ),
]


async def create_over_grpc(rpc: Stubs, kind: str, namespace: str, body: dict[str, Any] | None) -> Any:
    """The create RPC of ``kind`` (HTTP path segment) for a JSON body; None sends the request without one."""
    data = body or {}
    if kind == "compute_templates":
        template = message(data, config_pb2.ComputeTemplate) if body is not None else None
        return await rpc.templates.CreateComputeTemplate(
            config_pb2.CreateComputeTemplateRequest(compute_template=template, namespace=namespace)
        )
    if kind == "clusters":
        cluster = message(data, cluster_pb2.Cluster) if body is not None else None
        return await rpc.clusters.CreateCluster(
            cluster_pb2.CreateClusterRequest(cluster=cluster, namespace=namespace)
        )
    if kind == "jobs":
        job = message(data, job_pb2.RayJob) if body is not None else None
        return await rpc.jobs.CreateRayJob(job_pb2.CreateRayJobRequest(job=job, namespace=namespace))
    service = message(data, serve_pb2.RayService) if body is not None else None
    return await rpc.services.CreateRayService(
        serve_pb2.CreateRayServiceRequest(service=service, namespace=namespace)
    )


@pytest.mark.parametrize(("case", "kind", "payload"), INVALID_CREATES, ids=[c[0] for c in INVALID_CREATES])
async def test_invalid_create_matches_http(
    rpc: Stubs, api: httpx.AsyncClient, namespace: str, case: str, kind: str, payload: Any
) -> None:
    await make_template(api, namespace)
    body = payload(namespace)
    error = await rpc_error(create_over_grpc(rpc, kind, namespace, body))
    url = f"/apis/v1/namespaces/{namespace}/{kind}"
    http = await (api.post(url, content=b"") if body is None else api.post(url, json=body))
    assert http.status_code == 400
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert http.json() == {"code": 3, "message": error.details()}


@pytest.mark.parametrize("kind", ["compute_templates", "clusters", "jobs", "services"])
async def test_empty_name_matches_http(rpc: Stubs, api: httpx.AsyncClient, namespace: str, kind: str) -> None:
    get, delete = {
        "compute_templates": (
            lambda: rpc.templates.GetComputeTemplate(
                config_pb2.GetComputeTemplateRequest(namespace=namespace)
            ),
            lambda: rpc.templates.DeleteComputeTemplate(
                config_pb2.DeleteComputeTemplateRequest(namespace=namespace)
            ),
        ),
        "clusters": (
            lambda: rpc.clusters.GetCluster(cluster_pb2.GetClusterRequest(namespace=namespace)),
            lambda: rpc.clusters.DeleteCluster(cluster_pb2.DeleteClusterRequest(namespace=namespace)),
        ),
        "jobs": (
            lambda: rpc.jobs.GetRayJob(job_pb2.GetRayJobRequest(namespace=namespace)),
            lambda: rpc.jobs.DeleteRayJob(job_pb2.DeleteRayJobRequest(namespace=namespace)),
        ),
        "services": (
            lambda: rpc.services.GetRayService(serve_pb2.GetRayServiceRequest(namespace=namespace)),
            lambda: rpc.services.DeleteRayService(serve_pb2.DeleteRayServiceRequest(namespace=namespace)),
        ),
    }[kind]
    url = f"/apis/v1/namespaces/{namespace}/{kind}/"
    for call, http_call in ((get, api.get(url)), (delete, api.delete(url))):
        error = await rpc_error(call())
        http = await http_call
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert http.status_code == 400 and http.json() == {"code": 3, "message": error.details()}
        assert "name is empty" in error.details()


async def test_already_exists_matches_http(rpc: Stubs, api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    for kind, body in (
        ("compute_templates", payloads.template(namespace)),
        ("clusters", payloads.cluster(namespace)),
        ("jobs", payloads.job(namespace)),
        ("services", payloads.service(namespace)),
    ):
        if kind != "compute_templates":
            await create_over_grpc(rpc, kind, namespace, body)
        error = await rpc_error(create_over_grpc(rpc, kind, namespace, body))
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS, kind
        http = await api.post(f"/apis/v1/namespaces/{namespace}/{kind}", json=body)
        assert http.status_code == 409 and http.json() == {"code": 6, "message": error.details()}


@pytest.mark.parametrize("kind", ["clusters", "jobs", "services"])
async def test_missing_template_is_failed_precondition(
    rpc: Stubs, api: httpx.AsyncClient, namespace: str, kind: str
) -> None:
    body = {"clusters": payloads.cluster, "jobs": payloads.job, "services": payloads.service}[kind](namespace)
    error = await rpc_error(create_over_grpc(rpc, kind, namespace, body))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "default-template" in error.details()
    http = await api.post(f"/apis/v1/namespaces/{namespace}/{kind}", json=body)
    assert http.status_code == 400 and http.json() == {"code": 9, "message": error.details()}


async def test_bad_page_token_is_invalid_argument(rpc: Stubs, namespace: str) -> None:
    error = await rpc_error(
        rpc.clusters.ListCluster(
            cluster_pb2.ListClustersRequest(namespace=namespace, **{"continue": "h1.%%%"})
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- parity with HTTP --


def _renamed(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {_renamed(k, old, new): _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value.replace(old, new) if isinstance(value, str) else value


def normalised(data: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A create response without what legitimately differs between two namespaces and two moments."""
    result: dict[str, Any] = _renamed(data, namespace, "<ns>")
    result.pop("createdAt", None)
    result.get("annotations", {}).pop("ray.io/creation-timestamp", None)
    result.get("annotations", {}).pop(
        "ray.io/compute-template-versions", None
    )  # each namespace's own template
    return result


@pytest.mark.parametrize("kind", ["compute_templates", "clusters", "jobs", "services"])
async def test_create_parity_with_http(
    rpc: Stubs, api: httpx.AsyncClient, namespace: str, other_namespace: str, kind: str
) -> None:
    """The same create over HTTP (namespace A) and gRPC (namespace B): same result, same audit event."""
    factory = {
        "compute_templates": lambda ns: payloads.template(ns, name="parity"),
        "clusters": lambda ns: payloads.cluster(ns, name="parity"),
        "jobs": lambda ns: payloads.job(ns, name="parity"),
        "services": lambda ns: payloads.service(ns, name="parity"),
    }[kind]
    http_ns, grpc_ns = namespace, other_namespace
    if kind != "compute_templates":
        await make_template(api, http_ns)
        await make_template(api, grpc_ns)

    over_http = await api.post(f"/apis/v1/namespaces/{http_ns}/{kind}", json=factory(http_ns))
    assert over_http.status_code == 200, over_http.text
    over_grpc = as_json(await create_over_grpc(rpc, kind, grpc_ns, factory(grpc_ns)))
    http_data = over_http.json()
    assert normalised(over_grpc, grpc_ns) == normalised(http_data, http_ns)

    resource = {"compute_templates": "computeTemplates"}.get(kind, kind)
    trails = []
    for ns in (http_ns, grpc_ns):
        audit = await api.get(
            f"/apis/v1/namespaces/{ns}/audit", params={"resource": resource, "name": "parity"}
        )
        assert audit.status_code == 200, audit.text
        events = audit.json()["events"]
        trails.append(
            [(e["action"], e["outcome"], e["resource"], e.get("user", ""), e["name"]) for e in events]
        )
    assert trails[0] == trails[1] and trails[0][0][:3] == ("CREATE", "SUCCESS", resource)


async def test_request_id_and_metrics(rpc: Stubs, api: httpx.AsyncClient, namespace: str) -> None:
    call = rpc.clusters.ListCluster(
        cluster_pb2.ListClustersRequest(namespace=namespace), metadata=(("x-request-id", "trace-me"),)
    )
    await call
    assert dict(await call.initial_metadata())["x-request-id"] == "trace-me"
    metrics = (await api.get("/metrics")).text
    assert 'kuberay_apiserver_requests_total{code="OK",operation="ListCluster",protocol="grpc"}' in metrics


# -- reflection and health --


async def reflect(rpc: Stubs, request: reflection_pb2.ServerReflectionRequest) -> Any:
    """One reflection request, one answer."""

    async def requests() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield request

    (answer,) = [r async for r in rpc.reflection.ServerReflectionInfo(requests())]
    return answer


async def test_reflection_lists_the_services(rpc: Stubs) -> None:
    answer = await reflect(rpc, reflection_pb2.ServerReflectionRequest(list_services=""))
    listed = {s.name for s in answer.list_services_response.service}
    assert listed >= API_SERVICES | {"grpc.health.v1.Health"}
    assert "proto.ImageTemplateService" not in listed  # declared upstream, never registered

    # What grpcurl asks for to describe and call a service.
    answer = await reflect(
        rpc, reflection_pb2.ServerReflectionRequest(file_containing_symbol="proto.RayServeService")
    )
    assert answer.file_descriptor_response.file_descriptor_proto


async def test_health_is_serving(rpc: Stubs) -> None:
    for name in ("", *sorted(API_SERVICES)):
        answer = await rpc.health.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, name


# -- the documented grpcurl examples --

DOCS = Path(__file__).resolve().parents[2] / "docs" / "grpc.md"


def documented_commands() -> list[list[str]]:
    """The grpcurl commands of docs/grpc.md's ```shell blocks, split as a shell would."""
    commands: list[list[str]] = []
    for block in re.findall(r"```shell\n(.*?)```", DOCS.read_text(), flags=re.S):
        for text in re.split(r"\n(?=grpcurl )", block.strip()):
            commands.append(shlex.split(text))
    return commands


async def test_documented_grpcurl_examples_work(
    channel: grpc.aio.Channel, rpc: Stubs, namespace: str
) -> None:
    """Each grpcurl example, replayed with the Python client (grpcurl itself is not needed for the tests)."""
    commands = documented_commands()
    assert len(commands) >= 20 and all(c[0] == "grpcurl" and "-plaintext" in c for c in commands)
    pool = descriptor_pool.Default()
    for number, argv in enumerate(commands, 1):
        args = [a.replace("ray-system", namespace) for a in argv[1:] if a != "-plaintext"]
        metadata, body = [], "{}"
        while args[0].startswith("-"):
            flag, value, args = args[0], args[1], args[2:]
            if flag == "-H":
                key, _, header = value.partition(":")
                metadata.append((key.strip().lower(), header.strip()))
            else:
                assert flag == "-d", argv
                body = value
        assert args[0] == "localhost:31887", argv
        verb = args[1:]
        if verb == ["list"]:
            await test_reflection_lists_the_services(rpc)
            continue
        if verb[0] == "describe":
            answer = await reflect(
                rpc, reflection_pb2.ServerReflectionRequest(file_containing_symbol=verb[1])
            )
            assert answer.file_descriptor_response.file_descriptor_proto, argv
            continue
        service_name, method_name = verb[0].split("/")
        method = pool.FindServiceByName(service_name).FindMethodByName(method_name)
        request_type = message_factory.GetMessageClass(method.input_type)
        response_type = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )
        request = json_format.Parse(body, request_type())
        if number == len(commands):  # the documented error
            error = await rpc_error(call(request, metadata=metadata))
            assert error.code() == grpc.StatusCode.NOT_FOUND
            assert error.details().startswith(
                "Cluster grpc-cluster not found: Get cluster failed.: NotFoundError:"
            )
        else:
            await call(request, metadata=metadata)


def _invalid(text: str) -> str:
    return f"{text}: Invalid input error: {text}"


EMPTY_CASES = [
    # (stub, method, request, upstream's text): the name is checked first, then the namespace.
    (
        "templates",
        "GetComputeTemplate",
        config_pb2.GetComputeTemplateRequest(name="", namespace=""),
        "Compute template name is empty. Please specify a valid value.",
    ),
    (
        "templates",
        "GetComputeTemplate",
        config_pb2.GetComputeTemplateRequest(name="x", namespace=""),
        "Namespace is empty. Please specify a valid value.",
    ),
    (
        "templates",
        "DeleteComputeTemplate",
        config_pb2.DeleteComputeTemplateRequest(name="x", namespace=""),
        "Namespace is empty. Please specify a valid value.",
    ),
    (
        "templates",
        "ListComputeTemplates",
        config_pb2.ListComputeTemplatesRequest(namespace=""),
        "Namespace is empty. Please specify a valid value.",
    ),
    (
        "clusters",
        "GetCluster",
        cluster_pb2.GetClusterRequest(name="", namespace=""),
        "Cluster name is empty. Please specify a valid value.",
    ),
    (
        "clusters",
        "GetCluster",
        cluster_pb2.GetClusterRequest(name="x", namespace=""),
        "Namespace is empty. Please specify a valid value.",
    ),
    (
        "clusters",
        "DeleteCluster",
        cluster_pb2.DeleteClusterRequest(name="x", namespace=""),
        "Namespace is empty. Please specify a valid value.",
    ),
    (
        "clusters",
        "ListCluster",
        cluster_pb2.ListClustersRequest(namespace=""),
        "Namespace is empty. Please specify a valid value.",
    ),
    (
        "jobs",
        "GetRayJob",
        job_pb2.GetRayJobRequest(name="", namespace=""),
        "job name is empty. Please specify a valid value.",
    ),
    (
        "jobs",
        "GetRayJob",
        job_pb2.GetRayJobRequest(name="x", namespace=""),
        "job namespace is empty. Please specify a valid value.",
    ),
    (
        "jobs",
        "DeleteRayJob",
        job_pb2.DeleteRayJobRequest(name="x", namespace=""),
        "job namespace is empty. Please specify a valid value.",
    ),
    (
        "jobs",
        "ListRayJobs",
        job_pb2.ListRayJobsRequest(namespace=""),
        "job namespace is empty. Please specify a valid value.",
    ),
    (
        "services",
        "GetRayService",
        serve_pb2.GetRayServiceRequest(name="", namespace=""),
        "ray service name is empty. Please specify a valid value.",
    ),
    (
        "services",
        "GetRayService",
        serve_pb2.GetRayServiceRequest(name="x", namespace=""),
        "ray service namespace is empty. Please specify a valid value.",
    ),
    (
        "services",
        "DeleteRayService",
        serve_pb2.DeleteRayServiceRequest(name="x", namespace=""),
        "ray service namespace is empty. Please specify a valid value.",
    ),
    (
        "services",
        "ListRayServices",
        serve_pb2.ListRayServicesRequest(namespace=""),
        "ray service namespace is empty. Please specify a valid value.",
    ),
    (
        "services",
        "CreateRayService",
        serve_pb2.CreateRayServiceRequest(namespace="ns"),
        "Service is empty, please input a valid payload.",
    ),
    (
        "services",
        "UpdateRayService",
        serve_pb2.UpdateRayServiceRequest(name="x", namespace="ns"),
        "Service is empty, please input a valid payload.",
    ),
]


@pytest.mark.parametrize(("stub", "method", "request_message", "text"), EMPTY_CASES)
async def test_empty_names_and_namespaces_as_upstream(
    rpc: Stubs, stub: str, method: str, request_message: Message, text: str
) -> None:
    error = await rpc_error(getattr(getattr(rpc, stub), method)(request_message))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, _invalid(text))
