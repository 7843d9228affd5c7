"""The official Python Kubernetes client (``kubernetes`` from PyPI) pointed at the service: create, get, list,
merge patch and delete of a RayCluster, each change then in the audit trail with its user."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import kubernetes
import pytest

from tests.kubenative.test_ray_routes import raycluster
from tests.support.processes import Service

pytestmark = pytest.mark.asyncio(loop_scope="session")
T = TypeVar("T")


async def test_custom_objects_api_through_the_service(
    api: httpx.AsyncClient, backend: Service, namespace: str
) -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = backend.url
    with kubernetes.client.ApiClient(configuration) as client:
        objects = kubernetes.client.CustomObjectsApi(client)

        async def call(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
            return await asyncio.to_thread(method, *args, **kwargs)

        ray = ("ray.io", "v1", namespace, "rayclusters")
        body = raycluster("by-python", **{"ray.io/user": "py-user"})
        created = await call(objects.create_namespaced_custom_object, *ray, body)
        assert created["metadata"]["uid"], created
        got = await call(objects.get_namespaced_custom_object, *ray, "by-python")
        assert got["metadata"]["uid"] == created["metadata"]["uid"]
        listed = await call(objects.list_namespaced_custom_object, *ray, label_selector="ray.io/user=py-user")
        assert [o["metadata"]["name"] for o in listed["items"]] == ["by-python"], listed
        patched = await call(
            objects.patch_namespaced_custom_object,
            *ray,
            "by-python",
            {"metadata": {"labels": {"tier": "gold"}}},
        )
        assert patched["metadata"]["labels"] == {"team": "t", "ray.io/user": "py-user", "tier": "gold"}
        await call(objects.delete_namespaced_custom_object, *ray, "by-python")
        with pytest.raises(kubernetes.client.ApiException) as missing:
            await call(objects.get_namespaced_custom_object, *ray, "by-python")
        assert missing.value.status == 404

    # Authentication is off here: no verified user (tests/auth/test_native_auth.py runs this with one).
    audit = (await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"name": "by-python"})).json()
    changes = sorted((e["action"], e["outcome"]) for e in audit["events"])
    assert changes == [("CREATE", "SUCCESS"), ("DELETE", "SUCCESS"), ("UPDATE", "SUCCESS")], audit


def drive_ray_cluster(url: str, namespace: str, name: str, token: str | None = None) -> None:
    """Create, get, list, merge patch and delete one RayCluster with the official client, against ``url``."""
    configuration = kubernetes.client.Configuration()
    configuration.host = url
    if token is not None:
        configuration.api_key = {"authorization": token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
    with kubernetes.client.ApiClient(configuration) as client:
        objects = kubernetes.client.CustomObjectsApi(client)
        ray = ("ray.io", "v1", namespace, "rayclusters")
        created = objects.create_namespaced_custom_object(*ray, raycluster(name))
        assert (
            objects.get_namespaced_custom_object(*ray, name)["metadata"]["uid"] == created["metadata"]["uid"]
        )
        listed = objects.list_namespaced_custom_object(*ray)
        assert name in [o["metadata"]["name"] for o in listed["items"]], listed
        patched = objects.patch_namespaced_custom_object(
            *ray, name, {"metadata": {"labels": {"tier": "gold"}}}
        )
        assert patched["metadata"]["labels"]["tier"] == "gold"
        objects.delete_namespaced_custom_object(*ray, name)
