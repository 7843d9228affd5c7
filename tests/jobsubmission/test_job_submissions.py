"""Job submission against real Ray heads: submit, follow the log, list, details, stop, delete; token auth with the
token from the cluster's Secret; a dashboard that never answers; every change audited with its user.

The service runs with proxy authentication (the caller is ``X-Forwarded-User`` from 127.0.0.2) and
``KUBERAY_APISERVER_DASHBOARD_URLS`` pointing clusters named ``plain-*``, ``token-*`` and ``silent-*`` at a plain
head, a head with Ray token authentication, and a socket that accepts connections and never answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config

from service.rpc.proto_gen import job_submission_pb2, job_submission_pb2_grpc
from tests.support import processes
from tests.support.faulty_proxy import FaultyProxy
from tests.support.pod_endpoints import endpoint_address, publish_pod_endpoint
from tests.support.ray_head import RayHead, ray_head
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROXY_ADDRESS = "127.0.0.2"
USER = "ada"
# The service's dashboard timeout in these tests (a first submit on a busy machine takes seconds).
TIMEOUT = 6.0
FOLLOW_SECONDS = 12  # the longest a followed log streams in these tests
PREFIXES = ["/apis/v1", "/apis/v1alpha2"]
# Prints five numbered greetings over about two seconds (the greeting comes from the runtime env).
COUNTING = "python -c \"import os, time\nfor i in range(5):\n    print(os.environ['GREETING'], i, flush=True); time.sleep(0.5)\""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kube_kind" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--kube")
        kinds = ["dev", "real"] if chosen == "all" else [chosen]
        metafunc.parametrize("kube_kind", kinds, scope="module")


@contextlib.contextmanager
def silent_socket() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@pytest.fixture(scope="module")
def heads() -> Iterator[tuple[RayHead, RayHead]]:
    with ray_head() as plain, ray_head(token=secrets.token_hex(24)) as guarded:
        yield plain, guarded


class Served:
    def __init__(self, url: str, grpc_port: int, kubeconfig: Path, log: Any) -> None:
        self.url = url
        self.grpc_port = grpc_port
        self.kubeconfig = kubeconfig
        self.log = log


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest,
    kube_kind: str,
    heads: tuple[RayHead, RayHead],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    plain, guarded = heads
    if kube_kind == "real":
        kubeconfig: Path = request.getfixturevalue("real_kube").kubeconfig
    else:
        kubeconfig = request.getfixturevalue("dev_kubeconfig")
    workdir = tmp_path_factory.mktemp(f"jobsubmission-{kube_kind}")
    with silent_socket() as silent:
        env = {
            "KUBERAY_APISERVER_AUTH": "proxy",
            "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "false",
            "KUBERAY_APISERVER_PROXY_TRUSTED_CIDRS": f"{PROXY_ADDRESS}/32",
            "KUBERAY_APISERVER_DASHBOARD_URLS": (
                f"*/plain-*={plain.url},*/token-*={guarded.url},*/silent-*=http://127.0.0.1:{silent}"
            ),
            "KUBERAY_APISERVER_DASHBOARD_TIMEOUT": str(TIMEOUT),
            "KUBERAY_APISERVER_LOG_POLL_SECONDS": "0.2",
            "KUBERAY_APISERVER_LOG_FOLLOW_SECONDS": str(FOLLOW_SECONDS),
        }
        url = f"sqlite+aiosqlite:///{workdir / 'jobs.db'}"
        with processes.service(workdir, url, kubeconfig, env=env) as running:
            yield Served(running.url, running.grpc_port, kubeconfig, running.log)


@pytest_asyncio.fixture(loop_scope="session")
async def api(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=PROXY_ADDRESS)
    async with httpx.AsyncClient(
        base_url=served.url, transport=transport, headers={"X-Forwarded-User": USER}, timeout=30
    ) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def kube(served: Served) -> AsyncIterator[client.ApiClient]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(served.kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api_client:
        with contextlib.suppress(client.ApiException):  # the real cluster: the caller may do anything
            await client.RbacAuthorizationV1Api(api_client).create_cluster_role_binding(
                {
                    "metadata": {"name": f"{USER}-admin"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
                }
            )
        yield api_client


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(kube: client.ApiClient) -> str:
    name = f"js-{uuid.uuid4().hex[:10]}"
    await client.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    return name


async def make_cluster(
    kube: client.ApiClient, namespace: str, name: str, state: str = "ready", auth: bool = False
) -> None:
    """A RayCluster as kubectl would make it (the operator would then set its state)."""
    spec: dict[str, Any] = {
        "rayVersion": "2.60.0",
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}},
        },
    }
    if auth:
        spec["authOptions"] = {"mode": "token"}
    custom = client.CustomObjectsApi(kube)
    body = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": name}, "spec": spec}
    await custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    if state:
        await custom.patch_namespaced_custom_object_status(
            "ray.io",
            "v1",
            namespace,
            "rayclusters",
            name,
            {"status": {"state": state}},
            _content_type="application/merge-patch+json",
        )


def root(namespace: str, cluster: str, prefix: str = "/apis/v1") -> str:
    return f"{prefix}/namespaces/{namespace}/jobsubmissions/{cluster}"


async def submit(api: httpx.AsyncClient, path: str, **body: Any) -> str:
    response = await api.post(path, json=body)
    assert response.status_code == 200, response.text
    submission_id: str = response.json()["submissionId"]
    return submission_id


async def follow(api: httpx.AsyncClient, path: str) -> tuple[list[str], str, float]:
    """The data lines of a followed log, its end event, and the seconds until the first line."""
    lines: list[str] = []
    end, first, started, event = "", 0.0, time.monotonic(), ""
    async with api.stream("GET", path, params={"follow": "true"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data = line[len("data:") :].removeprefix(" ")
                if event == "end":
                    end = data
                else:
                    lines.append(data)
                    first = first or time.monotonic() - started
            elif not line:
                event = ""
    return lines, end, first


async def test_submit_follow_list_and_details(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_cluster(kube, namespace, "plain-a")
    for prefix in PREFIXES:
        base = root(namespace, "plain-a", prefix)
        submission = await submit(
            api,
            base,
            entrypoint=COUNTING,
            runtime_env="env_vars:\n  GREETING: hello\n",  # snake_case accepted
            metadata={"team": "blue"},
        )
        assert submission.startswith("raysubmit_")
        lines, end, _ = await follow(api, f"{base}/log/{submission}")
        assert end == "SUCCEEDED"
        assert [line for line in lines if line.startswith("hello")] == [f"hello {i}" for i in range(5)]

        details = await api.get(f"{base}/{submission}")
        assert details.status_code == 200, details.text
        info = details.json()
        assert info["submissionId"] == submission and info["status"] == "SUCCEEDED"
        assert info["entrypoint"] == COUNTING
        assert info["metadata"] == {"team": "blue"}
        assert info["runtimeEnv"]["env_vars"] == "map[GREETING:hello]"
        assert isinstance(info["startTime"], str) and int(info["endTime"]) >= int(info["startTime"]) > 0

        log = await api.get(f"{base}/log/{submission}")
        assert log.status_code == 200 and "hello 4\n" in log.json()["log"]

        listed = await api.get(base)
        assert listed.status_code == 200
        assert submission in [item["submissionId"] for item in listed.json()["submissions"]]


async def test_stop_and_delete(api: httpx.AsyncClient, kube: client.ApiClient, namespace: str) -> None:
    await make_cluster(kube, namespace, "plain-b")
    base = root(namespace, "plain-b")
    job = f"long-{uuid.uuid4().hex[:6]}"
    assert await submit(api, base, entrypoint="sleep 600", submissionId=job) == job

    again = await api.post(base, json={"entrypoint": "true", "submissionId": job})
    assert again.status_code == 409 and again.json()["code"] == 6, again.text

    async def running() -> None:
        response = await api.get(f"{base}/{job}")
        assert response.json()["status"] == "RUNNING", response.text

    await eventually(running, 60)
    # Following a job that does not end stops at the server's bound, saying so.
    started = time.monotonic()
    _, end, _ = await follow(api, f"{base}/log/{job}")
    assert end.startswith(f"TIMEOUT after {FOLLOW_SECONDS}s (the job is RUNNING"), end
    assert FOLLOW_SECONDS - 1 < time.monotonic() - started < FOLLOW_SECONDS + 10
    busy = await api.delete(f"{base}/{job}")
    assert busy.status_code == 400 and busy.json()["code"] == 9, busy.text
    stopped = await api.post(f"{base}/{job}")
    assert stopped.status_code == 200 and stopped.json() == {}, stopped.text

    async def is_stopped() -> None:
        assert (await api.get(f"{base}/{job}")).json()["status"] == "STOPPED"

    await eventually(is_stopped, 30)
    # Stopping a finished job again is fine (as upstream).
    assert (await api.post(f"{base}/{job}")).status_code == 200
    deleted = await api.delete(f"{base}/{job}")
    assert deleted.status_code == 200 and deleted.json() == {}, deleted.text
    gone = await api.get(f"{base}/{job}")
    assert gone.status_code == 404 and gone.json() == {
        "code": 5,
        "message": f"Job {job} does not exist on the cluster",
    }


async def test_errors_say_what_to_fix(api: httpx.AsyncClient, kube: client.ApiClient, namespace: str) -> None:
    missing = await api.post(root(namespace, "plain-nothere"), json={"entrypoint": "true"})
    assert missing.status_code == 404 and missing.json()["code"] == 5
    assert "Cluster plain-nothere not found" in missing.json()["message"]

    await make_cluster(kube, namespace, "plain-young", state="")
    young = await api.post(root(namespace, "plain-young"), json={"entrypoint": "true"})
    assert young.status_code == 400 and young.json()["code"] == 9
    assert "cluster is not ready" in young.json()["message"]

    await make_cluster(kube, namespace, "plain-c")
    base = root(namespace, "plain-c")
    cases = [
        ({}, "Entrypoint is empty"),
        ({"entrypoint": "true", "runtimeEnv": "pip: [unclosed"}, "runtimeEnv is not valid YAML"),
        ({"entrypoint": "true", "runtimeEnv": "- a list"}, "runtimeEnv must be a YAML mapping"),
        ({"entrypoint": "true", "entrypointResources": {"gadget": "lots"}}, "entrypointResources"),
    ]
    for body, text in cases:
        response = await api.post(base, json=body)
        assert response.status_code == 400 and response.json()["code"] == 3, response.text
        assert text in response.json()["message"]
    for path in (f"{base}/nope-1234567", f"{base}/log/nope-1234567"):
        response = await api.get(path)
        assert response.status_code == 404 and response.json()["code"] == 5, response.text
    for response in (await api.post(f"{base}/nope-1234567"), await api.delete(f"{base}/nope-1234567")):
        assert response.status_code == 404 and response.json()["code"] == 5, response.text


async def test_token_auth_with_the_clusters_secret(
    api: httpx.AsyncClient,
    kube: client.ApiClient,
    namespace: str,
    heads: tuple[RayHead, RayHead],
    served: Served,
) -> None:
    token = heads[1].token
    await make_cluster(kube, namespace, "token-a", auth=True)
    base = root(namespace, "token-a")
    no_secret = await api.get(base)
    assert no_secret.status_code == 400 and no_secret.json()["code"] == 9
    assert f"Secret {namespace}/token-a does not exist" in no_secret.json()["message"]

    core = client.CoreV1Api(kube)
    secret = {
        "metadata": {"name": "token-a"},
        "data": {"auth_token": base64.b64encode(b"wrong" * 8).decode()},
    }
    await core.create_namespaced_secret(namespace, secret)
    refused = await api.get(base)
    assert refused.status_code == 400 and refused.json()["code"] == 9, refused.text
    assert "token" in refused.json()["message"]

    # As the operator keeps it: key auth_token, in a Secret named after the cluster.
    secret["data"] = {"auth_token": base64.b64encode(token.encode()).decode()}
    await core.replace_namespaced_secret("token-a", namespace, secret)
    submission = await submit(api, base, entrypoint="echo guarded")
    lines, end, _ = await follow(api, f"{base}/log/{submission}")
    assert end == "SUCCEEDED" and "guarded" in lines
    listed = await api.get(base)
    assert listed.status_code == 200 and token not in listed.text
    assert token not in served.log()


async def test_a_dashboard_that_never_answers_is_503(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_cluster(kube, namespace, "silent-a")
    for call in (
        api.get(root(namespace, "silent-a")),
        api.post(root(namespace, "silent-a"), json={"entrypoint": "true"}),
    ):
        started = time.monotonic()
        response = await call
        elapsed = time.monotonic() - started
        assert response.status_code == 503 and response.json()["code"] == 14, response.text
        assert f"did not answer within {TIMEOUT:g}s" in response.json()["message"]
        assert elapsed < TIMEOUT + 3


async def test_changes_are_audited_with_their_user(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_cluster(kube, namespace, "plain-d")
    base = root(namespace, "plain-d")
    job = f"audited-{uuid.uuid4().hex[:6]}"
    await submit(api, base, entrypoint="sleep 600", submissionId=job)
    assert (await api.post(f"{base}/{job}")).status_code == 200

    async def stopped() -> None:
        assert (await api.get(f"{base}/{job}")).json()["status"] == "STOPPED"

    await eventually(stopped, 60)
    assert (await api.delete(f"{base}/{job}")).status_code == 200
    assert (await api.post(base, json={})).status_code == 400  # refused: audited as a failure

    response = await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"resource": "jobSubmissions"})
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    mine = [
        (e["action"], e["name"], e["outcome"], e["user"]) for e in events if e["name"] == f"plain-d/{job}"
    ]
    assert mine == [
        ("DELETE", f"plain-d/{job}", "SUCCESS", USER),
        ("STOP", f"plain-d/{job}", "SUCCESS", USER),
        ("CREATE", f"plain-d/{job}", "SUCCESS", USER),
    ]
    refused = [e for e in events if e["name"].startswith("plain-d/raysubmit_")]
    assert [(e["action"], e["outcome"], e["code"], e["user"]) for e in refused] == [
        ("CREATE", "FAILURE", 3, USER)
    ]


async def test_grpc_submit_details_log_list_stop_delete(
    kube: client.ApiClient, namespace: str, served: Served
) -> None:
    await make_cluster(kube, namespace, "plain-g")
    metadata = (("x-forwarded-user", USER),)
    # The proxy's metadata counts only from the proxy's address: connect through a forwarder from there.
    proxy = FaultyProxy("127.0.0.1", served.grpc_port, source_host=PROXY_ADDRESS).start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            stub = job_submission_pb2_grpc.RayJobSubmissionServiceStub(channel)
            reply = await stub.SubmitRayJob(
                job_submission_pb2.SubmitRayJobRequest(
                    namespace=namespace,
                    clustername="plain-g",
                    jobsubmission=job_submission_pb2.RayJobSubmission(
                        entrypoint="echo over-grpc", entrypoint_num_cpus=0.5
                    ),
                ),
                metadata=metadata,
            )
            ids = {"namespace": namespace, "clustername": "plain-g", "submissionid": reply.submission_id}

            async def finished() -> job_submission_pb2.JobSubmissionInfo:
                info = await stub.GetJobDetails(
                    job_submission_pb2.GetJobDetailsRequest(**ids), metadata=metadata
                )
                assert info.status == "SUCCEEDED", info
                return info

            info = await eventually(finished, 60)
            assert info.entrypoint == "echo over-grpc" and info.start_time > 0
            log = await stub.GetJobLog(job_submission_pb2.GetJobLogRequest(**ids), metadata=metadata)
            assert "over-grpc" in log.log
            listed = await stub.ListJobDetails(
                job_submission_pb2.ListJobDetailsRequest(namespace=namespace, clustername="plain-g"),
                metadata=metadata,
            )
            assert reply.submission_id in [item.submission_id for item in listed.submissions]
            await stub.StopRayJob(job_submission_pb2.StopRayJobSubmissionRequest(**ids), metadata=metadata)
            await stub.DeleteRayJob(
                job_submission_pb2.DeleteRayJobSubmissionRequest(**ids), metadata=metadata
            )
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await stub.GetJobDetails(job_submission_pb2.GetJobDetailsRequest(**ids), metadata=metadata)
            assert gone.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                await stub.StopRayJob(job_submission_pb2.StopRayJobSubmissionRequest(**ids))
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        proxy.stop()


async def test_an_interrupted_submit_is_settled_as_outcome_unknown(
    dev_kubeconfig: Path, tmp_path: Path
) -> None:
    """The service dies while the dashboard has not answered: the event stays PENDING, and the reconciler of the
    next start settles it as a failure that says the job may have been submitted."""
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(dev_kubeconfig), client_configuration=cfg)
    namespace = f"js-{uuid.uuid4().hex[:10]}"
    async with client.ApiClient(configuration=cfg) as kube:
        await client.CoreV1Api(kube).create_namespace({"metadata": {"name": namespace}})
        await make_cluster(kube, namespace, "silent-x")
    url = f"sqlite+aiosqlite:///{tmp_path / 'interrupted.db'}"
    with silent_socket() as silent:
        env = {
            "KUBERAY_APISERVER_DASHBOARD_URLS": f"*/*=http://127.0.0.1:{silent}",
            "KUBERAY_APISERVER_DASHBOARD_TIMEOUT": "30",
            "KUBERAY_APISERVER_REQUEST_TIMEOUT": "40",
        }
        running = processes.start_service(tmp_path, url, dev_kubeconfig, False, env=env)
        try:
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
                pending = asyncio.create_task(
                    http.post(
                        root(namespace, "silent-x"), json={"entrypoint": "true", "submissionId": "lost"}
                    )
                )

                async def announced() -> None:
                    events = (await http.get(f"/apis/v1/namespaces/{namespace}/audit")).json()["events"]
                    assert [(e["name"], e["outcome"]) for e in events] == [("silent-x/lost", "PENDING")]

                await eventually(announced, 20)
                running.process.kill()  # no time to settle anything
                running.process.wait()
                with contextlib.suppress(httpx.HTTPError):
                    await pending
        finally:
            processes.stop(running.process)
    # Rows older than request + Kubernetes timeouts are judged: 2 s here.
    quick = {
        "KUBERAY_APISERVER_REQUEST_TIMEOUT": "1",
        "KUBERAY_APISERVER_KUBE_TIMEOUT": "1",
        "KUBERAY_APISERVER_RECONCILE_INTERVAL": "1",
    }
    with processes.service(tmp_path, url, dev_kubeconfig, False, env=quick) as again:
        async with httpx.AsyncClient(base_url=again.url, timeout=30) as http:

            async def settled() -> dict[str, Any]:
                (event,) = (await http.get(f"/apis/v1/namespaces/{namespace}/audit")).json()["events"]
                assert event["outcome"] == "FAILURE"
                return event

            event = await eventually(settled, 20)
            assert event["code"] == 2 and event["message"].startswith("outcome unknown")
            assert event["action"] == "CREATE" and event["resource"] == "jobSubmissions"


@contextlib.contextmanager
def reachable_by_kubernetes(head: RayHead, kube_kind: str) -> Iterator[int]:
    """The port where the Kubernetes API's service proxy reaches ``head``'s dashboard: on the dev cluster its own
    (that proxy goes to 127.0.0.1); for kube-apiserver, which proxies only to pods' addresses and never to
    loopback, a forwarder on this machine's network address."""
    port = int(head.url.rstrip("/").rsplit(":", 1)[1])
    if kube_kind == "dev":
        yield port
        return
    forwarder = FaultyProxy("127.0.0.1", port, listen_host=endpoint_address()).start()
    try:
        yield forwarder.port
    finally:
        forwarder.stop()


