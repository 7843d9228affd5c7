"""Killing the service at any moment loses no record: every object the API made has its SUCCESS row and its
history, every SUCCESS row has its object, and no row stays PENDING once the reconciler has run.

Each round starts the real server process, fires a burst of concurrent creates, updates and deletes of every
kind, SIGKILLs the process at a random moment inside the burst, restarts it on the same database and Kubernetes,
waits for the reconciler, and compares the database with what Kubernetes holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client, config
from sqlalchemy import select

from service.db.engine import create_engine
from service.db.models import AuditEventRow, ResourceRow
from tests.e2e import payloads
from tests.support import processes

ROUNDS = 3  # per database and Kubernetes: 6 kill points on each database
INTENT = "ray.io/apiserver-intent"
KINDS = {  # API collection -> (audit resource, Kubernetes plural)
    "compute_templates": ("computeTemplates", "configmaps"),
    "clusters": ("clusters", "rayclusters"),
    "jobs": ("jobs", "rayjobs"),
    "services": ("services", "rayservices"),
}
# Short bounds so the reconciler judges interrupted changes within seconds of the restart.
ENV = {
    "KUBERAY_APISERVER_REQUEST_TIMEOUT": "2.5",
    "KUBERAY_APISERVER_KUBE_TIMEOUT": "1.5",
    "KUBERAY_APISERVER_RECONCILE_INTERVAL": "0.5",
}


@pytest.fixture(params=["sqlite-dev", "postgres-dev", "sqlite-real", "postgres-real"])
def combo(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    db, kube = request.param.split("-")
    kubeconfig: Path = (
        request.getfixturevalue("real_kube").kubeconfig
        if kube == "real"
        else request.getfixturevalue("dev_kubeconfig")
    )
    if db == "postgres":
        url = processes.create_database(
            request.getfixturevalue("postgres_url"), f"crash_{uuid.uuid4().hex[:8]}"
        )
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    return url, kubeconfig


def test_sigkill_during_a_burst_loses_no_record(combo: tuple[str, Path], tmp_path: Path) -> None:
    url, kubeconfig = combo
    rng = random.Random()
    kill_points = []
    interrupted = 0
    for round_number in range(ROUNDS):
        namespace = f"crash-{uuid.uuid4().hex[:8]}"
        asyncio.run(_create_namespace(kubeconfig, namespace))
        service = processes.start_service(tmp_path, url, kubeconfig, False, env=ENV)
        try:
            asyncio.run(_setup(service.url, namespace))
            # Killed once a random share of the burst has been answered: the rest is in flight, at every stage.
            kill_after = rng.randint(1, 24)
            kill_points.append(kill_after)
            asyncio.run(_burst_then_kill(service, namespace, kill_after))
        finally:
            processes.stop(service.process)
        restarted = processes.start_service(tmp_path, url, kubeconfig, False, env=ENV)
        try:
            asyncio.run(_wait_settled(restarted.url, namespace))
            asyncio.run(
                _compare(
                    url, kubeconfig, namespace, f"round {round_number} (killed after {kill_after} answers)"
                )
            )
        finally:
            processes.stop(restarted.process)
        interrupted += _settled_by_reconciler(restarted.log())
    print(
        f"kill points (answers before the kill): {kill_points}; changes settled after the restart: {interrupted}"
    )
    # The kills must have landed inside changes, or this test proved nothing.
    assert interrupted > 0


def _settled_by_reconciler(log: str) -> int:
    total = 0
    for line in log.splitlines():
        if '"reconciled records"' in line:
            total += json.loads(line).get("settled", 0)
    return total


async def _create_namespace(kubeconfig: Path, namespace: str) -> None:
    async with await _kube(kubeconfig) as api:
        await client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})


async def _kube(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(configuration=cfg)


async def _setup(base: str, namespace: str) -> None:
    """What the burst updates and deletes, created before it (and never killed)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as api:
        prefix = f"/apis/v1/namespaces/{namespace}"
        assert (
            await api.post(f"{prefix}/compute_templates", json=payloads.template(namespace, "base"))
        ).status_code == 200
        for index in range(3):
            for kind, body in (
                ("services", payloads.service(namespace, f"old-svc-{index}", "base")),
                ("clusters", payloads.cluster(namespace, f"old-cl-{index}", "base")),
                ("compute_templates", payloads.template(namespace, f"old-tpl-{index}")),
            ):
                response = await api.post(f"{prefix}/{kind}", json=body)
                assert response.status_code == 200, response.text


