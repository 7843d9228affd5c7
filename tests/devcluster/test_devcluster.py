"""The dev cluster, exercised through the real kubernetes_asyncio client over HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from service.devcluster import DevCluster
from service.devcluster.store import RAY_CLUSTERS, ApiError, Selector, Store

REPO_ROOT = Path(__file__).resolve().parents[2]
RAY = ("ray.io", "v1")
MERGE = "application/merge-patch+json"


@pytest_asyncio.fixture(scope="module")
async def cluster() -> AsyncIterator[DevCluster]:
    dev = DevCluster()
    await dev.start()
    yield dev
    await dev.stop()


@pytest_asyncio.fixture(scope="module")
async def api(cluster: DevCluster) -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient(configuration=client.Configuration(host=cluster.url)) as api_client:
        yield api_client


@pytest_asyncio.fixture
async def ns(api: client.ApiClient) -> str:
    """A fresh namespace per test, so tests sharing the cluster cannot see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def ray_object(kind: str, name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": kind,
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec or {"rayVersion": "2.41.0"},
    }


def status_body(err: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.value.body)
    assert body["kind"] == "Status"
    assert body["code"] == err.value.status
    return body


async def test_discovery_version_and_health(api: client.ApiClient, cluster: DevCluster) -> None:
    assert (await client.VersionApi(api).get_code()).git_version == "v1.34.0-devcluster"
    assert (await client.CoreApi(api).get_api_versions()).versions == ["v1"]
    groups = await client.ApisApi(api).get_api_versions()
    assert {g.name for g in groups.groups} == {"ray.io", "events.k8s.io"}
    ray = await client.CustomObjectsApi(api).get_api_resources(*RAY)
    kinds = {r.name: r.kind for r in ray.resources}
    assert kinds["rayclusters"] == kinds["rayclusters/status"] == "RayCluster"
    assert kinds["rayjobs"] == "RayJob" and kinds["rayservices/status"] == "RayService"
    core = await client.CoreV1Api(api).get_api_resources()
    assert {"namespaces", "configmaps", "events"} <= {r.name for r in core.resources}
    assert [r.name for r in (await client.EventsV1Api(api).get_api_resources()).resources] == ["events"]

    async with aiohttp.ClientSession() as http:
        for probe in ("healthz", "readyz", "livez"):
            async with http.get(f"{cluster.url}/{probe}") as resp:
                assert (resp.status, await resp.text()) == (200, "ok")
        async with http.get(f"{cluster.url}/apis/ray.io/v1/widgets") as resp:
            body = await resp.json()
            assert (resp.status, body["reason"]) == (404, "NotFound")
        async with http.put(f"{cluster.url}/api/v1/namespaces/default/configmaps", json={}) as resp:
            body = await resp.json()
            assert (resp.status, body["reason"]) == (405, "MethodNotAllowed")


async def test_create_in_missing_namespace_is_404(api: client.ApiClient) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))
    with pytest.raises(ApiException) as err:
        await client.CoreV1Api(api).create_namespaced_config_map("nope", body)
    assert status_body(err) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'namespaces "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "namespaces"},
        "code": 404,
    }


async def test_configmap_crud_and_label_selector(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    for name, app in (("alpha", "a"), ("beta", "b")):
        meta = client.V1ObjectMeta(name=name, labels={"app": app})
        created = await core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=meta, data={"k": name})
        )
        assert created.metadata.namespace == ns and created.metadata.uid
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_config_map(ns, {"metadata": {"name": "alpha"}})
    assert (err.value.status, status_body(err)["message"]) == (409, 'configmaps "alpha" already exists')

    selected = await core.list_namespaced_config_map(ns, label_selector="app=b")
    assert [cm.metadata.name for cm in selected.items] == ["beta"]
    assert selected.items[0].kind is None  # like real Kubernetes, built-in list items carry no kind

    alpha = await core.read_namespaced_config_map("alpha", ns)
    alpha.data = {"k": "changed"}
    replaced = await core.replace_namespaced_config_map("alpha", ns, alpha)
    assert replaced.data == {"k": "changed"}
    assert int(replaced.metadata.resource_version) > int(alpha.metadata.resource_version)
    patched = await core.patch_namespaced_config_map("alpha", ns, {"data": {"extra": "1"}})
    assert patched.data == {"k": "changed", "extra": "1"}

    deleted = await core.delete_namespaced_config_map("alpha", ns)
    assert deleted.status == "Success" and deleted.details.name == "alpha"
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_config_map("alpha", ns)
    assert (err.value.status, status_body(err)["message"]) == (404, 'configmaps "alpha" not found')