async def test_without_an_override_the_kubernetes_service_proxy_is_used(
    api: httpx.AsyncClient,
    kube: client.ApiClient,
    namespace: str,
    kube_kind: str,
    heads: tuple[RayHead, RayHead],
) -> None:
    """No ``DASHBOARD_URLS`` entry matches ``viaproxy-*`` and the service is not in a pod: the head service is
    reached through the Kubernetes API's service proxy, by its ``dashboard`` port; on the real kube-apiserver the
    head service's endpoint is a head pod at this machine's address, as the endpoints controller would write it.
    With token authentication the token from the cluster's Secret passes that proxy (as X-Ray-Authorization)."""
    plain, guarded = heads
    core = client.CoreV1Api(kube)
    for cluster, head in (("viaproxy-a", plain), ("viaproxy-t", guarded)):
        with reachable_by_kubernetes(head, kube_kind) as port:
            await make_cluster(kube, namespace, cluster, auth=bool(head.token))
            if head.token:
                secret = {"auth_token": base64.b64encode(head.token.encode()).decode()}
                await core.create_namespaced_secret(
                    namespace, {"metadata": {"name": cluster}, "data": secret}
                )
            service = f"{cluster}-head-svc"
            await core.create_namespaced_service(
                namespace,
                {
                    "metadata": {"name": service, "labels": {"app.kubernetes.io/name": "kuberay"}},
                    "spec": {"ports": [{"name": "dashboard", "port": port}]},
                },
            )
            if kube_kind == "real":
                await publish_pod_endpoint(
                    kube, namespace, service, endpoint_address(), port, pod=f"{cluster}-head"
                )
            base = root(namespace, cluster)
            submission = await submit(
                api, base, entrypoint=COUNTING, runtimeEnv=f"env_vars:\n  GREETING: {cluster}\n"
            )
            lines, end, _ = await follow(api, f"{base}/log/{submission}")
            assert end == "SUCCEEDED", (cluster, end, lines)
            assert [line for line in lines if line.startswith(cluster)] == [
                f"{cluster} {i}" for i in range(5)
            ]
            details = await api.get(f"{base}/{submission}")
            assert details.status_code == 200 and details.json()["status"] == "SUCCEEDED", details.text


