"""Pure parts of the updates: template extensions in pod templates and ConfigMaps, template-version records,
and what a cluster patch does to a RayCluster."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from service.converters.cluster import with_template_versions
from service.converters.compute_template import compute_template_from_configmap, compute_template_to_configmap
from service.converters.pod_template import template_resources
from service.errors import InvalidInputError
from service.managers.cluster_updates import apply_update
from service.schemas.common import ClusterSpec
from service.schemas.compute_template import ComputeTemplate
from service.schemas.updates import ClusterUpdate, WorkerGroupPatch

TEMPLATE = ComputeTemplate(name="t", cpu=2, memory=4, memory_unit="Gi", resource_version="7")


def test_limits_differ_from_requests_only_when_given() -> None:
    assert template_resources(TEMPLATE)["limits"] == {"cpu": "2", "memory": "4Gi"}
    rich = ComputeTemplate(name="t", cpu=2, memory=4, memory_unit="Gi", cpu_limit=3, memory_limit=8)
    assert template_resources(rich) == {
        "limits": {"cpu": "3", "memory": "8Gi"},
        "requests": {"cpu": "2", "memory": "4Gi"},
    }


def test_extensions_round_trip_through_the_configmap_and_are_absent_when_unset() -> None:
    plain = compute_template_to_configmap(TEMPLATE, "ns")
    assert not {"node_selector", "affinity", "cpu_limit", "memory_limit"} & set(plain["data"])
    rich = ComputeTemplate(
        name="t", cpu=2, memory=4, node_selector={"pool": "a"}, affinity={"nodeAffinity": {}}, cpu_limit=4
    )
    cm = compute_template_to_configmap(rich, "ns")
    cm["metadata"]["resourceVersion"] = "9"
    back = compute_template_from_configmap(cm)
    assert (back.node_selector, back.affinity, back.cpu_limit, back.resource_version) == (
        {"pool": "a"},
        {"nodeAffinity": {}},
        4,
        "9",
    )


def test_template_versions_are_kept_per_group() -> None:
    first = with_template_versions({}, [("headgroup", "t"), ("w", "t")], {"t": TEMPLATE})
    versions = json.loads(first["ray.io/compute-template-versions"])
    assert versions == {"headgroup": "t@7", "w": "t@7"}
    newer = ComputeTemplate(name="t", cpu=2, memory=4, resource_version="8")
    second = with_template_versions(first, [("x", "t")], {"t": newer}, removed=["w"])
    assert json.loads(second["ray.io/compute-template-versions"]) == {"headgroup": "t@7", "x": "t@8"}
    assert with_template_versions({"a": "b"}, [("w", "t")], {}) == {"a": "b"}


def cluster() -> dict[str, Any]:
    return {
        "metadata": {"name": "c", "annotations": {}},
        "spec": {
            "rayVersion": "2.46.0",
            "workerGroupSpecs": [{"groupName": "w", "replicas": 1, "minReplicas": 1, "maxReplicas": 5}],
        },
    }


async def resolve(spec: ClusterSpec) -> Mapping[str, ComputeTemplate]:
    return {"t": TEMPLATE}


def patched(patch: ClusterUpdate) -> dict[str, Any]:
    import datetime as dt

    return asyncio.run(apply_update(cluster(), patch, resolve, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))


def test_scale_add_remove() -> None:
    scaled = patched(ClusterUpdate(worker_group_spec=[WorkerGroupPatch(group_name="w", replicas=4)]))
    assert scaled["spec"]["workerGroupSpecs"][0]["replicas"] == 4
    assert scaled["metadata"]["annotations"]["ray.io/update-timestamp"] == "2026-01-01 00:00:00 +0000 UTC"
    added = patched(
        ClusterUpdate(
            worker_group_spec=[WorkerGroupPatch(group_name="n", compute_template="t", max_replicas=2)],
            remove_worker_groups=["w"],
        )
    )
    (group,) = added["spec"]["workerGroupSpecs"]
    assert (group["groupName"], group["replicas"], group["maxReplicas"]) == ("n", 0, 2)
    assert json.loads(added["metadata"]["annotations"]["ray.io/compute-template-versions"]) == {"n": "t@7"}


@pytest.mark.parametrize(
    "patch",
    [
        ClusterUpdate(),
        ClusterUpdate(worker_group_spec=[WorkerGroupPatch(group_name="w", replicas=9)]),
        ClusterUpdate(worker_group_spec=[WorkerGroupPatch(group_name="w", max_replicas=0)]),
        ClusterUpdate(worker_group_spec=[WorkerGroupPatch(group_name="headgroup", replicas=1)]),
        ClusterUpdate(remove_worker_groups=["x"]),
    ],
)
def test_refusals(patch: ClusterUpdate) -> None:
    with pytest.raises(InvalidInputError):
        patched(patch)
