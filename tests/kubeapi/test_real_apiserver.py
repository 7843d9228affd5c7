"""Checks against a real kube-apiserver + etcd on loopback (see tests/support/kube_apiserver.py).

Build the binaries once with ``hack/build-kube-apiserver.sh``. Without them these tests skip locally but fail
under ``CI=true``: CI must never pass by silently skipping the only tests that talk to a real API server.
"""

from __future__ import annotations

import json
import pathlib
import re
import secrets
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from tests.conftest import NO_RBAC_USER
from tests.support.kube_apiserver import RealKubeApiServer, find_binaries, pinned_kube_version
from tests.support.tools import pin

pytestmark = pytest.mark.kubeapi

RAY_GROUP, RAY_VERSION = "ray.io", "v1"


@pytest.fixture(scope="module")
def kube(real_kube: RealKubeApiServer) -> RealKubeApiServer:
    """The session's real kube-apiserver (see tests/conftest.py)."""
    return real_kube


async def _api_client(kubeconfig: pathlib.Path) -> ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return ApiClient(configuration=cfg)


@pytest.fixture
async def admin_api(kube: RealKubeApiServer) -> AsyncIterator[ApiClient]:
    async with await _api_client(kube.kubeconfig) as api:
        yield api


@pytest.fixture
def namespace(kube: RealKubeApiServer) -> str:
    """A fresh namespace per test. Never deleted: without a controller-manager it would never finish
    terminating, and the whole etcd is thrown away with the module's server anyway."""
    name = f"t-{secrets.token_hex(4)}"
    kube.kubectl("create", "namespace", name, check=True)
    return name


def _raycluster(name: str) -> dict[str, Any]:
    # Smallest object the v1 schema accepts: headGroupSpec.template is the only required field.
    return {
        "apiVersion": f"{RAY_GROUP}/{RAY_VERSION}",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.41.0"}]}
                },
            }
        },
    }


async def test_version_is_the_pinned_release(admin_api: ApiClient) -> None:
    info = await client.VersionApi(admin_api).get_code()
    assert info.git_version == pinned_kube_version()


def test_etcd_is_the_pinned_release(kube: RealKubeApiServer) -> None:
    # Not Debian's 3.4: kube-apiserver 1.34's watch cache needs RequestWatchProgress (etcd >= 3.5).
    binaries = find_binaries()
    assert binaries is not None
    output = subprocess.run(
        [str(binaries[2]), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"^etcd Version: (\S+)$", output, re.MULTILINE)
    assert found is not None, output
    assert f"v{found.group(1)}" == pin("ETCD_VERSION")


async def test_ray_crds_are_served(admin_api: ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(admin_api)
    created = await custom.create_namespaced_custom_object(
        RAY_GROUP, RAY_VERSION, namespace, "rayclusters", _raycluster("demo")
    )
    assert created["metadata"]["uid"]

    fetched = await custom.get_namespaced_custom_object(
        RAY_GROUP, RAY_VERSION, namespace, "rayclusters", "demo"
    )
    assert fetched["metadata"]["uid"] == created["metadata"]["uid"]
    container = fetched["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "rayproject/ray:2.41.0"

    for plural in ("rayjobs", "rayservices"):
        listed = await custom.list_namespaced_custom_object(RAY_GROUP, RAY_VERSION, namespace, plural)
        assert listed["items"] == []


async def test_crd_schema_is_enforced(admin_api: ApiClient, namespace: str) -> None:
    # The point of a real server: structural-schema validation that a fake would not do.
    body = _raycluster("invalid")
    del body["spec"]["headGroupSpec"]
    with pytest.raises(ApiException) as err:
        await client.CustomObjectsApi(admin_api).create_namespaced_custom_object(
            RAY_GROUP, RAY_VERSION, namespace, "rayclusters", body
        )
    assert err.value.status == 422
    assert "headGroupSpec" in str(err.value.body)


async def test_user_without_rbac_is_forbidden(kube: RealKubeApiServer, namespace: str) -> None:
    async with await _api_client(kube.kubeconfig_for(NO_RBAC_USER)) as api:
        with pytest.raises(ApiException) as err:
            await client.CustomObjectsApi(api).list_namespaced_custom_object(
                RAY_GROUP, RAY_VERSION, namespace, "rayclusters"
            )
    assert err.value.status == 403
    assert NO_RBAC_USER in str(err.value.body)


def test_kubectl_server_side_dry_run(kube: RealKubeApiServer, namespace: str) -> None:
    result = kube.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-o",
        "name",
        "-f",
        "-",
        input=json.dumps(_raycluster("dry-run")),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "raycluster.ray.io/dry-run"
    # Dry run: nothing was stored.
    assert kube.kubectl("get", "-n", namespace, "rayclusters", "-o", "name").stdout == ""