async def test_an_unreachable_head_is_503_saying_why(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, kube_kind: str
) -> None:
    """Kubernetes' own answers through its proxy are 503 saying why, never taken for the dashboard's: no head
    service; a head pod still starting (only on kube-apiserver: the dev cluster has no endpoints); a head pod that
    does not listen."""
    with socket.socket() as free:
        free.bind(("0.0.0.0", 0))
        port = free.getsockname()[1]
    cases = {
        "viaproxy-nosvc": "Kubernetes found no service viaproxy-nosvc-head-svc:dashboard",
        "viaproxy-dead": "cannot be reached through the Kubernetes API's proxy to service",
    }
    if kube_kind == "real":
        cases["viaproxy-starting"] = (
            "has no running head pod behind service viaproxy-starting-head-svc:dashboard"
        )
    for cluster, said in cases.items():
        await make_cluster(kube, namespace, cluster)
        service = f"{cluster}-head-svc"
        if cluster != "viaproxy-nosvc":
            await client.CoreV1Api(kube).create_namespaced_service(
                namespace,
                {"metadata": {"name": service}, "spec": {"ports": [{"name": "dashboard", "port": port}]}},
            )
        if cluster != "viaproxy-nosvc" and kube_kind == "real":
            ready = cluster == "viaproxy-dead"
            await publish_pod_endpoint(kube, namespace, service, endpoint_address(), port, ready=ready)
        refused = await api.post(root(namespace, cluster), json={"entrypoint": "echo hi"})
        assert refused.status_code == 503 and refused.json()["code"] == 14, refused.text
        assert said in refused.json()["message"], refused.text
        if cluster == "viaproxy-dead":
            assert "error trying to reach service" in refused.json()["message"], refused.text
        listed = await api.get(root(namespace, cluster))
        assert listed.status_code == 503 and said in listed.json()["message"], listed.text
