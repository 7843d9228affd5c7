"""RayService conversion: API RayService -> CR (upstream 6.4, 6.5), back (7.3), and serve V1 -> serveConfigV2."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml

from service.converters.errors import BuildError
from service.converters.service import (
    serve_graph_to_config_v2,
    service_from_cr,
    service_to_cr,
    service_update_cr,
)
from service.schemas.base import convert, decode, to_builtins
from service.schemas.common import Event
from service.schemas.service import RayService, ServeDeploymentGraphSpec
from tests.support.crd_schema import CRValidationError, validate_cr
from tests.unit.golden import as_created, check_json, check_yaml, load_templates, read_request

NOW = dt.datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
LATER = dt.datetime(2025, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
TEMPLATES = load_templates()
CLUSTER_SPEC = {"headGroupSpec": {"computeTemplate": "default-template", "rayStartParams": {"a": "b"}}}
SERVE = "applications:\n- name: app\n  import_path: m:app\n"


def service_of(**fields: Any) -> RayService:
    return convert({"name": "s", "user": "u", "clusterSpec": CLUSTER_SPEC, **fields}, RayService)


def build(**fields: Any) -> dict[str, Any]:
    return service_to_cr(service_of(**fields), "ns", TEMPLATES, NOW)


@pytest.mark.parametrize("case", ["service_v2", "service_v1_graph"])
def test_golden(case: str) -> None:
    cr = service_to_cr(decode(read_request(case), RayService), "ray-system", TEMPLATES, NOW)
    check_yaml(f"{case}.cr.yaml", cr)
    validate_cr(cr)
    check_json(f"{case}.response.json", to_builtins(service_from_cr(as_created(cr), [], None, [])))


def test_e2e_fields_round_trip() -> None:
    """Upstream's e2e compares name, namespace, user, version, serveConfigV2 and both thresholds."""
    sent = json.loads(read_request("service_v2"))
    cr = as_created(service_to_cr(decode(json.dumps(sent), RayService), "ray-system", TEMPLATES, NOW))
    got = to_builtins(service_from_cr(cr, [], None, []))
    for key in ("name", "namespace", "user", "version", "serveConfigV2"):
        assert got[key] == sent[key]
    assert got["serviceUnhealthySecondThreshold"] == 10
    assert got["deploymentUnhealthySecondThreshold"] == 20
    expected_spec = to_builtins(decode(json.dumps(sent), RayService))["clusterSpec"]
    for group in [expected_spec["headGroupSpec"], *expected_spec["workerGroupSpec"]]:
        group["environment"] = {}
    assert got["clusterSpec"] == expected_spec


def test_metadata_and_spec() -> None:
    cr = build(serveConfigV2=SERVE, version="2.46.0")
    assert cr["apiVersion"] == "ray.io/v1"
    assert cr["kind"] == "RayService"
    assert cr["metadata"] == {
        "name": "s",
        "namespace": "ns",
        "labels": {
            "ray.io/user": "u",
            "app.kubernetes.io/name": "kuberay",
            "app.kubernetes.io/managed-by": "kuberay-apiserver",
        },
        "annotations": {"ray.io/creation-timestamp": "2025-01-02 03:04:05.123456 +0000 UTC"},
    }
    spec = cr["spec"]
    assert spec["serveConfigV2"] == SERVE
    assert spec["rayClusterConfig"]["rayVersion"] == "2.46.0"
    head = spec["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert [p["name"] for p in head["ports"]][-2:] == ["dashboard-agent", "serve"]
    assert "serviceUnhealthySecondThreshold" not in spec
    assert "deploymentUnhealthySecondThreshold" not in spec


@pytest.mark.parametrize(("service", "deployment"), [(5, 0), (0, 7), (3, 4)])
def test_thresholds_only_when_positive(service: int, deployment: int) -> None:
    spec = build(
        serveConfigV2=SERVE,
        serviceUnhealthySecondThreshold=service,
        deploymentUnhealthySecondThreshold=deployment,
    )["spec"]
    assert spec.get("serviceUnhealthySecondThreshold") == (service or None)
    assert spec.get("deploymentUnhealthySecondThreshold") == (deployment or None)
    back = service_from_cr(as_created({"metadata": {}, "spec": spec}), [], None, [])
    assert back.service_unhealthy_second_threshold == service
    assert back.deployment_unhealthy_second_threshold == deployment


def test_serve_configuration_is_required() -> None:
    with pytest.raises(BuildError) as info:
        build()
    assert info.value.detail == "serve configuration is not defined"


def test_serve_configuration_checked_before_the_cluster() -> None:
    bad_volume = {**CLUSTER_SPEC["headGroupSpec"], "volumes": [{"name": "v", "volumeType": "EPHEMERAL"}]}
    with pytest.raises(BuildError, match="serve configuration is not defined"):
        build(clusterSpec={"headGroupSpec": bad_volume})
    with pytest.raises(BuildError, match="storage for ephemeral volume is empty"):
        build(serveConfigV2=SERVE, clusterSpec={"headGroupSpec": bad_volume})


def test_missing_cluster_spec() -> None:
    with pytest.raises(BuildError, match="ClusterSpec"):
        service_to_cr(RayService(name="s", serve_config_v2=SERVE), "ns", TEMPLATES, NOW)


def test_v2_wins_over_graph() -> None:
    cr = build(serveConfigV2=SERVE, serveDeploymentGraphSpec={"importPath": "other.graph"})
    assert cr["spec"]["serveConfigV2"] == SERVE


def test_empty_graph_still_yields_a_config() -> None:
    cr = build(serveDeploymentGraphSpec={"importPath": "a.b:app"})
    assert yaml.safe_load(cr["spec"]["serveConfigV2"]) == {
        "applications": [{"name": "a", "import_path": "a.b:app", "route_prefix": "/"}]
    }


# --- serve V1 translation -------------------------------------------------------------------------


def graph_of(data: dict[str, Any]) -> ServeDeploymentGraphSpec:
    return convert(data, ServeDeploymentGraphSpec)


def test_seed_graph_translation() -> None:
    graph = decode(read_request("service_v1_graph"), RayService).serve_deployment_graph_spec
    assert graph is not None
    config = yaml.safe_load(serve_graph_to_config_v2(graph))
    assert config == {
        "applications": [
            {
                "name": "fruit",
                "import_path": "fruit.deployment_graph",
                "route_prefix": "/",
                "runtime_env": {
                    "working_dir": "https://github.com/ray-project/test_dag/archive/"
                    "c620251044717ace0a4c19d766d43c5099af8a77.zip"
                },
                "deployments": [
                    {
                        "name": "OrangeStand",
                        "num_replicas": 1,
                        "user_config": {"price": 2},
                        "ray_actor_options": {"num_cpus": 0.1},
                    },
                    {
                        "name": "PearStand",
                        "num_replicas": 1,
                        "user_config": {"price": 1},
                        "ray_actor_options": {"num_cpus": 0.1},
                    },
                    {"name": "FruitMarket", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}},
                    {"name": "DAGDriver", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}},
                ],
            }
        ]
    }


