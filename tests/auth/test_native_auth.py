"""The Kubernetes-native routes with token authentication against a real kube-apiserver with RBAC: the official
Python client's changes are audited with the caller's verified user; kubectl with a user's token is refused where
that user's RBAC refuses it and served where it allows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import kubernetes
import pytest

from tests.auth.test_auth_modes import World, world  # noqa: F401  (the module's fixture, shared)
from tests.conftest import SERVICE_USER
from tests.kubenative.test_python_client import drive_ray_cluster
from tests.kubenative.test_ray_routes import raycluster
from tests.support import processes
from tests.support.kube_apiserver import RealKubeApiServer

pytestmark = pytest.mark.kubeapi


@pytest.fixture(scope="module")
def served(
    real_kube: RealKubeApiServer,
    world: World,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("native-auth")
    env = {"KUBERAY_APISERVER_AUTH": "token", "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "false"}
    url = f"sqlite+aiosqlite:///{workdir / 'auth.db'}"
    with processes.service(workdir, url, real_kube.kubeconfig_for(SERVICE_USER), env=env) as running:
        yield running.url


def test_python_client_changes_are_audited_with_the_verified_user(
    served: str,
    real_kube: RealKubeApiServer,
    world: World,  # noqa: F811
) -> None:
    token = real_kube.token_for("alice")
    drive_ray_cluster(served, world.team_a, "py-alice", token)
    audit = httpx.get(
        f"{served}/apis/v1/namespaces/{world.team_a}/audit",
        params={"name": "py-alice"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert audit.status_code == 200, audit.text
    changes = sorted((e["action"], e["outcome"], e["user"]) for e in audit.json()["events"])
    assert changes == [
        ("CREATE", "SUCCESS", "alice"),
        ("DELETE", "SUCCESS", "alice"),
        ("UPDATE", "SUCCESS", "alice"),
    ], audit.text


def test_a_callers_token_gets_the_callers_rbac(
    served: str,
    real_kube: RealKubeApiServer,
    world: World,  # noqa: F811
) -> None:
    # kubectl (client-go) sends no bearer token over plain HTTP, so this service (plain HTTP) is checked with the
    # official Python client, which does; kubectl with a token is checked over HTTPS in test_kubectl_tls.py.
    configuration = kubernetes.client.Configuration()
    configuration.host = served
    configuration.api_key = {"authorization": real_kube.token_for("alice")}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    with kubernetes.client.ApiClient(configuration) as client:
        objects = kubernetes.client.CustomObjectsApi(client)
        with pytest.raises(kubernetes.client.ApiException) as refused:
            objects.list_namespaced_custom_object("ray.io", "v1", world.team_b, "rayclusters")
        assert refused.value.status == 403, refused.value
        status = json.loads(refused.value.body)
        assert status["kind"] == "Status" and status["reason"] == "Forbidden", status
        assert "alice" in status["message"], status
        allowed = objects.list_namespaced_custom_object("ray.io", "v1", world.team_a, "rayclusters")
        assert allowed["kind"] == "RayClusterList"


def test_delete_on_a_collection_needs_the_callers_deletecollection_right(
    served: str,
    real_kube: RealKubeApiServer,
    world: World,  # noqa: F811
) -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = served
    configuration.api_key = {"authorization": real_kube.token_for("alice")}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    ray = ("ray.io", "v1", world.team_a, "rayclusters")
    with kubernetes.client.ApiClient(configuration) as client:
        objects = kubernetes.client.CustomObjectsApi(client)
        for name in ("dc-1", "dc-2"):
            objects.create_namespaced_custom_object(*ray, raycluster(name, batch="dc"))
        # alice may list and delete each of them, but her role grants no deletecollection: Kubernetes' own rule.
        with pytest.raises(kubernetes.client.ApiException) as refused:
            objects.delete_collection_namespaced_custom_object(*ray, label_selector="batch=dc")
        status = json.loads(refused.value.body)
        assert refused.value.status == 403 and status["reason"] == "Forbidden", status
        assert 'User "alice" cannot deletecollection resource "rayclusters"' in status["message"], status
        assert len(objects.list_namespaced_custom_object(*ray, label_selector="batch=dc")["items"]) == 2
        grant = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "ray-collections", "namespace": world.team_a},
            "rules": [{"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["deletecollection"]}],
        }
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "ray-collections-alice", "namespace": world.team_a},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ray-collections"},
            "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}],
        }
        real_kube.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps({"kind": "List", "apiVersion": "v1", "items": [grant, binding]}),
            check=True,
        )
        # The service caches an access review briefly (token_cache_seconds): ask until the grant is seen.
        deadline = time.monotonic() + 30
        while True:
            try:
                deleted = objects.delete_collection_namespaced_custom_object(*ray, label_selector="batch=dc")
                break
            except kubernetes.client.ApiException as exc:
                assert exc.status == 403 and time.monotonic() < deadline, exc
                time.sleep(1)
        assert sorted(o["metadata"]["name"] for o in deleted["items"]) == ["dc-1", "dc-2"], deleted
        assert objects.list_namespaced_custom_object(*ray, label_selector="batch=dc")["items"] == []
    audit = httpx.get(
        f"{served}/apis/v1/namespaces/{world.team_a}/audit",
        params={"action": "DELETE"},
        headers={"Authorization": f"Bearer {real_kube.token_for('alice')}"},
    ).json()["events"]
    done = sorted(
        (e["name"], e["user"]) for e in audit if e["outcome"] == "SUCCESS" and e["name"].startswith("dc-")
    )
    assert done == [("dc-1", "alice"), ("dc-2", "alice")], audit
    # The refused collection delete is a row too, naming no object.
    assert any(e["outcome"] == "FAILURE" and e["code"] == 7 and not e.get("name") for e in audit), audit


def test_a_patch_needs_the_callers_patch_right_and_a_replace_the_update_right(
    served: str,
    real_kube: RealKubeApiServer,
    world: World,  # noqa: F811
) -> None:
    # bob may only read in team_b; here he may also patch rayclusters, but not update them.
    user = "rbac.authorization.k8s.io"
    items = [
        {
            "apiVersion": f"{user}/v1",
            "kind": "Role",
            "metadata": {"name": "ray-patcher", "namespace": world.team_b},
            "rules": [{"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["patch"]}],
        },
        {
            "apiVersion": f"{user}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "ray-patcher-bob", "namespace": world.team_b},
            "roleRef": {"apiGroup": user, "kind": "Role", "name": "ray-patcher"},
            "subjects": [{"kind": "User", "name": "bob", "apiGroup": user}],
        },
        {**raycluster("patched-by-bob"), "metadata": {"name": "patched-by-bob", "namespace": world.team_b}},
    ]
    real_kube.kubectl(
        "apply", "-f", "-", input=json.dumps({"kind": "List", "apiVersion": "v1", "items": items}), check=True
    )
    one = f"{served}/apis/ray.io/v1/namespaces/{world.team_b}/rayclusters/patched-by-bob"
    bob = {"Authorization": f"Bearer {real_kube.token_for('bob')}"}
    patched = httpx.patch(
        one,
        json={"metadata": {"labels": {"by": "bob"}}},
        headers={**bob, "content-type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["metadata"]["labels"]["by"] == "bob"
    ops = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 2}]
    json_patched = httpx.patch(one, json=ops, headers={**bob, "content-type": "application/json-patch+json"})
    assert json_patched.status_code == 200, json_patched.text
    replaced = httpx.put(one, json=patched.json(), headers=bob)
    assert replaced.status_code == 403 and replaced.json()["reason"] == "Forbidden", replaced.text
    assert "cannot update resource" in replaced.json()["message"], replaced.text