async def test_custom_object_lifecycle(api: client.ApiClient, ns: str) -> None:
    custom = client.CustomObjectsApi(api)
    body = {**ray_object("RayCluster", "rc"), "status": {"state": "ignored on create"}}
    created = await custom.create_namespaced_custom_object(*RAY, ns, "rayclusters", body)
    meta = created["metadata"]
    assert (created["apiVersion"], created["kind"], meta["namespace"]) == ("ray.io/v1", "RayCluster", ns)
    assert meta["generation"] == 1 and "status" not in created
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert uuid.UUID(meta["uid"]) and meta["resourceVersion"].isdigit()
    assert await custom.get_namespaced_custom_object(*RAY, ns, "rayclusters", "rc") == created

    listed = await custom.list_namespaced_custom_object(*RAY, ns, "rayclusters")
    assert listed["kind"] == "RayClusterList" and [i["metadata"]["name"] for i in listed["items"]] == ["rc"]
    everywhere = await custom.list_cluster_custom_object(*RAY, "rayclusters")
    assert ("rc", ns) in {(i["metadata"]["name"], i["metadata"]["namespace"]) for i in everywhere["items"]}

    updated = await custom.replace_namespaced_custom_object(
        *RAY, ns, "rayclusters", "rc", {**created, "spec": {"rayVersion": "2.42.0"}}
    )
    assert updated["metadata"]["generation"] == 2
    with pytest.raises(ApiException) as err:
        await custom.replace_namespaced_custom_object(*RAY, ns, "rayclusters", "rc", created)  # stale version
    assert status_body(err)["reason"] == "Conflict"
    assert status_body(err)["message"] == (
        'Operation cannot be fulfilled on rayclusters.ray.io "rc": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    with pytest.raises(ApiException) as err:
        await custom.create_namespaced_custom_object(*RAY, ns, "rayclusters", ray_object("RayCluster", "rc"))
    assert status_body(err)["message"] == 'rayclusters.ray.io "rc" already exists'
    with pytest.raises(ApiException) as err:  # custom resources must name their kind
        await custom.create_namespaced_custom_object(*RAY, ns, "rayclusters", {"metadata": {"name": "n"}})
    assert err.value.status == 400 and "Object 'Kind' is missing" in status_body(err)["message"]

    deleted = await custom.delete_namespaced_custom_object(*RAY, ns, "rayclusters", "rc")
    assert deleted["metadata"]["uid"] == meta["uid"]  # custom resources answer DELETE with the object
    with pytest.raises(ApiException) as err:
        await custom.get_namespaced_custom_object(*RAY, ns, "rayclusters", "rc")
    assert status_body(err)["details"] == {"name": "rc", "group": "ray.io", "kind": "rayclusters"}
    assert status_body(err)["message"] == 'rayclusters.ray.io "rc" not found'


async def test_status_subresource_and_patches(api: client.ApiClient, ns: str) -> None:
    custom = client.CustomObjectsApi(api)
    job = ray_object("RayJob", "job", entrypoint="a")
    await custom.create_namespaced_custom_object(*RAY, ns, "rayjobs", job)

    with_status = await custom.patch_namespaced_custom_object_status(
        *RAY,
        ns,
        "rayjobs",
        "job",
        {"status": {"jobStatus": "RUNNING"}, "spec": {"entrypoint": "nope"}},
        _content_type=MERGE,
    )
    assert with_status["status"] == {"jobStatus": "RUNNING"}
    assert with_status["spec"] == {"entrypoint": "a"} and with_status["metadata"]["generation"] == 1

    replaced = await custom.replace_namespaced_custom_object_status(
        *RAY, ns, "rayjobs", "job", {**with_status, "status": {"jobStatus": "SUCCEEDED"}, "spec": {}}
    )
    assert replaced["status"] == {"jobStatus": "SUCCEEDED"} and replaced["spec"] == {"entrypoint": "a"}

    # Writes to the main resource keep the status and bump generation only when the spec changes.
    main = await custom.patch_namespaced_custom_object(
        *RAY, ns, "rayjobs", "job", {"spec": {"entrypoint": "b"}, "status": None}, _content_type=MERGE
    )
    assert main["status"] == {"jobStatus": "SUCCEEDED"} and main["metadata"]["generation"] == 2
    relabelled = await custom.patch_namespaced_custom_object(
        *RAY, ns, "rayjobs", "job", [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]
    )
    assert relabelled["metadata"]["labels"] == {"x": "y"} and relabelled["metadata"]["generation"] == 2
    noop = await custom.patch_namespaced_custom_object(*RAY, ns, "rayjobs", "job", {}, _content_type=MERGE)
    assert noop["metadata"]["resourceVersion"] == relabelled["metadata"]["resourceVersion"]

    # kubernetes_asyncio sends a dict body as application/json-patch+json unless told otherwise, which a
    # real API server (and this one) rejects.
    with pytest.raises(ApiException) as err:
        await custom.patch_namespaced_custom_object(*RAY, ns, "rayjobs", "job", {"spec": {"entrypoint": "c"}})
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        await custom.patch_namespaced_custom_object(
            *RAY, ns, "rayjobs", "job", [{"op": "test", "path": "/spec/entrypoint", "value": "zzz"}]
        )
    assert err.value.status == 422


async def test_pagination_has_no_gaps_or_duplicates(api: client.ApiClient, ns: str) -> None:
    custom = client.CustomObjectsApi(api)
    names = [f"svc-{i}" for i in range(7)]
    for name in reversed(names):
        await custom.create_namespaced_custom_object(*RAY, ns, "rayservices", ray_object("RayService", name))
    seen: list[str] = []
    remaining: list[int | None] = []
    versions: set[str] = set()
    token = None
    for _ in range(3):
        page = await custom.list_namespaced_custom_object(*RAY, ns, "rayservices", limit=3, _continue=token)
        seen += [item["metadata"]["name"] for item in page["items"]]
        remaining.append(page["metadata"].get("remainingItemCount"))
        versions.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue")
    assert seen == names  # key order, every object once
    assert remaining == [4, 1, None] and token is None and len(versions) == 1

    cms = client.CoreV1Api(api)
    for i in range(3):
        await cms.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i}", "labels": {"a": "b"}}})
    first = await cms.list_namespaced_config_map(ns, limit=2, label_selector="a=b")
    rest = await cms.list_namespaced_config_map(
        ns, limit=2, label_selector="a=b", _continue=first.metadata._continue
    )
    assert [c.metadata.name for c in first.items + rest.items] == ["cm-0", "cm-1", "cm-2"]
    assert first.metadata.remaining_item_count is None  # left out when a selector filters, as upstream
    assert rest.metadata._continue is None


