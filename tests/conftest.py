"""Shared fixtures: real processes (dev cluster, kube-apiserver, PostgreSQL, the service) and real clients.

The end-to-end tests run once per backend pair (database x Kubernetes): ``--db`` picks sqlite, postgres or both,
``--kube`` the dev cluster, a real kube-apiserver (built by ``hack/build-kube-apiserver.sh``) or both. Defaults:
everything. Without the kube-apiserver binaries the "real" runs skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config

from tests.support import processes
from tests.support.control_plane import ControlPlane, find_control_plane_binaries
from tests.support.kube_apiserver import RealKubeApiServer, find_binaries
from tests.support.tools import crd_dir

# Users of the real kube-apiserver besides its admin: one with no permissions at all, and the service account
# whose permissions are exactly the chart's ClusterRole (service.kube.rbac.REQUIRED_RULES).
NO_RBAC_USER = "no-rbac-user"
SERVICE_USER = "system:serviceaccount:ray-system:kuberay-apiserver"
# The browser origin the suite's services allow (CORS).
CORS_ORIGIN = "https://ray-ui.example.com"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", default="all", choices=["sqlite", "postgres", "all"], help="database backends")
    parser.addoption("--kube", default="all", choices=["dev", "real", "all"], help="Kubernetes backends")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen_db, chosen_kube = metafunc.config.getoption("--db"), metafunc.config.getoption("--kube")
        dbs = ["sqlite", "postgres"] if chosen_db == "all" else [chosen_db]
        kubes = ["dev", "real"] if chosen_kube == "all" else [chosen_kube]
        params = [f"{db}-{kube}" for kube in kubes for db in dbs]
        metafunc.parametrize("backend", params, indirect=True, scope="session")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: CI must never pass by silently skipping the tests of a real dependency."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealKubeApiServer]:
    """One etcd + kube-apiserver with the Ray CRDs for the whole session."""
    if find_binaries() is None:
        unavailable("kube-apiserver/kubectl/etcd not built: run `make kube-apiserver`")
    server = RealKubeApiServer(tmp_path_factory.mktemp("kube-apiserver"), crd_dir())
    server.add_token(NO_RBAC_USER, secrets.token_urlsafe(24))
    server.add_token(SERVICE_USER, secrets.token_urlsafe(24))
    # Callers of the authentication tests (tests/auth): their rights come from Roles the tests create.
    server.add_token("alice", secrets.token_urlsafe(24), ["ray-devs"])
    server.add_token("bob", secrets.token_urlsafe(24), ["ray-viewers"])
    server.start()
    server.kubectl("create", "namespace", "ray-system", check=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """kube-apiserver + scheduler + controller-manager + kwok fake nodes + the KubeRay operator, for the session.

    Separate from ``real_kube`` (which starts in seconds) and started only for tests marked ``operator``.
    """
    if find_binaries() is None or find_control_plane_binaries() is None:
        unavailable("control plane not built: run `make control-plane`")
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"), crd_dir())
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(autouse=True)
def _operator_tier(request: pytest.FixtureRequest) -> None:
    """The ``operator`` marker is the opt-in: such a test gets the control plane started before it runs."""
    if request.node.get_closest_marker("operator") is not None:
        request.getfixturevalue("control_plane")


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
    db, kube = request.param.split("-")
    if kube == "real":
        kubeconfig: Path = request.getfixturevalue("real_kube").kubeconfig
    else:
        kubeconfig = request.getfixturevalue("dev_kubeconfig")
    if db == "postgres":
        url = processes.create_database(
            request.getfixturevalue("postgres_url"), f"e2e_{uuid.uuid4().hex[:8]}"
        )
    else:
        url = f"sqlite+aiosqlite:///{workdir / f'e2e-{uuid.uuid4().hex[:8]}.db'}"
    service_dir = workdir / request.param
    service_dir.mkdir(exist_ok=True)
    with processes.service(
        service_dir, url, kubeconfig, env={"KUBERAY_APISERVER_CORS_ALLOW_ORIGIN": CORS_ORIGIN}
    ) as running:
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
