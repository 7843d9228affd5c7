"""RayClusters through the HTTP API against a Kubernetes API."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client

from tests.e2e import payloads
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def make_template(api: httpx.AsyncClient, namespace: str, name: str = "default-template") -> None:
    response = await api.post(
        f"/apis/v1/namespaces/{namespace}/compute_templates", json=payloads.template(namespace, name)
    )
    assert response.status_code == 200, response.text


def custom(kube: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube)


def expected_spec(body: dict[str, Any]) -> dict[str, Any]:
    """What upstream returns for a request's clusterSpec: empty environments added, minReplicas 0 replaced."""
    spec = copy.deepcopy(body["clusterSpec"])
    spec["headGroupSpec"]["environment"] = {}
    for worker in spec.get("workerGroupSpec", []):
        worker["environment"] = {}
        if not worker.get("minReplicas"):
            worker["minReplicas"] = worker["replicas"]
    return spec


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
@pytest.mark.parametrize("casing", ["camel", "snake"])
async def test_create_get_delete(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str, prefix: str, casing: str
) -> None:
    await make_template(api, namespace)
    body = payloads.cluster(namespace)
    sent = body if casing == "camel" else payloads.snake_case(body)
    created = await api.post(f"{prefix}/namespaces/{namespace}/clusters", json=sent)
    assert created.status_code == 200, created.text
    data = created.json()
    assert data["name"] == "test-cluster" and data["user"] == "3cpo" and data["version"] == "2.46.0"
    assert "environment" not in data  # DEV is the zero value
    assert data["clusterSpec"] == expected_spec(body)
    assert data["createdAt"].endswith("Z")
    assert "ray.io/creation-timestamp" in data["annotations"]

    cr = await custom(kube).get_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayclusters", "test-cluster"
    )
    assert cr["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kuberay-apiserver"
    assert cr["metadata"]["labels"]["ray.io/user"] == "3cpo"
    head = cr["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}

    got = await api.get(f"{prefix}/namespaces/{namespace}/clusters/test-cluster")
    assert got.status_code == 200
    assert got.json()["clusterSpec"] == expected_spec(body)
    assert got.json()["createdAt"] == data["createdAt"]

    deleted = await api.delete(f"{prefix}/namespaces/{namespace}/clusters/test-cluster")
    assert deleted.status_code == 200 and deleted.json() == {}
    with pytest.raises(client.ApiException) as gone:
        await custom(kube).get_namespaced_custom_object(
            "ray.io", "v1", namespace, "rayclusters", "test-cluster"
        )
    assert gone.value.status == 404
    missing = await api.get(f"{prefix}/namespaces/{namespace}/clusters/test-cluster")
    assert missing.status_code == 404
    assert missing.json()["message"].startswith(
        "Cluster test-cluster not found: Get cluster failed.: NotFoundError:"
    )


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    result = copy.deepcopy(body)
    target = result
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return result


def _with(body: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    result = copy.deepcopy(body)
    target: Any = result
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return result


VALIDATION_CASES = [
    (
        "empty body",
        None,
        "The namespace in the request is different from the namespace in the cluster definition.",
    ),
    (
        "other namespace",
        lambda b: _with(b, "elsewhere", "namespace"),
        "The namespace in the request is different from the namespace in the cluster definition.",
    ),
    ("no name", lambda b: _with(b, "", "name"), "Cluster name is empty. Please specify a valid value."),
    (
        "no user",
        lambda b: _with(b, "", "user"),
        "User who create the cluster is empty. Please specify a valid value.",
    ),
    (
        "no spec",
        lambda b: _without(b, "clusterSpec"),
        "A ClusterSpec object is required. Please specify one.",
    ),
    (
        "null spec",
        lambda b: _with(b, None, "clusterSpec"),
        "A ClusterSpec object is required. Please specify one.",
    ),
    (
        "empty spec",
        lambda b: _with(b, {}, "clusterSpec"),
        "Cluster Spec Object requires HeadGroupSpec to be populated. Please specify one.",
    ),
    (
        "no head template",
        lambda b: _with(b, "", "clusterSpec", "headGroupSpec", "computeTemplate"),
        "HeadGroupSpec compute template is empty. Please specify a valid value.",
    ),
    (
        "no head params",
        lambda b: _with(b, {}, "clusterSpec", "headGroupSpec", "rayStartParams"),
        "HeadGroupSpec RayStartParams is empty. Please specify values.",
    ),
    (
        "head pull policy",
        lambda b: _with(b, "foo", "clusterSpec", "headGroupSpec", "imagePullPolicy"),
        "HeadGroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent",
    ),
    (
        "empty worker",
        lambda b: _with(b, [{}], "clusterSpec", "workerGroupSpec"),
        "WorkerNodeSpec 0 group name is empty. Please specify a valid value.",
    ),
    (
        "worker template",
        lambda b: _with(b, "", "clusterSpec", "workerGroupSpec", 0, "computeTemplate"),
        "WorkerNodeSpec 0 compute template is empty. Please specify a valid value.",
    ),
    (
        "worker max 0",
        lambda b: _with(b, 0, "clusterSpec", "workerGroupSpec", 0, "maxReplicas"),
        "WorkerNodeSpec 0 MaxReplicas can not be 0. Please specify a valid value.",
    ),
    (
        "worker min > max",
        lambda b: _with(b, 9, "clusterSpec", "workerGroupSpec", 0, "minReplicas"),
        "WorkerNodeSpec 0 MinReplica > MaxReplicas. Please specify a valid value.",
    ),
    (
        "worker pull policy",
        lambda b: _with(b, "Never", "clusterSpec", "workerGroupSpec", 0, "imagePullPolicy"),
        "Worker GroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "message"), VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES]
)
async def test_validation_messages(
    api: httpx.AsyncClient, namespace: str, case: str, change: Any, message: str
) -> None:
    url = f"/apis/v1/namespaces/{namespace}/clusters"
    if change is None:
        response = await api.post(url, content=b"")
    else:
        response = await api.post(url, json=change(payloads.cluster(namespace)))
    assert response.status_code == 400, response.text
    assert response.json() == {
        "code": 3,
        "message": f"{message}: Validate create cluster request failed.: Invalid input error: {message}",
    }


async def test_missing_template_is_failed_precondition(api: httpx.AsyncClient, namespace: str) -> None:
    response = await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace))
    assert response.status_code == 400
    assert response.json()["code"] == 9
    assert "default-template" in response.json()["message"]


async def test_duplicate_is_409(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    url = f"/apis/v1/namespaces/{namespace}/clusters"
    assert (await api.post(url, json=payloads.cluster(namespace))).status_code == 200
    again = await api.post(url, json=payloads.cluster(namespace))
    assert again.status_code == 409 and again.json()["code"] == 6


async def test_build_error_is_400(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    body = payloads.cluster(namespace)
    body["clusterSpec"]["headGroupSpec"]["volumes"] = [
        {"name": "scratch", "mountPath": "/s", "volumeType": "EPHEMERAL"}
    ]
    response = await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Failed to create a Ray cluster: Create Cluster failed.")
    assert "storage for ephemeral volume is empty" in response.json()["message"]


async def test_invalid_user_label_is_400_not_500(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    body = _with(payloads.cluster(namespace), "not a label value!", "user")
    response = await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 3


async def test_status_and_events_are_merged(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    await make_template(api, namespace)
    assert (
        await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace))
    ).status_code == 200
    await custom(kube).patch_namespaced_custom_object_status(
        "ray.io",
        "v1",
        namespace,
        "rayclusters",
        "test-cluster",
        {"status": {"state": "ready", "endpoints": {"dashboard": "8265", "client": "10001"}}},
        _content_type="application/merge-patch+json",
    )
    await client.EventsV1Api(kube).create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "test-cluster.1"},
            "eventTime": "2026-01-02T03:04:05.000000Z",
            "reportingController": "ray.io/raycluster-controller",
            "reportingInstance": "operator",
            "action": "Create",
            "regarding": {
                "kind": "RayCluster",
                "name": "test-cluster",
                "namespace": namespace,
                "apiVersion": "ray.io/v1",
            },
            "reason": "CreatedService",
            "note": "Created service test-cluster-head-svc",
            "type": "Normal",
        },
    )

    async def ready_with_event() -> Any:
        got = (await api.get(f"/apis/v1/namespaces/{namespace}/clusters/test-cluster")).json()
        assert got.get("clusterState") == "ready"
        assert got["serviceEndpoint"] == {"dashboard": "8265", "client": "10001"}
        assert [(e["reason"], e["message"], e["type"]) for e in got.get("events", [])] == [
            ("CreatedService", "Created service test-cluster-head-svc", "Normal")
        ]
        return got

    got = await eventually(ready_with_event)
    assert got["events"][0]["name"] == "test-cluster-test-cluster.1"
    listed = (await api.get(f"/apis/v1/namespaces/{namespace}/clusters")).json()["clusters"]
    assert listed[0]["clusterState"] == "ready" and len(listed[0]["events"]) == 1


async def test_pagination(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    for index in (1, 2, 3):
        body = payloads.cluster(namespace, f"cluster{index}")
        assert (await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)).status_code == 200
    seen, token = [], ""
    for page in range(3):
        response = await api.get(
            f"/apis/v1/namespaces/{namespace}/clusters", params={"limit": 1, "continue": token}
        )
        data = response.json()
        assert [c["name"] for c in data["clusters"]] == [f"cluster{page + 1}"]
        token = data.get("continue", "")
        assert bool(token) == (page < 2)
        seen.extend(c["name"] for c in data["clusters"])
    assert seen == ["cluster1", "cluster2", "cluster3"]
    everything = (await api.get(f"/apis/v1/namespaces/{namespace}/clusters", params={"limit": 10})).json()
    assert len(everything["clusters"]) == 3 and "continue" not in everything
    across = (await api.get("/apis/v1/clusters", params={"limit": 0, "continue": ""})).json()
    assert {("cluster1", namespace), ("cluster3", namespace)} <= {
        (c["name"], c["namespace"]) for c in across["clusters"]
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=abc", 'parsing field "limit": strconv.ParseInt: parsing "abc": invalid syntax'),
        ("limit=1&limit=2", 'too many values for field "limit": 1, 2'),
        (
            "limit=99999999999999999999",
            'parsing field "limit": strconv.ParseInt: parsing "99999999999999999999": value out of range',
        ),
    ],
)
async def test_bad_query_parameters(api: httpx.AsyncClient, namespace: str, query: str, message: str) -> None:
    response = await api.get(f"/apis/v1/namespaces/{namespace}/clusters?{query}")
    assert response.status_code == 400 and response.json() == {"code": 3, "message": message}