async def test_label_and_field_selectors(api: client.ApiClient, ns: str) -> None:
    custom = client.CustomObjectsApi(api)
    labels: dict[str, dict[str, str]] = {
        "a": {"env": "prod", "tier": "web"},
        "b": {"env": "dev"},
        "c": {"env": "test"},
        "d": {},
    }
    for name, own in labels.items():
        body = ray_object("RayCluster", name, own)
        await custom.create_namespaced_custom_object(*RAY, ns, "rayclusters", body)

    async def names(**selectors: str) -> list[str]:
        found = await custom.list_namespaced_custom_object(*RAY, ns, "rayclusters", **selectors)
        return [item["metadata"]["name"] for item in found["items"]]

    assert await names(label_selector="env in (prod, dev)") == ["a", "b"]
    assert await names(label_selector="env notin (prod)") == ["b", "c", "d"]
    assert await names(label_selector="env!=dev") == ["a", "c", "d"]
    assert await names(label_selector="env") == ["a", "b", "c"]
    assert await names(label_selector="!env") == ["d"]
    assert await names(label_selector="env==prod,tier=web") == ["a"]
    assert await names(field_selector="metadata.name!=a,metadata.namespace=" + ns) == ["b", "c", "d"]
    for bad in ({"label_selector": "env in prod"}, {"field_selector": "spec.rayVersion=1"}):
        with pytest.raises(ApiException) as err:
            await names(**bad)
        assert status_body(err)["reason"] == "BadRequest"