async def _burst_then_kill(service: processes.Service, namespace: str, kill_after: int) -> None:
    prefix = f"/apis/v1/namespaces/{namespace}"
    calls: list[tuple[str, str, Any]] = []
    for index in range(6):
        calls += [
            ("POST", f"{prefix}/compute_templates", payloads.template(namespace, f"tpl-{index}")),
            ("POST", f"{prefix}/clusters", payloads.cluster(namespace, f"cl-{index}", "base")),
            ("POST", f"{prefix}/jobs", payloads.job(namespace, f"job-{index}", "base")),
        ]
    for index in range(3):
        calls += [
            ("POST", f"{prefix}/services", payloads.service(namespace, f"svc-{index}", "base")),
            (
                "PUT",
                f"{prefix}/services/old-svc-{index}",
                payloads.service(namespace, f"old-svc-{index}", "base"),
            ),
            ("DELETE", f"{prefix}/clusters/old-cl-{index}", None),
            ("DELETE", f"{prefix}/compute_templates/old-tpl-{index}", None),
        ]
    random.shuffle(calls)
    limits = httpx.Limits(max_connections=len(calls))
    async with httpx.AsyncClient(base_url=service.url, timeout=10, limits=limits) as api:

        async def call(method: str, path: str, body: Any) -> None:
            with contextlib.suppress(httpx.HTTPError):  # the process died under it
                await api.request(method, path, json=body)

        tasks = [asyncio.create_task(call(*c)) for c in calls]
        for answered in asyncio.as_completed(tasks):
            await answered
            kill_after -= 1
            if kill_after <= 0:
                break
        service.process.send_signal(signal.SIGKILL)
        service.process.wait()
        await asyncio.gather(*tasks)


async def _wait_settled(base: str, namespace: str, bound: float = 40) -> None:
    deadline = time.monotonic() + bound
    async with httpx.AsyncClient(base_url=base, timeout=10) as api:
        while True:
            pending = (
                await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"outcome": "PENDING"})
            ).json()
            if not pending["events"]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"rows still PENDING after {bound}s: {pending['events']}")
            await asyncio.sleep(0.5)


async def _objects(kubeconfig: Path, namespace: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of the four kinds in the namespace, by (audit resource, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    async with await _kube(kubeconfig) as api:
        for resource, plural in KINDS.values():
            if plural == "configmaps":
                items = (await client.CoreV1Api(api).list_namespaced_config_map(namespace)).to_dict()["items"]
                items = [
                    {
                        "metadata": {
                            "name": i["metadata"]["name"],
                            "uid": i["metadata"]["uid"],
                            "annotations": i["metadata"].get("annotations") or {},
                        }
                    }
                    for i in items
                ]
            else:
                listed = await client.CustomObjectsApi(api).list_namespaced_custom_object(
                    "ray.io", "v1", namespace, plural
                )
                items = listed["items"]
            for item in items:
                found[(resource, item["metadata"]["name"])] = item["metadata"]
    return found


async def _compare(url: str, kubeconfig: Path, namespace: str, where: str) -> None:
    objects = {
        key: meta
        for key, meta in (await _objects(kubeconfig, namespace)).items()
        if key[1] != "kube-root-ca.crt"
    }
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            events = (
                await conn.execute(
                    select(AuditEventRow)
                    .where(AuditEventRow.namespace == namespace)
                    .order_by(AuditEventRow.id)
                )
            ).all()
            live = (
                await conn.execute(
                    select(ResourceRow).where(
                        ResourceRow.namespace == namespace, ResourceRow.deleted_at.is_(None)
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert not [e for e in events if e.outcome == "PENDING"], where
    by_id = {str(e.id): e for e in events}
    history = {(row.resource, row.name): row for row in live}
    # Every object the API made carries the id of a SUCCESS row that names it, and has its live history row.
    for (resource, name), meta in objects.items():
        intent = (meta.get("annotations") or {}).get(INTENT)
        assert intent, f"{where}: {resource}/{name} exists without the id of its change"
        event = by_id.get(intent)
        assert event is not None and event.outcome == "SUCCESS", (
            f"{where}: {resource}/{name}: {event and event.outcome}"
        )
        assert (event.resource, event.name) == (resource, name), where
        row = history.get((resource, name))
        assert row is not None and row.uid == meta["uid"], (
            f"{where}: {resource}/{name} has no live history row"
        )
    # Every SUCCESS row is true: the last successful change of each name decides whether its object exists.
    last: dict[tuple[str, str], Any] = {}
    for event in events:
        if event.outcome == "SUCCESS":
            last[(event.resource, event.name)] = event
    for key, event in last.items():
        if event.action == "DELETE":
            assert key not in objects, f"{where}: {key} deleted (SUCCESS) but still there"
        else:
            assert key in objects and objects[key]["uid"] == event.uid, (
                f"{where}: {key} SUCCESS without its object"
            )
    # And no history row claims an object that is gone.
    for key, row in history.items():
        assert key in objects and objects[key]["uid"] == row.uid, (
            f"{where}: live history row of a vanished {key}"
        )