async def test_cluster_created_outside_the_api(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    body = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "from-kubectl", "labels": {"ray.io/user": "bob"}},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.46.0"}]}
                },
            }
        },
    }
    cr = await custom(kube).create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)

    async def listed() -> None:
        items = (await api.get(f"/apis/v1/namespaces/{namespace}/clusters")).json()["clusters"]
        assert [(c["name"], c["user"], c["createdAt"]) for c in items] == [
            ("from-kubectl", "bob", cr["metadata"]["creationTimestamp"])
        ]

    await eventually(listed)
    assert (await api.get(f"/apis/v1/namespaces/{namespace}/clusters/from-kubectl")).status_code == 200
    assert (await api.delete(f"/apis/v1/namespaces/{namespace}/clusters/from-kubectl")).status_code == 200
    assert (await api.get(f"/apis/v1/namespaces/{namespace}/clusters")).json() == {"clusters": []}


async def test_missing_and_empty_names(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/apis/v1/namespaces/{namespace}/clusters"
    assert (await api.get(f"{base}/a-bogus-cluster-name")).status_code == 404
    assert (await api.delete(f"{base}/bogus-cluster-name")).status_code == 404
    for method in ("GET", "DELETE"):
        assert (await api.request(method, f"{base}/")).status_code == 400
        assert (await api.request(method, "/apis/v1/namespaces//clusters/x")).status_code == 404


async def test_deletion_outside_the_api_is_recorded(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    import asyncio

    await make_template(api, namespace)
    assert (
        await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace))
    ).status_code == 200
    await custom(kube).patch_namespaced_custom_object_status(
        "ray.io",
        "v1",
        namespace,
        "rayclusters",
        "test-cluster",
        {"status": {"state": "ready"}},
        _content_type="application/merge-patch+json",
    )
    await custom(kube).delete_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayclusters", "test-cluster"
    )
    events: list[dict[str, Any]] = []
    for _ in range(100):  # the watcher notices within moments; no list call is made meanwhile
        audit = await api.get(
            f"/apis/v1/namespaces/{namespace}/audit", params={"name": "test-cluster", "action": "DELETE"}
        )
        events = audit.json()["events"]
        if events:
            break
        await asyncio.sleep(0.1)
    assert [(e.get("user", ""), e["outcome"], e["message"]) for e in events] == [
        ("", "SUCCESS", "deleted outside the API (noticed by the service)")
    ]
    history = (
        await api.get(f"/apis/v1/namespaces/{namespace}/clusters", params={"includeDeleted": "true"})
    ).json()
    (deleted,) = history["clusters"]
    assert deleted["name"] == "test-cluster" and deleted["deletedAt"] and deleted["clusterState"] == "ready"
    assert deleted["user"] == "3cpo"


