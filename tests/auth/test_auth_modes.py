"""Authentication and authorization on a real kube-apiserver, in every mode: callers act with their own RBAC
(impersonation), refusals are 401/403 and change nothing, and the audit trail records who really called.

alice may edit Ray resources in team-a only; bob may only read team-b. The service runs as the chart's
ServiceAccount with the chart's rules (including the identity ones: impersonate, token and access reviews).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from service.rpc.proto_gen import cluster_pb2, cluster_pb2_grpc
from tests.conftest import SERVICE_USER
from tests.e2e import payloads
from tests.kubeapi.test_service_on_real import kubectl, render
from tests.support import processes
from tests.support.kube_apiserver import RealKubeApiServer
from tests.support.oidc_issuer import Issuer, oidc_issuer

pytestmark = pytest.mark.kubeapi

AUDIENCE = "kuberay-apiserver"
GROUPS = {"alice": ["ray-devs"], "bob": ["ray-viewers"]}
PROXY_ADDRESS = "127.0.0.2"  # the "proxy" connects from here; everyone else from 127.0.0.1


@dataclass
class World:
    team_a: str
    team_b: str
    robot_token: str


def _role(namespace: str, name: str, verbs: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": [
            {"apiGroups": ["ray.io"], "resources": ["rayclusters", "rayjobs", "rayservices"], "verbs": verbs},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["list"]},
        ],
    }


def _binding(namespace: str, role: str, subject: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"{role}-{subject['name']}", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [subject],
    }


def _apply(kube: RealKubeApiServer, *items: dict[str, Any]) -> None:
    kubectl(
        kube, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})
    )


@pytest.fixture(scope="module")
def world(real_kube: RealKubeApiServer) -> World:
    suffix = uuid.uuid4().hex[:6]
    team_a, team_b = f"team-a-{suffix}", f"team-b-{suffix}"
    for namespace in (team_a, team_b):
        kubectl(real_kube, "create", "namespace", namespace)
    editor = ["get", "list", "watch", "create", "update", "patch", "delete"]
    user = "rbac.authorization.k8s.io"
    _apply(
        real_kube,
        *[doc for doc in render() if doc["kind"] in ("ClusterRole", "ClusterRoleBinding")],
        _role(team_a, "ray-editor", editor),
        _role(team_b, "ray-viewer", ["get", "list", "watch"]),
        _binding(team_a, "ray-editor", {"kind": "User", "name": "alice", "apiGroup": user}),
        _binding(team_b, "ray-viewer", {"kind": "User", "name": "bob", "apiGroup": user}),
        _binding(team_a, "ray-editor", {"kind": "ServiceAccount", "name": "robot", "namespace": team_a}),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": team_a}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "default-template",
                "namespace": team_b,
                "labels": {
                    "ray.io/config-type": "compute-template",
                    "ray.io/compute-template": "default-template",
                },
            },
            "data": {
                "name": "default-template",
                "namespace": team_b,
                "cpu": "2",
                "memory": "4",
                "memory_unit": "Gi",
            },
        },
    )
    robot = kubectl(real_kube, "create", "token", "robot", "-n", team_a).strip()
    return World(team_a=team_a, team_b=team_b, robot_token=robot)


@dataclass
class Served:
    mode: str
    url: str
    grpc_port: int
    kube: RealKubeApiServer
    issuer: Issuer | None = None
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def credentials(self, user: str) -> tuple[dict[str, str], str | None]:
        if self.mode == "token":
            return {"Authorization": f"Bearer {self.kube.token_for(user)}"}, None
        if self.mode == "oidc":
            assert self.issuer is not None
            return {"Authorization": f"Bearer {self.issuer.token(user, AUDIENCE, GROUPS[user])}"}, None
        return {"X-Forwarded-User": user, "X-Forwarded-Groups": ",".join(GROUPS[user])}, PROXY_ADDRESS

    def client(
        self, user: str | None, headers: dict[str, str] | None = None, address: str | None = None
    ) -> httpx.Client:
        if user is not None:
            headers, address = self.credentials(user)
        transport = httpx.HTTPTransport(local_address=address) if address else None
        opened = httpx.Client(base_url=self.url, headers=headers or {}, transport=transport, timeout=30)
        self.clients[f"{len(self.clients)}"] = opened
        return opened

    def bad_clients(self) -> list[httpx.Client]:
        """Credentials that must not pass: garbage, and each mode's near misses."""
        if self.mode == "token":
            return [
                self.client(None, {"Authorization": "Bearer not-a-token"}),
                self.client(None, {"Authorization": "Basic YWxpY2U6eA=="}),
            ]
        if self.mode == "oidc":
            assert self.issuer is not None
            other = Issuer()  # a key the issuer never published
            return [
                self.client(None, {"Authorization": f"Bearer {other.token('alice', AUDIENCE)}"}),
                self.client(
                    None, {"Authorization": f"Bearer {self.issuer.token('alice', 'another-audience')}"}
                ),
                self.client(None, {"Authorization": f"Bearer {self.issuer.token('alice', AUDIENCE, exp=1)}"}),
            ]
        # The proxy's headers from anywhere but the proxy are anyone's claim.
        return [self.client(None, {"X-Forwarded-User": "alice"}, "127.0.0.1")]


