"""The service on the operator tier: one service process (SQLite) against the session's control plane.

``api``, ``kube`` and ``channel`` shadow the end-to-end fixtures of the same names, so the helpers and the
``namespace`` fixture of tests/conftest.py work here unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config

from tests.support import processes
from tests.support.control_plane import ControlPlane


@pytest.fixture(scope="session")
def operator_service(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[processes.Service]:
    workdir = tmp_path_factory.mktemp("operator-service")
    url = f"sqlite+aiosqlite:///{workdir / 'service.db'}"
    with processes.service(workdir, url, control_plane.kube.kubeconfig) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def api(operator_service: processes.Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=operator_service.url, timeout=30) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def kube(control_plane: ControlPlane) -> AsyncIterator[client.ApiClient]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(control_plane.kube.kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api_client:
        yield api_client


@pytest_asyncio.fixture(loop_scope="session")
async def channel(operator_service: processes.Service) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{operator_service.grpc_port}") as opened:
        await opened.channel_ready()
        yield opened
