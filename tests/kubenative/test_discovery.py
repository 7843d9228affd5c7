"""Discovery through the service names only what it serves, so clients never stumble on a version it does not
route (the Ray CRDs of a real cluster still serve v1alpha1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.kubenative.test_kubectl import kubectl
from tests.support.processes import Service

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_ray_group_offers_v1_only(api: httpx.AsyncClient) -> None:
    groups = await api.get("/apis")
    assert groups.status_code == 200, groups.text
    (ray,) = groups.json()["groups"]
    assert ray["name"] == "ray.io"
    assert ray["versions"] == [{"groupVersion": "ray.io/v1", "version": "v1"}], ray
    assert ray["preferredVersion"]["version"] == "v1"
    group = await api.get("/apis/ray.io")
    assert group.status_code == 200, group.text
    assert [v["version"] for v in group.json()["versions"]] == ["v1"], group.json()
    resources = await api.get("/apis/ray.io/v1")
    assert resources.status_code == 200, resources.text
    names = {r["name"] for r in resources.json()["resources"]}
    assert {"rayclusters", "rayjobs", "rayservices"} <= names, names
    for name in names:
        assert name.split("/")[0] in {"rayclusters", "rayjobs", "rayservices"}, name


async def test_kubectl_discovers_without_complaint(backend: Service, namespace: str, tmp_path: Path) -> None:
    listed = await asyncio.to_thread(
        kubectl, backend, tmp_path, "-n", namespace, "get", "rayclusters,rayjobs"
    )
    assert listed.returncode == 0, listed.stderr
    assert "couldn't get resource list" not in listed.stderr, listed.stderr
    assert "server could not find" not in listed.stderr, listed.stderr
