"""Writes on the Kubernetes-native routes as Kubernetes serves them, on the dev cluster and a real kube-apiserver:
the status subresource, JSON patches, server-side apply, a patch retried after a conflict, dry runs and the
other write options, DeleteOptions and DELETE on a collection; each change audited, a dry run never."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
import pytest
import yaml

from tests.kubenative.test_ray_routes import assert_status, raycluster
from tests.support.processes import Service

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = "/apis/ray.io/v1"
MERGE = {"content-type": "application/merge-patch+json"}
JSON_PATCH = {"content-type": "application/json-patch+json"}
APPLY = {"content-type": "application/apply-patch+yaml"}
INTENT = "ray.io/apiserver-intent"


def on_real(request: pytest.FixtureRequest) -> bool:
    return str(request.node.callspec.params["backend"]).endswith("-real")


async def audit_of(api: httpx.AsyncClient, namespace: str, name: str) -> list[dict[str, Any]]:
    """The audit rows of ``name``, oldest first."""
    answer = await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"name": name, "pageSize": 100})
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["events"]))


async def created(api: httpx.AsyncClient, namespace: str, name: str, **labels: str) -> dict[str, Any]:
    answer = await api.post(f"{ROOT}/namespaces/{namespace}/rayclusters", json=raycluster(name, **labels))
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def requests_seen(backend: Service, since: int) -> tuple[list[dict[str, Any]], int]:
    """What the dev cluster was asked (its request log) from index ``since``, and the index of the next request."""
    kubeconfig = backend.kubeconfig  # type: ignore[attr-defined]
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    async with httpx.AsyncClient(base_url=server) as dev:
        log = (await dev.get("/_devcluster/requests", params={"since": since})).json()
    return log["requests"], log["next"]


async def test_status_subresource_reads_and_writes_only_the_status(
    api: httpx.AsyncClient, namespace: str
) -> None:
    one = f"{ROOT}/namespaces/{namespace}/rayclusters/st"
    made = await created(api, namespace, "st")
    read = await api.get(f"{one}/status")
    assert read.status_code == 200, read.text
    assert read.json()["kind"] == "RayCluster" and read.json()["metadata"]["uid"] == made["metadata"]["uid"]

    # A status PUT takes only the status: the spec and label changes in the same body are not written.
    body = copy.deepcopy(read.json())
    body["status"] = {"state": "ready", "desiredWorkerReplicas": 1}
    body["spec"]["workerGroupSpecs"][0]["replicas"] = 7
    body["metadata"]["labels"]["sneaked"] = "in"
    put = await api.put(f"{one}/status", json=body)
    assert put.status_code == 200, put.text
    assert put.json()["status"] == {"state": "ready", "desiredWorkerReplicas": 1}
    assert put.json()["spec"]["workerGroupSpecs"][0]["replicas"] == 1
    assert "sneaked" not in put.json()["metadata"]["labels"]
    # No intent id can be stamped on a status write: the object keeps the one of its last own change.
    assert put.json()["metadata"]["annotations"][INTENT] == made["metadata"]["annotations"][INTENT]

    merged = await api.patch(f"{one}/status", json={"status": {"desiredWorkerReplicas": 2}}, headers=MERGE)
    assert merged.status_code == 200, merged.text
    assert merged.json()["status"] == {"state": "ready", "desiredWorkerReplicas": 2}
    ops = [{"op": "replace", "path": "/status/desiredWorkerReplicas", "value": 3}]
    patched = await api.patch(f"{one}/status", json=ops, headers=JSON_PATCH)
    assert patched.status_code == 200, patched.text
    # A status patch touching the spec changes nothing there either.
    spec_op = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 9}]
    assert (await api.patch(f"{one}/status", json=spec_op, headers=JSON_PATCH)).status_code == 200

    now = (await api.get(one)).json()
    assert now["status"] == {"state": "ready", "desiredWorkerReplicas": 3}
    assert now["spec"] == made["spec"] and now["metadata"].get("labels") == made["metadata"]["labels"]

    stale = copy.deepcopy(body)  # the resourceVersion read before the writes above
    assert_status(await api.put(f"{one}/status", json=stale), 409, "Conflict")

    rows = await audit_of(api, namespace, "st")
    assert [(r["action"], r["outcome"], r.get("subresource", "")) for r in rows] == [
        ("CREATE", "SUCCESS", ""),
        ("UPDATE", "SUCCESS", "status"),
        ("UPDATE", "SUCCESS", "status"),
        ("UPDATE", "SUCCESS", "status"),
        ("UPDATE", "SUCCESS", "status"),
        ("UPDATE", "FAILURE", "status"),
    ], rows
    detail = (await api.get(f"/apis/v1/audit/{rows[3]['id']}")).json()
    assert detail["spec"] == {"status": {"state": "ready", "desiredWorkerReplicas": 3}}, detail
    assert detail["previous"] == {"status": {"state": "ready", "desiredWorkerReplicas": 2}}, detail
    assert rows[3]["previousResourceVersion"] == merged.json()["metadata"]["resourceVersion"]
    assert rows[3]["resourceVersion"] == patched.json()["metadata"]["resourceVersion"]


async def test_json_patches_apply_as_rfc_6902_says(api: httpx.AsyncClient, namespace: str) -> None:
    one = f"{ROOT}/namespaces/{namespace}/rayclusters/jp"
    await created(api, namespace, "jp")
    ops = [
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 5},
        {"op": "add", "path": "/metadata/labels/tier", "value": "gold"},
        {"op": "test", "path": "/spec/rayVersion", "value": "2.46.0"},
    ]
    patched = await api.patch(one, json=ops, headers=JSON_PATCH)
    assert patched.status_code == 200, patched.text
    assert patched.json()["spec"]["workerGroupSpecs"][0]["replicas"] == 5
    assert patched.json()["metadata"]["labels"]["tier"] == "gold"
    assert (await api.get(one)).json()["spec"]["workerGroupSpecs"][0]["replicas"] == 5

    failing = [{"op": "test", "path": "/spec/rayVersion", "value": "1.0"}, *ops[:1]]
    assert_status(await api.patch(one, json=failing, headers=JSON_PATCH), 422, "Invalid")
    missing = [{"op": "remove", "path": "/spec/nothing/here"}]
    assert_status(await api.patch(one, json=missing, headers=JSON_PATCH), 422, "Invalid")
    assert_status(await api.patch(one, json={"op": "add"}, headers=JSON_PATCH), 400, "BadRequest")
    assert_status(await api.patch(one, json=[{"path": "/x"}], headers=JSON_PATCH), 400, "BadRequest")
    strategic = await api.patch(
        one, json={}, headers={"content-type": "application/strategic-merge-patch+json"}
    )
    assert_status(strategic, 415, "UnsupportedMediaType")
    assert "application/json-patch+json" in strategic.json()["message"]

    rows = await audit_of(api, namespace, "jp")
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("CREATE", "SUCCESS"),
        ("UPDATE", "SUCCESS"),
        ("UPDATE", "FAILURE"),
        ("UPDATE", "FAILURE"),
        ("UPDATE", "FAILURE"),
        ("UPDATE", "FAILURE"),
    ], rows
    detail = (await api.get(f"/apis/v1/audit/{rows[1]['id']}")).json()
    assert detail["spec"]["clusterSpec"]["workerGroupSpec"][0]["replicas"] == 5, detail


async def test_a_patch_is_made_again_after_a_conflict_and_each_attempt_is_audited(
    api: httpx.AsyncClient, namespace: str
) -> None:
    one = f"{ROOT}/namespaces/{namespace}/rayclusters/busy"
    first = await created(api, namespace, "busy")
    conflicts = 0
    for burst in range(4):  # concurrent patches of one object conflict; a few bursts make sure some did
        labels = [f"b{burst}-{i}" for i in range(5)]
        answers = await asyncio.gather(
            *(api.patch(one, json={"metadata": {"labels": {label: "x"}}}, headers=MERGE) for label in labels)
        )
        for answer in answers:
            assert answer.status_code == 200, answer.text  # no caller sees the conflict: each was retried
        assert set(labels) <= set((await api.get(one)).json()["metadata"]["labels"])
        rows = await audit_of(api, namespace, "busy")
        failed = [r for r in rows if r["outcome"] == "FAILURE"]
        assert all(r["code"] == 10 and "made again on the newer version" in r["message"] for r in failed), (
            failed
        )
        assert len([r for r in rows if r["action"] == "UPDATE" and r["outcome"] == "SUCCESS"]) == 5 * (
            burst + 1
        )
        conflicts = len(failed)
        if conflicts:
            break
    assert conflicts, "five concurrent patches never conflicted in four bursts"

    # A patch naming its resourceVersion is not retried: the conflict is the caller's answer, as in Kubernetes.
    stale = {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"], "labels": {"z": "1"}}}
    refused = await api.patch(one, json=stale, headers=MERGE)
    assert_status(refused, 409, "Conflict")
    assert "made again" not in refused.json()["message"]
    rows = await audit_of(api, namespace, "busy")
    assert len([r for r in rows if r["outcome"] == "FAILURE"]) == conflicts + 1
    assert "z" not in (await api.get(one)).json()["metadata"]["labels"]


async def test_dry_runs_change_nothing_and_leave_no_record(
    api: httpx.AsyncClient, backend: Service, namespace: str, request: pytest.FixtureRequest
) -> None:
    base = f"{ROOT}/namespaces/{namespace}/rayclusters"
    dry = {"dryRun": "All"}
    tried = await api.post(base, json=raycluster("ghost"), params=dry)
    assert tried.status_code == 201, tried.text
    assert tried.json()["metadata"]["uid"] and not tried.json()["metadata"].get("resourceVersion")
    assert_status(await api.get(f"{base}/ghost"), 404, "NotFound")

    made = await created(api, namespace, "real")
    one = f"{base}/real"
    version = made["metadata"]["resourceVersion"]
    changed = copy.deepcopy(made)
    changed["metadata"]["labels"]["tier"] = "gold"
    put = await api.put(one, json=changed, params=dry)
    assert put.status_code == 200 and put.json()["metadata"]["labels"]["tier"] == "gold", put.text
    merged = await api.patch(one, json={"metadata": {"labels": {"a": "b"}}}, headers=MERGE, params=dry)
    assert merged.status_code == 200 and merged.json()["metadata"]["labels"]["a"] == "b", merged.text
    ops = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 4}]
    patched = await api.patch(one, json=ops, headers=JSON_PATCH, params=dry)
    assert patched.status_code == 200 and patched.json()["spec"]["workerGroupSpecs"][0]["replicas"] == 4
    status = await api.patch(f"{one}/status", json={"status": {"state": "x"}}, headers=MERGE, params=dry)
    assert status.status_code == 200 and status.json()["status"] == {"state": "x"}, status.text
    # A dry run's answer carries no new intent id: it shows the object as the write would leave it.
    for answer in (put, merged, patched, status):
        assert answer.json()["metadata"]["annotations"][INTENT] == made["metadata"]["annotations"][INTENT]
    deleted = await api.delete(one, params=dry)
    assert deleted.status_code == 200, deleted.text
    deleted_by_body = await api.request("DELETE", one, json={"dryRun": ["All"]})
    assert deleted_by_body.status_code == 200, deleted_by_body.text
    collection = await api.delete(base, params=dry)
    assert collection.status_code == 200 and [o["metadata"]["name"] for o in collection.json()["items"]] == [
        "real"
    ]

    now = await api.get(one)
    assert now.status_code == 200 and now.json()["metadata"]["resourceVersion"] == version
    assert now.json()["spec"] == made["spec"] and "status" not in now.json()

    # Kubernetes refuses any other dryRun value, and so nothing is recorded either.
    bogus = await api.post(base, json=raycluster("bogus"), params={"dryRun": "Yes"})
    assert_status(bogus, 422, "Invalid")
    assert "dryRun: Unsupported value" in bogus.json()["message"]
    assert bogus.json()["details"]["kind"] == "CreateOptions", bogus.json()
    assert_status(await api.get(f"{base}/bogus"), 404, "NotFound")

    assert [(r["action"], r["outcome"]) for r in await audit_of(api, namespace, "real")] == [
        ("CREATE", "SUCCESS")
    ]
    assert await audit_of(api, namespace, "ghost") == []
    assert await audit_of(api, namespace, "bogus") == []


async def test_field_manager_and_validation_reach_kubernetes(
    api: httpx.AsyncClient, backend: Service, namespace: str, request: pytest.FixtureRequest
) -> None:
    base = f"{ROOT}/namespaces/{namespace}/rayclusters"
    query = {"fieldManager": "my-tool", "fieldValidation": "Strict"}
    start = 0 if on_real(request) else (await requests_seen(backend, 0))[1]
    made = await api.post(base, json=raycluster("managed"), params=query)
    assert made.status_code == 201, made.text
    patched = await api.patch(
        f"{base}/managed", json={"metadata": {"labels": {"x": "y"}}}, headers=MERGE, params=query
    )
    assert patched.status_code == 200, patched.text
    if on_real(request):
        managers = {
            m["manager"] for m in (await api.get(f"{base}/managed")).json()["metadata"]["managedFields"]
        }
        assert managers == {"my-tool"}, managers
        # Strict validation refuses a field the CRD does not know (the dev cluster has no schemas to check).
        unknown = raycluster("unknown")
        unknown["spec"]["bogus"] = 1
        refused = await api.post(base, json=unknown, params={"fieldValidation": "Strict"})
        assert_status(refused, 400, "BadRequest")
        assert 'unknown field "spec.bogus"' in refused.json()["message"]
    else:
        log, _ = await requests_seen(backend, start)
        sent = [r["path"] for r in log if r["method"] in ("POST", "PUT", "PATCH")]
        assert sent and all("fieldManager=my-tool" in p and "fieldValidation=Strict" in p for p in sent), sent
    invalid = await api.post(base, json=raycluster("invalid"), params={"fieldValidation": "Loose"})
    assert_status(invalid, 422, "Invalid")
    assert "fieldValidation: Unsupported value" in invalid.json()["message"]


async def test_delete_options_are_passed_on(
    api: httpx.AsyncClient, namespace: str, request: pytest.FixtureRequest
) -> None:
    base = f"{ROOT}/namespaces/{namespace}/rayclusters"
    made = await created(api, namespace, "opts")
    one = f"{base}/opts"

    bogus = await api.request("DELETE", one, json={"propagationPolicy": "Sometimes"})
    assert_status(bogus, 422, "Invalid")
    assert "propagationPolicy: Unsupported value" in bogus.json()["message"]
    stale = {"preconditions": {"resourceVersion": "1"}}
    assert_status(await api.request("DELETE", one, json=stale), 409, "Conflict")
    other_uid = {"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}}
    refused = await api.request("DELETE", one, json=other_uid)
    assert_status(refused, 409, "Conflict")
    assert "Precondition failed: UID in precondition" in refused.json()["message"]
    assert (await api.get(one)).status_code == 200

    fitting = {
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
        "preconditions": {
            "uid": made["metadata"]["uid"],
            "resourceVersion": made["metadata"]["resourceVersion"],
        },
    }
    deleted = await api.request("DELETE", one, json=fitting)
    assert deleted.status_code == 200, deleted.text
    after = await api.get(one)
    if on_real(request):
        # No garbage collector runs beside this kube-apiserver: a foreground deletion waits on its finalizer.
        assert after.status_code == 200, after.text
        assert after.json()["metadata"]["deletionTimestamp"]
        assert "foregroundDeletion" in after.json()["metadata"]["finalizers"]
        assert deleted.json()["metadata"]["deletionTimestamp"]
    else:
        assert_status(after, 404, "NotFound")  # the dev cluster owns nothing: nothing to wait for

    await created(api, namespace, "by-query")
    orphaned = await api.delete(f"{base}/by-query", params={"propagationPolicy": "Orphan"})
    assert orphaned.status_code == 200, orphaned.text
    if on_real(request):
        assert "orphan" in (await api.get(f"{base}/by-query")).json()["metadata"]["finalizers"]
    assert_status(await api.delete(f"{base}/x", params={"gracePeriodSeconds": "soon"}), 400, "BadRequest")

    rows = await audit_of(api, namespace, "opts")
    assert [(r["action"], r["outcome"], r.get("code", 0)) for r in rows] == [
        ("CREATE", "SUCCESS", 0),
        ("DELETE", "FAILURE", 3),
        ("DELETE", "FAILURE", 10),
        ("DELETE", "FAILURE", 10),
        ("DELETE", "SUCCESS", 0),
    ], rows


async def test_delete_on_a_collection_deletes_each_match_audited(
    api: httpx.AsyncClient, namespace: str
) -> None:
    base = f"{ROOT}/namespaces/{namespace}/rayclusters"
    for name in ("c1", "c2", "c3"):
        await created(api, namespace, name, batch="one")
    await created(api, namespace, "keep", batch="two")
    answer = await api.delete(base, params={"labelSelector": "batch=one"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["kind"] == "RayClusterList"
    assert sorted(o["metadata"]["name"] for o in answer.json()["items"]) == ["c1", "c2", "c3"]
    left = (await api.get(base)).json()["items"]
    assert [o["metadata"]["name"] for o in left] == ["keep"]
    for name in ("c1", "c2", "c3"):
        rows = await audit_of(api, namespace, name)
        assert [(r["action"], r["outcome"]) for r in rows][-1] == ("DELETE", "SUCCESS"), rows
        assert rows[-1]["uid"]
    assert [r["action"] for r in await audit_of(api, namespace, "keep")] == ["CREATE"]
    # Nothing matches: an empty list, nothing deleted.
    empty = await api.delete(base, params={"labelSelector": "batch=none"})
    assert empty.status_code == 200 and empty.json()["items"] == []
    # Kubernetes has no deletecollection across namespaces for namespaced kinds.
    assert_status(await api.delete(f"{ROOT}/rayclusters"), 405, "MethodNotAllowed")


async def test_server_side_apply(
    api: httpx.AsyncClient, namespace: str, request: pytest.FixtureRequest
) -> None:
    one = f"{ROOT}/namespaces/{namespace}/rayclusters/applied"
    config = raycluster("applied")
    first = await api.patch(one, content=yaml.safe_dump(config), headers=APPLY, params={"fieldManager": "ci"})
    if not on_real(request):
        # The dev cluster keeps no managedFields, without which an apply cannot be merged faithfully.
        assert_status(first, 415, "UnsupportedMediaType")
        assert "dev cluster" in first.json()["message"]
        assert_status(await api.get(one), 404, "NotFound")
        return
    assert first.status_code == 201, first.text
    assert first.json()["metadata"]["annotations"][INTENT]

    config["spec"]["workerGroupSpecs"][0]["replicas"] = 2
    second = await api.patch(one, json=config, headers=APPLY, params={"fieldManager": "ci"})
    assert second.status_code == 200 and second.json()["spec"]["workerGroupSpecs"][0]["replicas"] == 2

    # A merge patch through the service (another field manager) stamps the intent id too; the next apply is not
    # refused for that annotation, which its configuration sets as well.
    label = await api.patch(
        one, json={"metadata": {"labels": {"x": "y"}}}, headers=MERGE, params={"fieldManager": "ops"}
    )
    assert label.status_code == 200, label.text
    config["metadata"]["labels"]["team"] = "u"
    third = await api.patch(one, json=config, headers=APPLY, params={"fieldManager": "ci"})
    assert third.status_code == 200, third.text
    assert third.json()["metadata"]["labels"] == {"team": "u", "x": "y"}

    # A real conflict (a field another manager owns, set to another value) is Kubernetes' 409, and recorded.
    scaled = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 3}]
    ops = await api.patch(one, json=scaled, headers=JSON_PATCH, params={"fieldManager": "ops"})
    assert ops.status_code == 200, ops.text
    config["spec"]["workerGroupSpecs"][0]["replicas"] = 4
    conflict = await api.patch(one, json=config, headers=APPLY, params={"fieldManager": "ci"})
    assert_status(conflict, 409, "Conflict")
    # The caller's own conflict only: the intent id, which "ops" owns too (its patch was stamped), is not one.
    causes = conflict.json()["details"]["causes"]
    assert [c["field"] for c in causes] == [".spec.workerGroupSpecs"], causes
    assert "apiserver-intent" not in conflict.json()["message"], conflict.json()
    forced = await api.patch(one, json=config, headers=APPLY, params={"fieldManager": "ci", "force": "true"})
    assert forced.status_code == 200 and forced.json()["spec"]["workerGroupSpecs"][0]["replicas"] == 4

    # A dry-run apply changes nothing, records nothing, and shows no change of the intent id.
    config["spec"]["workerGroupSpecs"][0]["replicas"] = 6
    tried = await api.patch(one, json=config, headers=APPLY, params={"fieldManager": "ci", "dryRun": "All"})
    assert tried.status_code == 200 and tried.json()["spec"]["workerGroupSpecs"][0]["replicas"] == 6
    assert tried.json()["metadata"]["annotations"][INTENT] == forced.json()["metadata"]["annotations"][INTENT]
    now = (await api.get(one)).json()
    assert now["metadata"]["resourceVersion"] == forced.json()["metadata"]["resourceVersion"]

    rows = await audit_of(api, namespace, "applied")
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("CREATE", "SUCCESS"),
        ("UPDATE", "SUCCESS"),
        ("UPDATE", "SUCCESS"),
        ("UPDATE", "SUCCESS"),
        ("UPDATE", "SUCCESS"),
        ("UPDATE", "FAILURE"),
        ("UPDATE", "SUCCESS"),
    ], rows
    assert now["metadata"]["annotations"][INTENT] == rows[-1]["id"]


async def test_a_replace_without_a_resource_version_is_refused_as_kubernetes_refuses_it(
    api: httpx.AsyncClient, namespace: str
) -> None:
    base = f"{ROOT}/namespaces/{namespace}/rayclusters"
    assert (await api.post(base, json=raycluster("unversioned"))).status_code == 201
    current = (await api.get(f"{base}/unversioned")).json()
    del current["metadata"]["resourceVersion"]
    current["metadata"]["labels"]["tier"] = "gold"
    refused = await api.put(f"{base}/unversioned", json=current)
    assert_status(refused, 422, "Invalid")
    assert "metadata.resourceVersion" in refused.json()["message"], refused.json()
    assert "tier" not in (await api.get(f"{base}/unversioned")).json()["metadata"]["labels"]
