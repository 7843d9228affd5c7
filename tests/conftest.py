"""Shared fixtures: real processes (dev cluster, PostgreSQL, the service) and real clients.

The end-to-end tests run once per backend pair (database x Kubernetes): ``--db`` picks sqlite, postgres or both
(default both); the Kubernetes side is the dev cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config

from tests.support import processes


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db", default="all", choices=["sqlite", "postgres", "all"], help="database backends to test"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        dbs = ["sqlite", "postgres"] if chosen == "all" else [chosen]
        metafunc.parametrize("backend", [f"{db}-dev" for db in dbs], indirect=True, scope="session")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="session")
def dev_kubeconfig(workdir: Path) -> Iterator[Path]:
    with processes.dev_cluster(workdir) as kubeconfig:
        yield kubeconfig


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with processes.postgres() as url:
        yield url


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest, workdir: Path) -> Iterator[processes.Service]:
    db, _kube = request.param.split("-")
    kubeconfig: Path = request.getfixturevalue("dev_kubeconfig")
    if db == "postgres":
        url = processes.create_database(
            request.getfixturevalue("postgres_url"), f"e2e_{uuid.uuid4().hex[:8]}"
        )
    else:
        url = f"sqlite+aiosqlite:///{workdir / f'e2e-{uuid.uuid4().hex[:8]}.db'}"
    service_dir = workdir / request.param
    service_dir.mkdir(exist_ok=True)
    with processes.service(service_dir, url, kubeconfig) as running:
        running.kubeconfig = kubeconfig  # type: ignore[attr-defined]
        running.database_url = url  # type: ignore[attr-defined]
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def api(backend: processes.Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def kube(backend: processes.Service) -> AsyncIterator[client.ApiClient]:
    """A Kubernetes client on the same cluster the service uses, for setting state behind its back."""
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(backend.kubeconfig), client_configuration=cfg)  # type: ignore[attr-defined]
    async with client.ApiClient(configuration=cfg) as api_client:
        yield api_client


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(kube: client.ApiClient) -> str:
    """A fresh namespace per test (never waited on for deletion)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await client.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    return name