def test_graph_translation_of_every_field() -> None:
    graph = graph_of(
        {
            "importPath": "pkg.module:graph",
            "runtimeEnv": "pip: [numpy]\nenv_vars: {A: '1'}\n",
            "serveConfigs": [
                {
                    "deploymentName": "Model",
                    "replicas": 2,
                    "routePrefix": "/model",
                    "maxConcurrentQueries": 50,
                    "userConfig": "threshold: 0.5\nlabels: [a, b]",
                    "actorOptions": {
                        "cpusPerActor": 2,
                        "gpusPerActor": 0.5,
                        "memoryPerActor": 1073741824,
                        "objectStoreMemoryPerActor": 536870912,
                        "customResource": '{"accelerator": 1}',
                        "runtimeEnv": "env_vars: {B: '2'}",
                        "acccelerator_type": "A100",
                    },
                },
                {
                    "deploymentName": "Scaled",
                    "replicas": 3,
                    "autoscalingConfig": "min_replicas: 1\nmax_replicas: 4\n",
                },
            ],
        }
    )
    config = yaml.safe_load(serve_graph_to_config_v2(graph))
    assert config == {
        "applications": [
            {
                "name": "pkg",
                "import_path": "pkg.module:graph",
                "route_prefix": "/model",
                "runtime_env": {"pip": ["numpy"], "env_vars": {"A": "1"}},
                "deployments": [
                    {
                        "name": "Model",
                        "num_replicas": 2,
                        "max_ongoing_requests": 50,
                        "user_config": {"threshold": 0.5, "labels": ["a", "b"]},
                        "ray_actor_options": {
                            "num_cpus": 2,
                            "num_gpus": 0.5,
                            "memory": 1073741824,
                            "object_store_memory": 536870912,
                            "resources": {"accelerator": 1},
                            "accelerator_type": "A100",
                            "runtime_env": {"env_vars": {"B": "2"}},
                        },
                    },
                    # Ray Serve refuses num_replicas next to an autoscaling config.
                    {"name": "Scaled", "autoscaling_config": {"min_replicas": 1, "max_replicas": 4}},
                ],
            }
        ]
    }


