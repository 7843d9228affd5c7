"""Retention: a service told to keep rows for under a second prunes the audit trail and history by itself.

The control (default settings keep everything) is every other audit and history test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes_asyncio import client, config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e import payloads
from tests.support import processes

pytestmark = pytest.mark.asyncio(loop_scope="session")

RETENTION = {"KUBERAY_APISERVER_RETENTION_DAYS": "0.00001", "KUBERAY_APISERVER_RETENTION_INTERVAL": "0.2"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pruning" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        dbs = ["sqlite", "postgres"] if chosen == "all" else [chosen]
        metafunc.parametrize("pruning", dbs, indirect=True)


@pytest.fixture
def pruning(
    request: pytest.FixtureRequest, workdir: Path, dev_kubeconfig: Path
) -> Iterator[processes.Service]:
    """A service of its own with a retention of 0.864 s, pruning every 0.2 s."""
    name = f"retention_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        url = processes.create_database(request.getfixturevalue("postgres_url"), name)
    else:
        url = f"sqlite+aiosqlite:///{workdir / f'{name}.db'}"
    service_dir = workdir / name
    service_dir.mkdir()
    with processes.service(service_dir, url, dev_kubeconfig, False, env=RETENTION) as running:
        running.database_url = url  # type: ignore[attr-defined]
        yield running


async def live_history_rows(database_url: str, namespace: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = text("SELECT count(*) FROM resources WHERE namespace = :ns AND deleted_at IS NULL")
            return int((await conn.execute(query, {"ns": namespace})).scalar_one())
    finally:
        await engine.dispose()


async def test_old_rows_are_pruned(pruning: processes.Service, dev_kubeconfig: Path) -> None:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(dev_kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as kube:
        await client.CoreV1Api(kube).create_namespace({"metadata": {"name": namespace}})

    async with httpx.AsyncClient(base_url=pruning.url, timeout=30) as api:
        templates = f"/apis/v1/namespaces/{namespace}/compute_templates"
        for name in ("kept", "gone"):
            response = await api.post(templates, json=payloads.template(namespace, name, user="retention"))
            assert response.status_code == 200, response.text
        assert (await api.delete(f"{templates}/gone")).status_code == 200

        audit, history = ["not pruned yet"], ["not pruned yet"]
        for _ in range(100):
            await asyncio.sleep(0.2)
            audit = (await api.get(f"/apis/v1/namespaces/{namespace}/audit")).json()["events"]
            listed = (await api.get(templates, params={"includeDeleted": "true"})).json()["computeTemplates"]
            history = [t for t in listed if "deletedAt" in t]
            if not audit and not history:
                break
        assert audit == [] and history == []
        # Only closed history goes: the live template keeps its record, and stays listed.
        assert [t["name"] for t in listed] == ["kept"] and listed[0]["user"] == "retention"
    assert await live_history_rows(pruning.database_url, namespace) == 1  # type: ignore[attr-defined]
    assert "pruned" in pruning.log()