async def test_api_deletion_is_audited_once_despite_the_watcher(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    """The watcher also sees deletions made through the API; they must still be audited exactly once."""
    import asyncio

    from service.managers.watcher import GRACE_SECONDS

    await make_template(api, namespace)
    for index in range(3):
        body = payloads.cluster(namespace, f"gone{index}")
        assert (await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)).status_code == 200
    external = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "external", "labels": {"ray.io/user": "bob"}},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "i"}]}},
            }
        },
    }
    await custom(kube).create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", external)
    names = ["gone0", "gone1", "gone2", "external"]
    responses = await asyncio.gather(
        *(api.delete(f"/apis/v1/namespaces/{namespace}/clusters/{n}") for n in names)
    )
    assert [r.status_code for r in responses] == [200] * 4
    await asyncio.sleep(GRACE_SECONDS + 1.5)
    audit = await api.get(
        f"/apis/v1/namespaces/{namespace}/audit", params={"resource": "clusters", "action": "DELETE"}
    )
    deletions = sorted((e["name"], e.get("message", "")) for e in audit.json()["events"])
    assert deletions == sorted((n, "") for n in names)
    history = (
        await api.get(f"/apis/v1/namespaces/{namespace}/clusters", params={"includeDeleted": "true"})
    ).json()
    assert sorted((c["name"], c["user"]) for c in history["clusters"]) == sorted(
        [("gone0", "3cpo"), ("gone1", "3cpo"), ("gone2", "3cpo"), ("external", "bob")]
    )