@pytest.mark.parametrize(
    ("graph", "fragment"),
    [
        ({"importPath": "a.b", "runtimeEnv": "a: [b"}, "runtimeEnv is not valid YAML"),
        (
            {"importPath": "a.b", "serveConfigs": [{"deploymentName": "D", "userConfig": "{x"}]},
            "serveConfigs[D].userConfig is not valid YAML",
        ),
        (
            {
                "importPath": "a.b",
                "serveConfigs": [{"deploymentName": "D", "actorOptions": {"customResource": "{"}}],
            },
            "serveConfigs[D].actorOptions.customResource is not valid JSON",
        ),
    ],
)
def test_graph_translation_errors(graph: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BuildError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        serve_graph_to_config_v2(graph_of(graph))


# --- update ---------------------------------------------------------------------------------------


def test_update_replaces_annotations_and_keeps_resource_version() -> None:
    existing = as_created(build(serveConfigV2=SERVE))
    existing["metadata"].update(resourceVersion="42", uid="abc", finalizers=["x"])
    cr = service_update_cr(service_of(serveConfigV2="applications: []\n"), "ns", TEMPLATES, LATER, existing)
    assert cr["metadata"]["annotations"] == {"ray.io/update-timestamp": "2025-02-03 04:05:06 +0000 UTC"}
    assert cr["metadata"]["resourceVersion"] == "42"
    assert "finalizers" not in cr["metadata"]
    assert cr["spec"]["serveConfigV2"] == "applications: []\n"
    validate_cr(cr)


def test_update_without_resource_version() -> None:
    cr = service_update_cr(service_of(serveConfigV2=SERVE), "ns", TEMPLATES, LATER, {"metadata": {}})
    assert "resourceVersion" not in cr["metadata"]


def test_update_build_error() -> None:
    with pytest.raises(BuildError, match="serve configuration is not defined"):
        service_update_cr(service_of(), "ns", TEMPLATES, LATER, {})


# --- reading back ---------------------------------------------------------------------------------

STATUS = {
    "serviceStatus": "Running",
    "activeServiceStatus": {
        "rayClusterName": "s-raycluster-x",
        "rayClusterStatus": {"state": "ready", "endpoints": {"dashboard": "8265", "serve": "8000"}},
        "applicationStatuses": {
            "fruit_app": {
                "status": "RUNNING",
                "message": "",
                "serveDeploymentStatuses": {
                    "FruitMarket": {"status": "HEALTHY"},
                    "MangoStand": {"status": "UNHEALTHY", "message": "crashed"},
                },
            },
            "math_app": {"status": "DEPLOYING", "message": "starting"},
        },
    },
    "pendingServiceStatus": {"rayClusterName": "ignored"},
}


def test_status_mapping() -> None:
    cr = as_created(build(serveConfigV2=SERVE))
    cr["status"] = STATUS
    service_event = Event(id="e1", name="s-e1")
    cluster_event = Event(id="e2", name="s-e2")
    status = to_builtins(service_from_cr(cr, [service_event], None, [cluster_event]))["rayServiceStatus"]
    assert status == {
        "rayServiceEvents": [{"id": "e1", "name": "s-e1"}, {"id": "e2", "name": "s-e2"}],
        "rayClusterName": "s-raycluster-x",
        "rayClusterState": "ready",
        "serviceEndpoint": {"dashboard": "8265", "serve": "8000"},
        "serveApplicationStatus": [
            {
                "name": "fruit_app",
                "status": "RUNNING",
                "serveDeploymentStatus": [
                    {"deploymentName": "FruitMarket", "status": "HEALTHY"},
                    {"deploymentName": "MangoStand", "status": "UNHEALTHY", "message": "crashed"},
                ],
            },
            {"name": "math_app", "status": "DEPLOYING", "message": "starting"},
        ],
    }


def test_cluster_state_falls_back_to_the_active_cluster() -> None:
    cr = as_created(build(serveConfigV2=SERVE))
    cr["status"] = {"activeServiceStatus": {"rayClusterName": "c1"}}
    cluster = {"metadata": {"name": "c1"}, "status": {"state": "ready", "endpoints": {"serve": "8000"}}}
    status = service_from_cr(cr, [], cluster, []).ray_service_status
    assert status is not None
    assert status.ray_cluster_state == "ready"
    assert status.service_endpoint == {"serve": "8000"}


def test_live_service_has_no_delete_at_and_empty_status() -> None:
    result = to_builtins(service_from_cr(as_created(build(serveConfigV2=SERVE)), [], None, []))
    assert "deleteAt" not in result
    assert result["rayServiceStatus"] == {}
    assert result["createdAt"] == "2025-01-02T03:04:05Z"


def test_terminating_service_has_delete_at() -> None:
    cr = as_created(build(serveConfigV2=SERVE))
    cr["metadata"]["deletionTimestamp"] = "2025-01-03T00:00:00Z"
    assert service_from_cr(cr, [], None, []).delete_at == "2025-01-03T00:00:00Z"


def test_validator_rejects_bad_service() -> None:
    cr = build(serveConfigV2=SERVE)
    cr["spec"]["serveDeploymentGraphSpec"] = {"importPath": "x"}
    cr["spec"]["serviceUnhealthySecondThreshold"] = "10"
    with pytest.raises(CRValidationError) as info:
        validate_cr(cr)
    assert "serveDeploymentGraphSpec" in str(info.value)
    assert "serviceUnhealthySecondThreshold" in str(info.value)