@pytest.fixture(scope="module", params=["token", "oidc", "proxy"])
def served(
    request: pytest.FixtureRequest,
    real_kube: RealKubeApiServer,
    world: World,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    mode = request.param
    workdir = tmp_path_factory.mktemp(f"auth-{mode}")
    env = {"KUBERAY_APISERVER_AUTH": mode, "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "false"}
    with oidc_issuer() as issuer:
        if mode == "oidc":
            env |= {"KUBERAY_APISERVER_OIDC_ISSUER": issuer.url, "KUBERAY_APISERVER_OIDC_AUDIENCE": AUDIENCE}
        if mode == "proxy":
            env |= {"KUBERAY_APISERVER_PROXY_TRUSTED_CIDRS": f"{PROXY_ADDRESS}/32"}
        url = f"sqlite+aiosqlite:///{workdir / 'auth.db'}"
        with processes.service(workdir, url, real_kube.kubeconfig_for(SERVICE_USER), env=env) as running:
            served = Served(
                mode, running.url, running.grpc_port, real_kube, issuer if mode == "oidc" else None
            )
            try:
                yield served
            finally:
                for opened in served.clients.values():
                    opened.close()


def _audit(served: Served, namespace: str, **params: str) -> list[dict[str, Any]]:
    """The trail of a namespace, read as alice (who may read team-a's)."""
    response = served.client("alice").get(f"/apis/v1/namespaces/{namespace}/audit", params=params)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_no_or_bad_credentials_are_401_and_audited(served: Served, world: World) -> None:
    anonymous = served.client(None)
    for client in (anonymous, *served.bad_clients()):
        listed = client.get(f"/apis/v1/namespaces/{world.team_a}/clusters")
        assert listed.status_code == 401 and listed.json()["code"] == 16, listed.text
        assert served.mode in listed.json()["message"]
        created = client.post(
            f"/apis/v1/namespaces/{world.team_a}/compute_templates",
            json=payloads.template(world.team_a, "intruder"),
        )
        assert created.status_code == 401 and created.headers["www-authenticate"].startswith("Bearer")
    assert (
        served.client("alice")
        .get(f"/apis/v1/namespaces/{world.team_a}/compute_templates/intruder")
        .status_code
        == 404
    )
    # Refused changes are audited (the body of an unauthenticated request is not read: no name for a create).
    refused = [
        e
        for e in _audit(served, world.team_a, outcome="FAILURE", resource="computeTemplates")
        if e["code"] == 16
    ]
    assert len(refused) == 1 + len(served.bad_clients())
    assert {(e["action"], e.get("user", ""), e["sourceIp"]) for e in refused} <= {
        ("CREATE", "", "127.0.0.1"),
        ("CREATE", "", PROXY_ADDRESS),
    }
    # Health, the API document and metrics stay open.
    for path in ("/healthz", "/readyz", "/schema/openapi.json", "/metrics"):
        assert anonymous.get(path).status_code == 200, path


def test_alice_works_in_her_namespace_as_herself(served: Served, world: World) -> None:
    alice = served.client("alice")
    base = f"/apis/v1/namespaces/{world.team_a}"
    template = payloads.template(world.team_a, f"tpl-{served.mode}")
    assert alice.post(f"{base}/compute_templates", json=template).status_code == 200
    body = {**payloads.cluster(world.team_a, f"c-{served.mode}", template["name"]), "user": "mallory"}
    created = alice.post(f"{base}/clusters", json=body)
    assert created.status_code == 200, created.text
    assert created.json()["user"] == "alice"
    assert [c["name"] for c in alice.get(f"{base}/clusters").json()["clusters"]] == [f"c-{served.mode}"]
    assert alice.get(f"{base}/clusters/c-{served.mode}").status_code == 200
    assert alice.delete(f"{base}/clusters/c-{served.mode}").status_code == 200
    events = _audit(served, world.team_a, name=f"c-{served.mode}")
    assert [(e["action"], e["outcome"], e["user"], e["authMethod"]) for e in events] == [
        ("DELETE", "SUCCESS", "alice", served.mode),
        ("CREATE", "SUCCESS", "alice", served.mode),
    ]
    create = events[1]
    assert create["requestedUser"] == "mallory"  # what the body claimed, kept apart from who called
    assert create["sourceIp"] == (PROXY_ADDRESS if served.mode == "proxy" else "127.0.0.1")
    assert create["userAgent"].startswith("python-httpx")
    if served.mode != "token":  # TokenReview adds system:authenticated; the others carry what the caller gave
        assert create["groups"] == GROUPS["alice"]
    else:
        assert "ray-devs" in create["groups"]


def test_alice_is_refused_elsewhere_and_nothing_changes(
    served: Served, world: World, real_kube: RealKubeApiServer
) -> None:
    alice = served.client("alice")
    base = f"/apis/v1/namespaces/{world.team_b}"
    refused = alice.post(f"{base}/compute_templates", json=payloads.template(world.team_b, "alice-was-here"))
    assert refused.status_code == 403 and refused.json()["code"] == 7, refused.text
    assert f"namespace {world.team_b}" in refused.json()["message"]
    assert "system:serviceaccount" not in refused.text  # nor the service's own identity
    cluster = alice.post(f"{base}/clusters", json=payloads.cluster(world.team_b, "alice-cluster"))
    assert cluster.status_code == 403
    assert alice.get(f"{base}/clusters").status_code == 403
    assert alice.delete(f"{base}/compute_templates/default-template").status_code == 403
    found = real_kube.kubectl("get", "configmap", "alice-was-here", "-n", world.team_b)
    assert found.returncode != 0
    assert real_kube.kubectl("get", "configmap", "default-template", "-n", world.team_b).returncode == 0
    # alice may not read team-b's trail; bob may, and finds her refused changes there with their code.
    assert alice.get(f"/apis/v1/namespaces/{world.team_b}/audit").status_code == 403
    trail = served.client("bob").get(f"{base}/audit", params={"user": "alice"}).json()["events"]
    assert {(e["name"], e["outcome"], e["code"]) for e in trail} >= {
        ("alice-was-here", "FAILURE", 7),
        ("alice-cluster", "FAILURE", 7),
    }


def test_bob_reads_team_b_and_writes_nothing(served: Served, world: World) -> None:
    bob = served.client("bob")
    base = f"/apis/v1/namespaces/{world.team_b}"
    assert bob.get(f"{base}/compute_templates").status_code == 200
    assert [t["name"] for t in bob.get(f"{base}/compute_templates").json()["computeTemplates"]] == [
        "default-template"
    ]
    assert bob.get(f"{base}/clusters").status_code == 200
    refused = bob.post(f"{base}/clusters", json=payloads.cluster(world.team_b, "bob-cluster"))
    assert refused.status_code == 403 and refused.json()["code"] == 7
    assert bob.delete(f"{base}/compute_templates/default-template").status_code == 403
    assert bob.get(f"/apis/v1/namespaces/{world.team_a}/clusters").status_code == 403
    # bob reads team-b's trail (he may list its clusters), which shows his refused change.
    trail = bob.get(f"{base}/audit", params={"name": "bob-cluster"}).json()["events"]
    assert [(e["user"], e["outcome"], e["code"]) for e in trail] == [("bob", "FAILURE", 7)]


def test_audit_shows_each_caller_only_their_namespaces(served: Served, world: World) -> None:
    alice, bob = served.client("alice"), served.client("bob")
    everything = alice.get("/apis/v1/audit", params={"pageSize": 1000}).json()["events"]
    assert everything and {e["namespace"] for e in everything} == {world.team_a}
    theirs = bob.get("/apis/v1/audit", params={"pageSize": 1000}).json()["events"]
    assert {e["namespace"] for e in theirs} <= {world.team_b}
    assert alice.get(f"/apis/v1/namespaces/{world.team_b}/audit").status_code == 403
    # One event by id: only where the caller may read.
    event_id = everything[0]["id"]
    assert alice.get(f"/apis/v1/audit/{event_id}").status_code == 200
    assert bob.get(f"/apis/v1/audit/{event_id}").status_code == 404


def test_grpc_uses_the_same_credentials(served: Served, world: World) -> None:
    asyncio.run(_grpc_matrix(served, world))


async def _grpc_matrix(served: Served, world: World) -> None:
    headers, address = served.credentials("alice")
    metadata = tuple((k.lower(), v) for k, v in headers.items())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = cluster_pb2_grpc.ClusterServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.ListCluster(cluster_pb2.ListClustersRequest(namespace=world.team_a))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
        if address:
            # This channel comes from 127.0.0.1, not the proxy's address: its metadata is anyone's claim.
            with pytest.raises(grpc.aio.AioRpcError) as untrusted:
                await stub.ListCluster(
                    cluster_pb2.ListClustersRequest(namespace=world.team_a), metadata=metadata
                )
            assert untrusted.value.code() == grpc.StatusCode.UNAUTHENTICATED
            return
        template = served.client("alice").post(
            f"/apis/v1/namespaces/{world.team_a}/compute_templates",
            json=payloads.template(world.team_a, "grpc-tpl"),
        )
        assert template.status_code in (200, 409)
        body = payloads.cluster(world.team_a, f"g-{served.mode}", "grpc-tpl")
        cluster = json_format.ParseDict(body, cluster_pb2.Cluster())
        created = await stub.CreateCluster(
            cluster_pb2.CreateClusterRequest(cluster=cluster, namespace=world.team_a), metadata=metadata
        )
        assert created.user == "alice"
        got = await stub.GetCluster(
            cluster_pb2.GetClusterRequest(name=body["name"], namespace=world.team_a), metadata=metadata
        )
        assert got.name == body["name"]
        listed = await stub.ListCluster(
            cluster_pb2.ListClustersRequest(namespace=world.team_a), metadata=metadata
        )
        assert body["name"] in [c.name for c in listed.clusters]
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.ListCluster(cluster_pb2.ListClustersRequest(namespace=world.team_b), metadata=metadata)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await stub.DeleteCluster(
            cluster_pb2.DeleteClusterRequest(name=body["name"], namespace=world.team_a), metadata=metadata
        )
    events = _audit(served, world.team_a, name=body["name"])
    assert [(e["action"], e["user"]) for e in events] == [("DELETE", "alice"), ("CREATE", "alice")]


def test_service_account_tokens_work(served: Served, world: World) -> None:
    if served.mode != "token":
        return  # only TokenReview knows ServiceAccount tokens
    robot = served.client(None, {"Authorization": f"Bearer {world.robot_token}"})
    template = payloads.template(world.team_a, "robot-template")
    assert (
        robot.post(f"/apis/v1/namespaces/{world.team_a}/compute_templates", json=template).status_code == 200
    )
    events = _audit(served, world.team_a, name="robot-template")
    assert events[0]["user"] == f"system:serviceaccount:{world.team_a}:robot"
    assert robot.get(f"/apis/v1/namespaces/{world.team_b}/compute_templates").status_code == 403


def test_oidc_key_rotation_needs_nothing_from_the_operator(served: Served, world: World) -> None:
    if served.mode != "oidc":
        return
    assert served.issuer is not None
    # Keys fetched a moment ago (a fresh key id is seen at once all the same, not after a quiet second).
    served.issuer.rotate()
    assert served.client("alice").get(f"/apis/v1/namespaces/{world.team_a}/clusters").status_code == 200
    served.issuer.rotate()
    alice = served.client("alice")  # signed with the new key, which the service has never seen
    assert alice.get(f"/apis/v1/namespaces/{world.team_a}/clusters").status_code == 200


def test_startup_refuses_anonymous_against_a_real_cluster(
    real_kube: RealKubeApiServer, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError) as refused:
        processes.start_service(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
            real_kube.kubeconfig_for(SERVICE_USER),
            False,
            env={"KUBERAY_APISERVER_AUTH": "", "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "false"},
        )
    assert "choose how callers are authenticated" in str(refused.value)


def test_reads_from_memory_are_authorized_per_caller(served: Served, world: World) -> None:
    """Gets and lists come from the read model, so the service asks Kubernetes (SubjectAccessReview) first."""
    alice, bob = served.client("alice"), served.client("bob")
    base = f"/apis/v1/namespaces/{world.team_a}"
    template = payloads.template(world.team_a, f"read-{served.mode}")
    assert alice.post(f"{base}/compute_templates", json=template).status_code == 200
    name = f"read-{served.mode}"
    created = alice.post(f"{base}/clusters", json=payloads.cluster(world.team_a, name, template["name"]))
    assert created.status_code == 200, created.text
    try:
        assert alice.get(f"{base}/clusters/{name}").json()["user"] == "alice"
        refused = bob.get(f"{base}/clusters/{name}")
        assert refused.status_code == 403 and refused.json()["code"] == 7, refused.text
        assert f"not allowed to get rayclusters in namespace {world.team_a}" in refused.json()["message"]
        assert bob.get(f"{base}/compute_templates/{template['name']}").status_code == 403
        # Neither may list every namespace: each gets what they may list, not a refusal and not the rest.
        mine = alice.get("/apis/v1/clusters")
        assert mine.status_code == 200, mine.text
        assert name in {c["name"] for c in mine.json()["clusters"]}
        assert {c["namespace"] for c in mine.json()["clusters"]} == {world.team_a}
        theirs = bob.get("/apis/v1/clusters").json().get("clusters", [])
        assert {c["namespace"] for c in theirs} <= {world.team_b}
        templates = bob.get("/apis/v1/compute_templates").json()["computeTemplates"]
        assert {t["namespace"] for t in templates} == {world.team_b}
    finally:
        assert alice.delete(f"{base}/clusters/{name}").status_code == 200
        assert alice.delete(f"{base}/compute_templates/{template['name']}").status_code == 200