async def test_finalizers_defer_deletion(api: client.ApiClient, ns: str) -> None:
    custom = client.CustomObjectsApi(api)
    body = ray_object("RayCluster", "held")
    body["metadata"]["finalizers"] = ["ray.io/guard"]
    await custom.create_namespaced_custom_object(*RAY, ns, "rayclusters", body)
    marked = await custom.delete_namespaced_custom_object(*RAY, ns, "rayclusters", "held")
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["generation"] == 2
    still = await custom.get_namespaced_custom_object(*RAY, ns, "rayclusters", "held")
    assert still["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]

    with pytest.raises(ApiException) as err:
        await custom.patch_namespaced_custom_object(
            *RAY,
            ns,
            "rayclusters",
            "held",
            {"metadata": {"finalizers": ["ray.io/guard", "x.io/new"]}},
            _content_type=MERGE,
        )
    assert err.value.status == 422 and "no new finalizers" in status_body(err)["message"]

    await custom.patch_namespaced_custom_object(
        *RAY, ns, "rayclusters", "held", {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
    with pytest.raises(ApiException) as err:
        await custom.get_namespaced_custom_object(*RAY, ns, "rayclusters", "held")
    assert err.value.status == 404


async def test_invalid_names_and_labels_are_422(api: client.ApiClient, ns: str) -> None:
    custom = client.CustomObjectsApi(api)
    cases = [
        (
            ray_object("RayCluster", "Bad_Name"),
            'RayCluster.ray.io "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters",
        ),
        (
            {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {}},
            'RayCluster.ray.io "" is invalid: metadata.name: Required value: name or generateName is required',
        ),
        (
            ray_object("RayCluster", "ok", {"ray.io/user": "has space"}),
            'RayCluster.ray.io "ok" is invalid: metadata.labels: Invalid value: "has space": a valid label',
        ),
        (
            ray_object("RayCluster", "ok", {"user": "x" * 64}),
            'metadata.labels: Invalid value: "' + "x" * 64 + '": must be no more than 63 characters',
        ),
    ]
    for body, message in cases:
        with pytest.raises(ApiException) as err:
            await custom.create_namespaced_custom_object(*RAY, ns, "rayclusters", body)
        status = status_body(err)
        assert (err.value.status, status["reason"]) == (422, "Invalid")
        assert message in status["message"]
        assert status["details"]["kind"] == "RayCluster" and status["details"]["causes"]

    with pytest.raises(ApiException) as err:
        await client.CoreV1Api(api).create_namespaced_config_map(ns, {"metadata": {"name": "Bad_Name"}})
    assert status_body(err)["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name')
    generated = await custom.create_namespaced_custom_object(
        *RAY, ns, "rayclusters", {**ray_object("RayCluster", ""), "metadata": {"generateName": "gen-"}}
    )
    assert re.fullmatch(r"gen-[a-z0-9]{5}", generated["metadata"]["name"])


async def test_events_share_storage_and_filter_on_regarding(api: client.ApiClient, ns: str) -> None:
    events = client.EventsV1Api(api)
    for name, target in (("e1", "rc-a"), ("e2", "rc-b")):
        await events.create_namespaced_event(
            ns,
            client.EventsV1Event(
                metadata=client.V1ObjectMeta(name=name),
                event_time=datetime.now(UTC),
                reason="Created",
                note=f"made {target}",
                type="Normal",
                action="Create",
                reporting_controller="ray.io/kuberay",
                reporting_instance="op-1",
                regarding=client.V1ObjectReference(
                    kind="RayCluster", name=target, namespace=ns, api_version="ray.io/v1"
                ),
            ),
        )
    about_a = await events.list_namespaced_event(ns, field_selector="regarding.name=rc-a")
    assert [(e.metadata.name, e.note) for e in about_a.items] == [("e1", "made rc-a")]
    about_b = await events.list_event_for_all_namespaces(
        field_selector="regarding.kind=RayCluster,regarding.name=rc-b"
    )
    assert [e.metadata.name for e in about_b.items] == ["e2"]

    # A legacy core/v1 event (what client-go's EventRecorder writes) shows up through events.k8s.io too,
    # with eventTime null, which kubernetes_asyncio's typed EventsV1Event model refuses to deserialise.
    await client.CoreV1Api(api).create_namespaced_event(
        ns,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="legacy"),
            message="old style",
            reason="Scaled",
            involved_object=client.V1ObjectReference(kind="RayCluster", name="rc-a", namespace=ns),
        ),
    )
    core_view = await client.CoreV1Api(api).list_namespaced_event(
        ns, field_selector="involvedObject.name=rc-a"
    )
    assert [(e.metadata.name, e.message) for e in core_view.items] == [
        ("e1", "made rc-a"),
        ("legacy", "old style"),
    ]
    raw = await events.list_namespaced_event(ns, field_selector="regarding.name=rc-a", _preload_content=False)
    items = (await raw.json())["items"]
    assert [(e["metadata"]["name"], e["note"], e["eventTime"] is None) for e in items] == [
        ("e1", "made rc-a", False),
        ("legacy", "old style", True),
    ]
    with pytest.raises(ValueError, match="event_time"):
        await events.list_namespaced_event(ns, field_selector="regarding.name=rc-a")


async def test_watch_streams_added_modified_deleted(
    api: client.ApiClient, cluster: DevCluster, ns: str
) -> None:
    custom = client.CustomObjectsApi(api)
    first = await custom.create_namespaced_custom_object(
        *RAY, ns, "rayclusters", ray_object("RayCluster", "one")
    )
    seen: list[tuple[str, str]] = []
    started = asyncio.Event()

    async def consume() -> None:
        async with watch.Watch() as stream:
            async for event in stream.stream(
                custom.list_namespaced_custom_object, *RAY, ns, "rayclusters", timeout_seconds=5
            ):
                seen.append((event["type"], event["object"]["metadata"]["name"]))
                started.set()
                if len(seen) == 4:
                    break

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)  # the initial ADDED for "one": the watch is live
    await custom.create_namespaced_custom_object(
        *RAY, ns, "rayclusters", ray_object("RayCluster", "two", {"watched": "yes"})
    )
    await custom.patch_namespaced_custom_object(
        *RAY, ns, "rayclusters", "two", {"metadata": {"labels": {"watched": "no"}}}, _content_type=MERGE
    )
    await custom.delete_namespaced_custom_object(*RAY, ns, "rayclusters", "one")
    await asyncio.wait_for(task, 5)
    await asyncio.sleep(0.05)
    assert cluster.store.open_watches == 0  # the client hung up, so the server dropped its watch
    assert seen == [("ADDED", "one"), ("ADDED", "two"), ("MODIFIED", "two"), ("DELETED", "one")]

    # Resuming from a resourceVersion replays the history; with a selector, leaving the selection is
    # a DELETED.
    replayed = []
    async with watch.Watch() as stream:
        async for event in stream.stream(
            custom.list_namespaced_custom_object,
            *RAY,
            ns,
            "rayclusters",
            label_selector="watched=yes",
            timeout_seconds=1,
            resource_version=first["metadata"]["resourceVersion"],
        ):
            replayed.append((event["type"], event["object"]["metadata"]["name"]))
    assert replayed == [("ADDED", "two"), ("DELETED", "two")]


async def test_watch_from_compacted_history_is_expired() -> None:
    store = Store(history_size=3)  # the three initial namespaces (versions 1-3) fill the history
    for name in ("a", "b"):
        store.create(RAY_CLUSTERS, "default", ray_object("RayCluster", name))  # versions 4 and 5
    resumed = await store.watch(RAY_CLUSTERS, "default", Selector(), resource_version="3").next()
    assert resumed is not None and (resumed["type"], resumed["object"]["metadata"]["name"]) == ("ADDED", "a")
    event = await store.watch(RAY_CLUSTERS, "default", Selector(), resource_version="1").next()
    assert event is not None and event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


def test_objects_over_the_etcd_limit_are_refused() -> None:
    # Checked on the store: a 1.6 MB body through the client only adds aiohttp's large-body warning.
    with pytest.raises(ApiError) as err:
        Store().create(RAY_CLUSTERS, "default", ray_object("RayCluster", "huge", blob="x" * 1_600_000))
    assert (err.value.code, err.value.reason) == (413, "RequestEntityTooLarge")


async def test_main_prints_ready_and_writes_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.devcluster",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        assert re.fullmatch(r"DEV CLUSTER READY http://127\.0\.0\.1:\d+\n", line)
        cfg = client.Configuration()
        await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        assert cfg.host == line.split()[-1]
        async with client.ApiClient(configuration=cfg) as api:
            assert (await client.VersionApi(api).get_code()).git_version == "v1.34.0-devcluster"
            namespaces = await client.CoreV1Api(api).list_namespace()
            assert [n.metadata.name for n in namespaces.items] == ["default", "kube-system", "ray-system"]
        async with aiohttp.ClientSession() as http, http.get(f"{cfg.host}/_devcluster/requests") as resp:
            log = await resp.json()
        assert [(r["method"], r["path"]) for r in log["requests"]] == [
            ("GET", "/version/"),  # the path exactly as the client sent it
            ("GET", "/api/v1/namespaces"),
        ]
    finally:
        proc.terminate()
        code = await asyncio.wait_for(proc.wait(), 10)
    assert code == 0
    assert "NOT a real cluster" in (await proc.stderr.read()).decode()


async def test_dry_runs_are_checked_but_never_stored_nor_watched(cluster: DevCluster, ns: str) -> None:
    base = f"{cluster.url}/apis/ray.io/v1/namespaces/{ns}/rayclusters"
    body = ray_object("RayCluster", "dry")
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as listed:
            version = (await listed.json())["metadata"]["resourceVersion"]
        watch = await http.get(
            base, params={"watch": "true", "resourceVersion": version, "timeoutSeconds": "5"}
        )
        async with http.post(base, json=body, params={"dryRun": "All"}) as tried:
            assert tried.status == 201
            shown = await tried.json()
            assert shown["metadata"]["uid"] and "resourceVersion" not in shown["metadata"]
        async with http.get(f"{base}/dry") as missing:
            assert missing.status == 404
        async with http.post(base, json=body) as made:
            assert made.status == 201
            stored = (await made.json())["metadata"]["resourceVersion"]
        for method, extra in [
            (
                "PUT",
                {
                    "json": {
                        **body,
                        "metadata": {"name": "dry", "labels": {"a": "b"}, "resourceVersion": stored},
                    }
                },
            ),
            ("PATCH", {"json": {"metadata": {"labels": {"a": "b"}}}, "headers": {"content-type": MERGE}}),
            ("DELETE", {}),
        ]:
            async with http.request(method, f"{base}/dry", params={"dryRun": "All"}, **extra) as answer:  # type: ignore[arg-type]
                assert answer.status == 200, (method, await answer.text())
                assert (await answer.json())["metadata"]["resourceVersion"] == stored
        async with http.delete(f"{base}/dry", json={"dryRun": ["All"]}) as by_body:
            assert by_body.status == 200
        async with http.get(f"{base}/dry") as still:
            assert (await still.json())["metadata"]["resourceVersion"] == stored
        # The watch saw the real create only.
        first = json.loads(await asyncio.wait_for(watch.content.readline(), 5))
        assert (first["type"], first["object"]["metadata"]["resourceVersion"]) == ("ADDED", stored)
        watch.close()


async def test_write_options_are_checked_as_a_real_api_server_checks_them(
    cluster: DevCluster, ns: str
) -> None:
    base = f"{cluster.url}/apis/ray.io/v1/namespaces/{ns}/rayclusters"
    body = ray_object("RayCluster", "opts")
    async with aiohttp.ClientSession() as http:
        refusals = [
            ("POST", base, {"params": {"dryRun": "Yes"}, "json": body}, "CreateOptions", "dryRun"),
            (
                "POST",
                base,
                {"params": {"fieldValidation": "Loose"}, "json": body},
                "CreateOptions",
                "fieldValidation",
            ),
            (
                "POST",
                base,
                {"params": {"fieldManager": "x" * 129}, "json": body},
                "CreateOptions",
                "fieldManager",
            ),
        ]
        async with http.post(
            base, json=body, params={"fieldManager": "tool", "fieldValidation": "Strict"}
        ) as ok:
            assert ok.status == 201
        one = f"{base}/opts"
        refusals += [
            (
                "DELETE",
                one,
                {"json": {"propagationPolicy": "Sometimes"}},
                "DeleteOptions",
                "propagationPolicy",
            ),
            (
                "DELETE",
                one,
                {"params": {"propagationPolicy": "Sometimes"}},
                "DeleteOptions",
                "propagationPolicy",
            ),
            (
                "DELETE",
                one,
                {"json": {"propagationPolicy": "Orphan", "orphanDependents": True}},
                "DeleteOptions",
                "propagationPolicy",
            ),
            ("DELETE", one, {"json": {"dryRun": ["Yes"]}}, "DeleteOptions", "dryRun"),
        ]
        for method, url, extra, kind, field in refusals:
            async with http.request(method, url, **extra) as answer:  # type: ignore[arg-type]
                status = await answer.json()
                assert answer.status == 422 and status["reason"] == "Invalid", status
                assert status["details"]["kind"] == kind and status["details"]["causes"][0]["field"] == field
                assert status["message"].startswith(f'{kind}.meta.k8s.io "" is invalid: {field}: '), status
        async with http.patch(
            one, json={}, headers={"content-type": "application/apply-patch+yaml"}
        ) as apply:
            status = await apply.json()
            assert apply.status == 415 and "managedFields" in status["message"], status
        async with http.delete(
            one, params={"propagationPolicy": "Foreground", "gracePeriodSeconds": "0"}
        ) as gone:
            assert gone.status == 200
        async with http.get(one) as missing:
            assert missing.status == 404