async def test_many_concurrent_deletions_are_each_audited_once(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    """Rounds of concurrent API deletions while the watcher sees every one of them: one DELETE row each."""
    import asyncio

    from service.managers.watcher import GRACE_SECONDS

    await make_template(api, namespace)
    names: list[str] = []
    for round_number in range(2):
        batch = [f"r{round_number}-{index}" for index in range(25)]
        created = await asyncio.gather(
            *(
                api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=payloads.cluster(namespace, n))
                for n in batch
            )
        )
        assert [r.status_code for r in created] == [200] * len(batch)
        deleted = await asyncio.gather(
            *(api.delete(f"/apis/v1/namespaces/{namespace}/clusters/{n}") for n in batch)
        )
        assert [r.status_code for r in deleted] == [200] * len(batch)
        names += batch
    await asyncio.sleep(GRACE_SECONDS + 2)
    audit = await api.get(
        f"/apis/v1/namespaces/{namespace}/audit",
        params={"resource": "clusters", "action": "DELETE", "pageSize": 1000},
    )
    deletions = sorted((e["name"], e["outcome"], e.get("message", "")) for e in audit.json()["events"])
    assert deletions == sorted((n, "SUCCESS", "") for n in names)


async def test_clusters_owned_by_jobs_and_services_are_not_listed(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    """The operator's clusters for a RayJob or RayService belong to those; the cluster list leaves them out."""

    def owned(name: str, owner_kind: str) -> dict[str, Any]:
        return {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {
                "name": name,
                "ownerReferences": [
                    {
                        "apiVersion": "ray.io/v1",
                        "kind": owner_kind,
                        "name": f"{name}-owner",
                        "uid": str(uuid.uuid4()),
                    }
                ],
            },
            "spec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {
                        "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.46.0"}]}
                    },
                }
            },
        }

    for name, kind in (("of-a-job", "RayJob"), ("of-a-service", "RayService")):
        await custom(kube).create_namespaced_custom_object(
            "ray.io", "v1", namespace, "rayclusters", owned(name, kind)
        )
    plain = owned("standalone", "Deployment")
    await custom(kube).create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", plain)

    async def only_standalone() -> None:
        items = (await api.get(f"/apis/v1/namespaces/{namespace}/clusters")).json()["clusters"]
        assert [c["name"] for c in items] == ["standalone"]
        assert (await api.get(f"/apis/v1/namespaces/{namespace}/clusters/of-a-job")).status_code == 200

    await eventually(only_standalone)
    everywhere = (await api.get("/apis/v1/clusters")).json()["clusters"]
    assert {c["name"] for c in everywhere if c["namespace"] == namespace} == {"standalone"}
    # Still readable by name: it exists, it is only not the cluster list's to show.
    assert (await api.get(f"/apis/v1/namespaces/{namespace}/clusters/of-a-job")).status_code == 200


async def test_groups_always_carry_their_start_parameters(
    api: httpx.AsyncClient, kube: client.ApiClient, namespace: str
) -> None:
    """A group without start parameters (kubectl, another tool) still answers ``rayStartParams: {}``."""
    body = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "bare"},
        "spec": {
            "headGroupSpec": {
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.46.0"}]}}
            },
            "workerGroupSpecs": [
                {
                    "groupName": "w",
                    "replicas": 1,
                    "minReplicas": 1,
                    "maxReplicas": 1,
                    "template": {
                        "spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.46.0"}]}
                    },
                }
            ],
        },
    }
    await custom(kube).create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)

    async def both_answers() -> None:
        for answer in (
            (await api.get(f"/apis/v1/namespaces/{namespace}/clusters/bare")).json(),
            (await api.get(f"/apis/v1/namespaces/{namespace}/clusters")).json()["clusters"][0],
        ):
            spec = answer["clusterSpec"]
            assert spec["headGroupSpec"]["rayStartParams"] == {}
            assert [w["rayStartParams"] for w in spec["workerGroupSpec"]] == [{}]

    await eventually(both_answers)
