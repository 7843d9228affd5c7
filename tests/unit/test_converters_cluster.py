"""RayCluster conversion: API Cluster -> CR (upstream section 6.2) and CR -> API Cluster (7.1, 7.4)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from service.converters.cluster import (
    cluster_from_cr,
    cluster_spec_from_cr,
    cluster_spec_to_cr,
    cluster_to_cr,
    format_go_time,
    required_templates,
)
from service.converters.errors import BuildError, MissingTemplateError
from service.converters.events import event_from_kube
from service.schemas.base import convert, decode, to_builtins
from service.schemas.cluster import Cluster
from service.schemas.common import ClusterSpec, Event, Volume, VolumeType
from service.schemas.compute_template import ComputeTemplate
from tests.support.crd_schema import CRValidationError, validate_cr
from tests.unit.golden import as_created, check_json, check_yaml, load_templates, read_request

NOW = dt.datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
TEMPLATES = load_templates()
DEFAULT = TEMPLATES["default-template"]


def spec_of(data: dict[str, Any]) -> ClusterSpec:
    return convert(data, ClusterSpec)


def minimal_spec(**head: Any) -> dict[str, Any]:
    return {
        "headGroupSpec": {"computeTemplate": "default-template", "rayStartParams": {"a": "b"}, **head},
        "workerGroupSpec": [],
    }


def head_container(spec: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    return container


def build(data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return cluster_spec_to_cr(spec_of(data), TEMPLATES, "2.46.0", **kwargs)


def round_trip(data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    out: dict[str, Any] = to_builtins(cluster_spec_from_cr(build(data, **kwargs)))
    return out


# --- golden files -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["cluster_example", "cluster_full"])
def test_golden(case: str) -> None:
    cluster = decode(read_request(case), Cluster)
    cr = cluster_to_cr(cluster, "ray-system", TEMPLATES, NOW)
    check_yaml(f"{case}.cr.yaml", cr)
    validate_cr(cr)
    check_json(f"{case}.response.json", to_builtins(cluster_from_cr(as_created(cr), [])))


def test_example_round_trip_matches_upstream_response() -> None:
    """Section 7.5: the create response of upstream's documented example, field for field."""
    cluster = decode(read_request("cluster_example"), Cluster)
    cr = as_created(cluster_to_cr(cluster, "ray-system", TEMPLATES, NOW))
    expected = {
        "name": "test-cluster",
        "namespace": "ray-system",
        "user": "3cpo",
        "version": "2.46.0",
        "clusterSpec": {
            "headGroupSpec": {
                "computeTemplate": "default-template",
                "image": "rayproject/ray:2.46.0",
                "serviceType": "NodePort",
                "rayStartParams": {"dashboard-host": "0.0.0.0"},
                "environment": {},
            },
            "workerGroupSpec": [
                {
                    "groupName": "small-wg",
                    "computeTemplate": "default-template",
                    "replicas": 1,
                    "minReplicas": 1,
                    "maxReplicas": 5,
                    "rayStartParams": {"node-ip-address": "$MY_POD_IP"},
                    "environment": {},
                }
            ],
        },
        "annotations": {"ray.io/creation-timestamp": "2025-01-02 03:04:05.123456 +0000 UTC"},
        "createdAt": "2025-01-02T03:04:05Z",
    }
    assert to_builtins(cluster_from_cr(cr, [])) == expected
    assert json.loads(json.dumps(expected)) == to_builtins(decode(json.dumps(expected), Cluster))


def test_full_spec_round_trips_except_documented_losses() -> None:
    """Everything the request said comes back, apart from upstream's documented normalisations."""
    request = json.loads(read_request("cluster_full"))
    cluster = decode(json.dumps(request), Cluster)
    back = to_builtins(cluster_from_cr(as_created(cluster_to_cr(cluster, "ns", TEMPLATES, NOW)), []))
    sent = to_builtins(cluster)["clusterSpec"]
    got = back["clusterSpec"]
    # Cluster-level envs reappear in every group; IfNotPresent is the default and is not echoed; quantities
    # come back in canonical form.
    sent["headGroupSpec"]["volumes"][6]["storage"] = "1Gi"
    assert got["headGroupSpec"]["environment"]["values"] == {"CLUSTER_WIDE": "1", "LOG_LEVEL": "debug"}
    assert (
        got["headGroupSpec"]["environment"]["valuesFrom"]
        == sent["headGroupSpec"]["environment"]["valuesFrom"]
    )
    for key in ("volumes", "securityContext", "annotations", "labels", "serviceAccount", "imagePullSecret"):
        assert got["headGroupSpec"][key] == sent["headGroupSpec"][key], key
    assert got["headGroupSpec"]["imagePullPolicy"] == "Always"
    assert got["headServiceAnnotations"] == sent["headServiceAnnotations"]
    amd = got["workerGroupSpec"][1]
    assert "imagePullPolicy" not in amd
    assert "serviceAccount" not in amd  # one character: ignored
    assert amd["securityContext"] == {"capabilities": {}, "privileged": True}
    assert back["environment"] == 3
    assert "envs" not in back


# --- CR construction ------------------------------------------------------------------------------


def test_metadata_labels_and_annotations() -> None:
    cluster = convert(
        {
            "name": "c1",
            "user": "u",
            "version": "2.9.0",
            "environment": "STAGING",
            "annotations": {"a": "b"},
            "clusterSpec": minimal_spec(),
        },
        Cluster,
    )
    cr = cluster_to_cr(cluster, "ns", TEMPLATES, NOW)
    assert cr["apiVersion"] == "ray.io/v1"
    assert cr["kind"] == "RayCluster"
    assert cr["metadata"] == {
        "name": "c1",
        "namespace": "ns",
        "labels": {
            "ray.io/cluster-name": "c1",
            "ray.io/user": "u",
            "ray.io/version": "2.9.0",
            "ray.io/environment": "STAGING",
            "app.kubernetes.io/name": "kuberay",
            "app.kubernetes.io/managed-by": "kuberay-apiserver",
        },
        "annotations": {"a": "b", "ray.io/creation-timestamp": "2025-01-02 03:04:05.123456 +0000 UTC"},
    }
    assert cr["spec"]["rayVersion"] == "2.9.0"


def test_cluster_without_spec_is_a_build_error() -> None:
    with pytest.raises(BuildError):
        cluster_to_cr(Cluster(name="x"), "ns", TEMPLATES, NOW)
    with pytest.raises(BuildError):
        cluster_spec_to_cr(ClusterSpec(), TEMPLATES, "1")


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (dt.datetime(2023, 9, 25, 10, 48, 35, 766443, tzinfo=dt.UTC), "2023-09-25 10:48:35.766443 +0000 UTC"),
        (dt.datetime(2023, 9, 25, 10, 48, 35, 500000, tzinfo=dt.UTC), "2023-09-25 10:48:35.5 +0000 UTC"),
        (dt.datetime(2023, 9, 25, 10, 48, 35, tzinfo=dt.UTC), "2023-09-25 10:48:35 +0000 UTC"),
        (dt.datetime(2023, 9, 25, 10, 48, 35), "2023-09-25 10:48:35 +0000 UTC"),  # noqa: DTZ001 - naive = UTC
        (
            dt.datetime(2023, 9, 25, 12, 48, 35, 10, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2023-09-25 10:48:35.00001 +0000 UTC",
        ),
    ],
)
def test_go_time_string(moment: dt.datetime, text: str) -> None:
    assert format_go_time(moment) == text


def test_required_templates_are_distinct_head_first() -> None:
    spec = spec_of(
        {
            "headGroupSpec": {"computeTemplate": "b"},
            "workerGroupSpec": [{"computeTemplate": "a"}, {"computeTemplate": "b"}, {"computeTemplate": "a"}],
        }
    )
    assert required_templates(spec) == ["b", "a"]
    assert required_templates(None) == []


def test_missing_template() -> None:
    data = minimal_spec(computeTemplate="nope")
    with pytest.raises(MissingTemplateError) as info:
        build(data)
    assert info.value.name == "nope"
    assert isinstance(info.value, BuildError)


@pytest.mark.parametrize(
    ("image", "version", "expected"),
    [
        ("my/image:1", "2.46.0", "my/image:1"),
        ("", "2.46.0", "rayproject/ray:2.46.0"),
        ("", "", "rayproject/ray:"),
    ],
)
def test_image_defaulting(image: str, version: str, expected: str) -> None:
    spec = cluster_spec_to_cr(spec_of(minimal_spec(image=image)), TEMPLATES, version)
    assert head_container(spec)["image"] == expected
    annotations = spec["headGroupSpec"]["template"]["metadata"]["annotations"]
    assert annotations["ray.io/compute-image"] == image
    assert cluster_spec_from_cr(spec).head_group_spec.image == image  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("requested", "written", "read_back"),
    [
        ("", "IfNotPresent", ""),
        ("IfNotPresent", "IfNotPresent", ""),
        ("Always", "Always", "Always"),
        ("always", "Always", "Always"),
    ],
)
def test_image_pull_policy(requested: str, written: str, read_back: str) -> None:
    spec = build(minimal_spec(imagePullPolicy=requested))
    assert head_container(spec)["imagePullPolicy"] == written
    assert cluster_spec_from_cr(spec).head_group_spec.image_pull_policy == read_back  # type: ignore[union-attr]


@pytest.mark.parametrize(("value", "applied"), [("", False), ("a", False), ("ab", True)])
def test_service_account_and_pull_secret_need_two_characters(value: str, applied: bool) -> None:
    spec = build(minimal_spec(serviceAccount=value, imagePullSecret=value))
    pod = spec["headGroupSpec"]["template"]["spec"]
    assert ("serviceAccountName" in pod) is applied
    assert ("imagePullSecrets" in pod) is applied
    if applied:
        assert pod["serviceAccountName"] == value
        assert pod["imagePullSecrets"] == [{"name": value}]


def test_head_container_defaults() -> None:
    spec = build(minimal_spec())
    head = spec["headGroupSpec"]
    assert head["rayStartParams"] == {"a": "b"}
    assert "serviceType" not in head
    assert "enableIngress" not in head
    container = head_container(spec)
    assert container["name"] == "ray-head"
    assert container["env"] == [
        {"name": "MY_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    ]
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [
        ("redis", 6379),
        ("head", 10001),
        ("dashboard", 8265),
        ("metrics", 8080),
    ]
    assert container["resources"] == {
        "limits": {"cpu": "2", "memory": "4Gi"},
        "requests": {"cpu": "2", "memory": "4Gi"},
    }
    assert "securityContext" not in container
    assert "volumeMounts" not in container
    assert "tolerations" not in spec["headGroupSpec"]["template"]["spec"]


def test_serve_ports() -> None:
    container = head_container(build(minimal_spec(), serve_ports=True))
    assert [(p["name"], p["containerPort"]) for p in container["ports"]][-2:] == [
        ("dashboard-agent", 52365),
        ("serve", 8000),
    ]


@pytest.mark.parametrize(("annotation", "serve"), [("true", True), ("false", False), (None, False)])
def test_enable_serve_service_annotation(annotation: str | None, serve: bool) -> None:
    annotations = {"ray.io/enable-serve-service": annotation} if annotation else {}
    cluster = convert({"name": "c", "annotations": annotations, "clusterSpec": minimal_spec()}, Cluster)
    ports = head_container(cluster_to_cr(cluster, "ns", TEMPLATES, NOW)["spec"])["ports"]
    assert any(p["name"] == "serve" for p in ports) is serve


def test_head_service_annotations_and_ingress() -> None:
    data = {
        **minimal_spec(enableIngress=True, serviceType="LoadBalancer"),
        "headServiceAnnotations": {"x": "y"},
    }
    spec = build(data)
    assert spec["headServiceAnnotations"] == {"x": "y"}
    assert spec["headGroupSpec"]["enableIngress"] is True
    assert spec["headGroupSpec"]["serviceType"] == "LoadBalancer"
    back = round_trip(data)
    assert back["headServiceAnnotations"] == {"x": "y"}
    assert back["headGroupSpec"]["enableIngress"] is True
    assert back["headGroupSpec"]["serviceType"] == "LoadBalancer"


@pytest.mark.parametrize(
    ("replicas", "minimum", "maximum", "expected"),
    [(1, 0, 5, (1, 1, 5)), (3, 2, 5, (3, 2, 5)), (2, 0, 0, (2, 2, 2)), (0, 0, 5, (0, 0, 5))],
)
def test_worker_replicas(replicas: int, minimum: int, maximum: int, expected: tuple[int, int, int]) -> None:
    worker = {
        "groupName": "g",
        "computeTemplate": "default-template",
        "replicas": replicas,
        "minReplicas": minimum,
        "maxReplicas": maximum,
    }
    spec = build({**minimal_spec(), "workerGroupSpec": [worker]})
    group = spec["workerGroupSpecs"][0]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == expected
    assert "rayStartParams" not in group


def test_worker_container() -> None:
    worker = {"groupName": "g", "computeTemplate": "default-template", "replicas": 1, "maxReplicas": 1}
    envs = convert({"values": {"C": "1"}}, Cluster).envs
    spec = cluster_spec_to_cr(spec_of({**minimal_spec(), "workerGroupSpec": [worker]}), TEMPLATES, "1", envs)
    container = spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert container["name"] == "ray-worker"
    assert [e["name"] for e in container["env"]] == [
        "RAY_DISABLE_DOCKER_CPU_WARNING",
        "TYPE",
        "CPU_REQUEST",
        "CPU_LIMITS",
        "MEMORY_REQUESTS",
        "MEMORY_LIMITS",
        "MY_POD_NAME",
        "MY_POD_IP",
    ]
    assert container["env"][2]["valueFrom"] == {
        "resourceFieldRef": {"containerName": "ray-worker", "resource": "requests.cpu"}
    }
    assert container["ports"] == [{"containerPort": 80}]
    assert container["lifecycle"] == {"preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}}


def test_cluster_envs_come_before_group_environment() -> None:
    cluster = convert(
        {
            "name": "c",
            "envs": {"values": {"SHARED": "1"}},
            "clusterSpec": minimal_spec(environment={"values": {"OWN": "2"}}),
        },
        Cluster,
    )
    env = head_container(cluster_to_cr(cluster, "ns", TEMPLATES, NOW)["spec"])["env"]
    assert [e["name"] for e in env] == ["MY_POD_IP", "SHARED", "OWN"]


# --- resources and tolerations --------------------------------------------------------------------


def test_gpu_extended_resources_and_tolerations() -> None:
    spec = build(minimal_spec(computeTemplate="gpu-template"))
    resources = head_container(spec)["resources"]
    assert resources["limits"] == {
        "cpu": "8",
        "memory": "1536Mi",
        "nvidia.com/gpu": "2",
        "vpc.amazonaws.com/efa": "32",
    }
    assert resources["requests"] == resources["limits"]
    assert spec["headGroupSpec"]["template"]["spec"]["tolerations"] == [
        {"key": "ray.io/node-type", "operator": "Equal", "value": "worker", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"},
        {"key": "flaky", "operator": "Equal", "value": "yes", "effect": "PreferNoSchedule"},
    ]


def test_gpu_accelerator_names_the_resource() -> None:
    limits = head_container(build(minimal_spec(computeTemplate="amd-template")))["resources"]["limits"]
    assert limits == {"cpu": "4", "memory": "8Gi", "amd.com/gpu": "1"}


def test_memory_unit_canonical_and_legacy_bytes() -> None:
    templates = {
        "t1": ComputeTemplate(name="t1", cpu=1, memory=2048, memory_unit="Mi"),
        "t2": ComputeTemplate(name="t2", cpu=1, memory=4096),
    }
    for name, memory in (("t1", "2Gi"), ("t2", "4096")):
        spec = cluster_spec_to_cr(spec_of(minimal_spec(computeTemplate=name)), templates, "1")
        assert head_container(spec)["resources"]["limits"]["memory"] == memory


def test_broken_template_memory_is_a_build_error() -> None:
    templates = {"t": ComputeTemplate(name="t", cpu=1, memory=2, memory_unit="GB")}
    with pytest.raises(BuildError, match="invalid quantity"):
        cluster_spec_to_cr(spec_of(minimal_spec(computeTemplate="t")), templates, "1")


# --- volumes --------------------------------------------------------------------------------------

VOLUME_CASES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        {
            "name": "v",
            "mountPath": "/m",
            "volumeType": "PERSISTENT_VOLUME_CLAIM",
            "source": "claim",
            "readOnly": True,
        },
        {"name": "v", "mountPath": "/m", "readOnly": True},
        {"name": "v", "persistentVolumeClaim": {"claimName": "claim", "readOnly": True}},
    ),
    (
        {
            "name": "v",
            "mountPath": "/m",
            "volumeType": "HOST_PATH",
            "source": "/d",
            "mountPropagationMode": "BIDIRECTIONAL",
        },
        {"name": "v", "mountPath": "/m", "mountPropagation": "Bidirectional"},
        {"name": "v", "hostPath": {"path": "/d", "type": "Directory"}},
    ),
    (
        {"name": "v", "mountPath": "/m", "volumeType": "HOST_PATH", "source": "/f", "hostPathType": "FILE"},
        {"name": "v", "mountPath": "/m"},
        {"name": "v", "hostPath": {"path": "/f", "type": "File"}},
    ),
    (
        {"name": "v", "mountPath": "/m", "volumeType": "EPHEMERAL", "storage": "5Gi"},
        {"name": "v", "mountPath": "/m"},
        {
            "name": "v",
            "ephemeral": {
                "volumeClaimTemplate": {
                    "metadata": {"labels": {"app.kubernetes.io/managed-by": "kuberay-apiserver"}},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
                }
            },
        },
    ),
    (
        {
            "name": "v",
            "mountPath": "/m",
            "volumeType": "EPHEMERAL",
            "storage": "5Gi",
            "accessMode": "ROX",
            "storageClassName": "gp3",
            "mountPropagationMode": "HOSTTOCONTAINER",
        },
        {"name": "v", "mountPath": "/m", "mountPropagation": "HostToContainer"},
        {
            "name": "v",
            "ephemeral": {
                "volumeClaimTemplate": {
                    "metadata": {"labels": {"app.kubernetes.io/managed-by": "kuberay-apiserver"}},
                    "spec": {
                        "accessModes": ["ReadOnlyMany"],
                        "resources": {"requests": {"storage": "5Gi"}},
                        "storageClassName": "gp3",
                    },
                }
            },
        },
    ),
    (
        {"name": "v", "mountPath": "/m", "volumeType": "CONFIGMAP", "source": "cm", "items": {"k": "p"}},
        {"name": "v", "mountPath": "/m"},
        {"name": "v", "configMap": {"name": "cm", "items": [{"key": "k", "path": "p"}]}},
    ),
    (
        {"name": "v", "mountPath": "/m", "volumeType": "CONFIGMAP", "source": "cm"},
        {"name": "v", "mountPath": "/m"},
        {"name": "v", "configMap": {"name": "cm"}},
    ),
    (
        {
            "name": "v",
            "mountPath": "/m",
            "volumeType": "SECRET",
            "source": "s",
            "items": {"a": "b", "c": "d/e"},
        },
        {"name": "v", "mountPath": "/m"},
        {
            "name": "v",
            "secret": {"secretName": "s", "items": [{"key": "a", "path": "b"}, {"key": "c", "path": "d/e"}]},
        },
    ),
    (
        {"name": "v", "mountPath": "/m", "volumeType": "SECRET", "source": "s", "readOnly": True},
        {"name": "v", "mountPath": "/m", "readOnly": True},
        {"name": "v", "secret": {"secretName": "s"}},
    ),
    (
        {"name": "v", "mountPath": "/m", "volumeType": "EMPTY_DIR"},
        {"name": "v", "mountPath": "/m"},
        {"name": "v", "emptyDir": {}},
    ),
    (
        {"name": "v", "mountPath": "/m", "volumeType": "EMPTY_DIR", "storage": "2Gi"},
        {"name": "v", "mountPath": "/m"},
        {"name": "v", "emptyDir": {"sizeLimit": "2Gi"}},
    ),
]


@pytest.mark.parametrize(("request_volume", "mount", "pod_volume"), VOLUME_CASES)
def test_volume_both_directions(
    request_volume: dict[str, Any], mount: dict[str, Any], pod_volume: dict[str, Any]
) -> None:
    data = minimal_spec(volumes=[request_volume])
    spec = build(data)
    assert head_container(spec)["volumeMounts"] == [mount]
    assert spec["headGroupSpec"]["template"]["spec"]["volumes"] == [pod_volume]
    back = round_trip(data)["headGroupSpec"]["volumes"]
    assert back == to_builtins(spec_of(data))["headGroupSpec"]["volumes"]


def test_volume_storage_is_canonicalised() -> None:
    data = minimal_spec(
        volumes=[{"name": "v", "mountPath": "/m", "volumeType": "EMPTY_DIR", "storage": "1024Mi"}]
    )
    assert build(data)["headGroupSpec"]["template"]["spec"]["volumes"][0]["emptyDir"] == {"sizeLimit": "1Gi"}
    assert round_trip(data)["headGroupSpec"]["volumes"][0]["storage"] == "1Gi"


def test_unknown_volume_type_is_mounted_only() -> None:
    spec = spec_of(minimal_spec())
    assert spec.head_group_spec is not None
    spec.head_group_spec.volumes = [Volume(name="v", mount_path="/m", volume_type=9)]  # type: ignore[arg-type]
    cr = cluster_spec_to_cr(spec, TEMPLATES, "1")
    assert head_container(cr)["volumeMounts"] == [{"name": "v", "mountPath": "/m"}]
    assert "volumes" not in cr["headGroupSpec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ({"volumeType": "EPHEMERAL"}, "storage for ephemeral volume is empty"),
        (
            {"volumeType": "EPHEMERAL", "storage": "ten"},
            "storage for ephemeral volume is not specified correctly",
        ),
        (
            {"volumeType": "EMPTY_DIR", "storage": "1 Gi"},
            "storage for empty dir volume is not specified correctly",
        ),
    ],
)
def test_volume_build_errors(volume: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError) as info:
        build(minimal_spec(volumes=[{"name": "v", "mountPath": "/m", **volume}]))
    assert info.value.detail == message
    assert str(info.value) == message


def test_worker_volume_build_error() -> None:
    worker = {
        "groupName": "g",
        "computeTemplate": "default-template",
        "maxReplicas": 1,
        "volumes": [{"name": "v", "volumeType": "EPHEMERAL"}],
    }
    with pytest.raises(BuildError, match="storage for ephemeral volume is empty"):
        build({**minimal_spec(), "workerGroupSpec": [worker]})


def test_volumes_read_from_foreign_cr() -> None:
    """Mount paths come from the first mount of the same name; unknown volume kinds are skipped."""
    spec = build(minimal_spec())
    pod = spec["headGroupSpec"]["template"]["spec"]
    pod["volumes"] = [{"name": "a", "configMap": {"name": "cm"}}, {"name": "p", "projected": {"sources": []}}]
    pod["containers"][0]["volumeMounts"] = [
        {"name": "a", "mountPath": "/first"},
        {"name": "a", "mountPath": "/2nd"},
    ]
    volumes = cluster_spec_from_cr(spec).head_group_spec.volumes  # type: ignore[union-attr]
    assert volumes == [Volume(name="a", mount_path="/first", volume_type=VolumeType.CONFIGMAP, source="cm")]


# --- environment ----------------------------------------------------------------------------------


def test_environment_every_source_both_directions() -> None:
    environment = {
        "values": {"PLAIN": "v", "EMPTY": ""},
        "valuesFrom": {
            "CM": {"source": "CONFIGMAP", "name": "cm", "key": "k1"},
            "SEC": {"source": "SECRET", "name": "sec", "key": "k2"},
            "RES": {"source": "RESOURCEFIELD", "name": "ray-head", "key": "requests.memory"},
            "FLD": {"source": "FIELD", "name": "ignored", "key": "metadata.namespace"},
        },
    }
    spec = build(minimal_spec(environment=environment))
    assert head_container(spec)["env"][1:] == [
        {"name": "PLAIN", "value": "v"},
        {"name": "EMPTY", "value": ""},
        {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k1"}}},
        {"name": "SEC", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k2"}}},
        {
            "name": "RES",
            "valueFrom": {"resourceFieldRef": {"containerName": "ray-head", "resource": "requests.memory"}},
        },
        {"name": "FLD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    back = round_trip(minimal_spec(environment=environment))["headGroupSpec"]["environment"]
    assert back == {
        "values": {"PLAIN": "v", "EMPTY": ""},
        "valuesFrom": {
            "CM": {"name": "cm", "key": "k1"},  # source CONFIGMAP is 0, omitted
            "SEC": {"source": 1, "name": "sec", "key": "k2"},
            "RES": {"source": 2, "name": "ray-head", "key": "requests.memory"},
            "FLD": {"source": 3, "key": "metadata.namespace"},
        },
    }


def test_reserved_env_names_are_hidden() -> None:
    worker = {
        "groupName": "g",
        "computeTemplate": "default-template",
        "maxReplicas": 1,
        "environment": {"values": {"TYPE": "mine", "KEEP": "1"}},
    }
    data = {**minimal_spec(environment={"values": {"MY_POD_IP": "x", "RAY_ADDRESS": "y", "KEEP": "2"}})}
    data["workerGroupSpec"] = [worker]
    back = round_trip(data)
    assert back["headGroupSpec"]["environment"] == {"values": {"KEEP": "2"}}
    assert back["workerGroupSpec"][0]["environment"] == {"values": {"KEEP": "1"}}


def test_container_without_env_has_no_environment() -> None:
    spec = build(minimal_spec())
    del head_container(spec)["env"]
    assert cluster_spec_from_cr(spec).head_group_spec.environment is None  # type: ignore[union-attr]


# --- security context -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "written", "read_back"),
    [
        (None, None, None),
        ({}, {"capabilities": {}}, {"capabilities": {}}),
        (
            {"privileged": False},
            {"capabilities": {}, "privileged": False},
            {"capabilities": {}, "privileged": False},
        ),
        (
            {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "privileged": True},
            {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "privileged": True},
            {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "privileged": True},
        ),
    ],
)
def test_security_context(context: dict[str, Any] | None, written: Any, read_back: Any) -> None:
    data = minimal_spec(**({"securityContext": context} if context is not None else {}))
    assert head_container(build(data)).get("securityContext") == written
    assert round_trip(data)["headGroupSpec"].get("securityContext") == read_back


# --- autoscaler -----------------------------------------------------------------------------------


def autoscaled(options: dict[str, Any] | None, enabled: bool = True) -> dict[str, Any]:
    data = {**minimal_spec(), "enableInTreeAutoscaling": enabled}
    if options is not None:
        data["autoscalerOptions"] = options
    return data


def test_autoscaler_disabled_ignores_options() -> None:
    spec = build(autoscaled({"cpu": "1"}, enabled=False))
    assert "enableInTreeAutoscaling" not in spec
    assert "autoscalerOptions" not in spec


def test_autoscaler_without_options() -> None:
    spec = build(autoscaled(None))
    assert spec["enableInTreeAutoscaling"] is True
    assert "autoscalerOptions" not in spec
    back = round_trip(autoscaled(None))
    assert back["enableInTreeAutoscaling"] is True
    assert "autoscalerOptions" not in back


@pytest.mark.parametrize(
    ("given", "resources"),
    [
        ({}, None),
        ({"cpu": "2"}, {"cpu": "2", "memory": "512Mi"}),
        ({"memory": "1Gi"}, {"cpu": "500m", "memory": "1Gi"}),
        ({"cpu": "0.5", "memory": "1024Mi"}, {"cpu": "500m", "memory": "1Gi"}),
    ],
)
def test_autoscaler_resources_defaults(given: dict[str, str], resources: dict[str, str] | None) -> None:
    options = build(autoscaled(given))["autoscalerOptions"]
    if resources is None:
        assert "resources" not in options
    else:
        assert options["resources"] == {"limits": resources, "requests": resources}


def test_autoscaler_e2e_options_round_trip_exactly() -> None:
    options = {"upscalingMode": "Default", "idleTimeoutSeconds": 30, "cpu": "500m", "memory": "512Mi"}
    back = round_trip(autoscaled(options))
    assert back["autoscalerOptions"] == options


def test_autoscaler_fields() -> None:
    options = {
        "idleTimeoutSeconds": 10,
        "upscalingMode": "Aggressive",
        "image": "img",
        "imagePullPolicy": "IfNotPresent",
        "envs": {
            "values": {"A": "1"},
            "valuesFrom": {
                "X": {"source": "CONFIGMAP", "name": "cm", "key": "k"},
                "Y": {"source": "SECRET", "name": "sec", "key": "k"},
                "Z": {"source": "FIELD", "key": "metadata.name"},
            },
        },
        "volumes": [{"name": "v", "mountPath": "/v", "readOnly": True, "volumeType": "EMPTY_DIR"}],
    }
    written = build(autoscaled(options))["autoscalerOptions"]
    assert written == {
        "idleTimeoutSeconds": 10,
        "upscalingMode": "Aggressive",
        "image": "img",
        "env": [{"name": "A", "value": "1"}],
        "envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"}}],
        "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": True}],
    }
    back = round_trip(autoscaled(options))["autoscalerOptions"]
    assert back == {
        "idleTimeoutSeconds": 10,
        "upscalingMode": "Aggressive",
        "image": "img",
        "envs": {
            "values": {"A": "1"},
            "valuesFrom": {"0": {"name": "cm"}, "1": {"source": 1, "name": "sec"}},
        },
        "volumes": [{"mountPath": "/v", "name": "v", "readOnly": True}],
    }


@pytest.mark.parametrize("policy", ["Always", "always"])
def test_autoscaler_pull_policy_always(policy: str) -> None:
    assert build(autoscaled({"imagePullPolicy": policy}))["autoscalerOptions"] == {
        "imagePullPolicy": "Always"
    }
    assert round_trip(autoscaled({"imagePullPolicy": policy}))["autoscalerOptions"] == {
        "imagePullPolicy": "Always"
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cpu": "lots"}, "cpu for autoscaler is not specified correctly"),
        ({"memory": "1GB"}, "memory for autoscaler is not specified correctly"),
    ],
)
def test_autoscaler_build_errors(options: dict[str, str], message: str) -> None:
    with pytest.raises(BuildError) as info:
        build(autoscaled(options))
    assert info.value.detail == message


# --- reading CRs ----------------------------------------------------------------------------------


def test_annotations_and_labels_filtered_on_read() -> None:
    spec = build(minimal_spec(annotations={"mine": "1"}, labels={"l": "2"}))
    metadata = spec["headGroupSpec"]["template"]["metadata"]
    metadata["annotations"].update({"ray.io/ft-enabled": "false", "openshift.io/scc": "restricted"})
    metadata["labels"].update(
        {"ray.io/node-type": "head", "ray.io/cluster": "c", "app.kubernetes.io/name": "kuberay"}
    )
    head = to_builtins(cluster_spec_from_cr(spec))["headGroupSpec"]
    assert head["annotations"] == {"mine": "1"}
    assert head["labels"] == {"l": "2"}


def test_cluster_from_cr_status_and_metadata() -> None:
    cluster = convert({"name": "c", "user": "u", "version": "2.1", "clusterSpec": minimal_spec()}, Cluster)
    cr = copy.deepcopy(cluster_to_cr(cluster, "ns", TEMPLATES, NOW))
    cr["metadata"]["labels"]["ray.io/environment"] = "NOT-AN-ENV"
    cr["metadata"]["creationTimestamp"] = "2024-05-06T07:08:09Z"
    cr["metadata"]["deletionTimestamp"] = "2024-05-07T00:00:00Z"
    cr["status"] = {"state": "ready", "endpoints": {"dashboard": "8265", "head": "10001"}}
    event = Event(id="e1", name="c-e1", reason="Created")
    result = cluster_from_cr(cr, [event])
    assert result.environment == 0
    assert result.created_at == "2024-05-06T07:08:09Z"
    assert result.deleted_at == "2024-05-07T00:00:00Z"
    assert result.cluster_state == "ready"
    assert result.service_endpoint == {"dashboard": "8265", "head": "10001"}
    assert result.events == [event]
    assert result.envs is None


def test_cluster_created_outside_the_api() -> None:
    cr = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "raw", "namespace": "ns", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {
            "rayVersion": "2.9.0",
            "headGroupSpec": {
                "rayStartParams": {"num-cpus": 1},
                "template": {
                    "spec": {"containers": [{"name": "head", "image": "img", "imagePullPolicy": "Always"}]}
                },
            },
        },
    }
    result = to_builtins(cluster_from_cr(cr, []))
    assert result == {
        "name": "raw",
        "namespace": "ns",
        "version": "2.9.0",
        "clusterSpec": {"headGroupSpec": {"rayStartParams": {"num-cpus": "1"}, "imagePullPolicy": "Always"}},
        "createdAt": "2024-01-01T00:00:00Z",
    }


# --- events ---------------------------------------------------------------------------------------


def test_event_with_series() -> None:
    event = {
        "metadata": {"name": "c.123", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "eventTime": "2024-01-01T00:00:01.123456Z",
        "series": {"count": 4, "lastObservedTime": "2024-01-01T00:05:00.000001Z"},
        "reason": "Pulled",
        "note": "image pulled",
        "type": "Normal",
        "deprecatedCount": 1,
    }
    assert to_builtins(event_from_kube(event, "cluster")) == {
        "id": "c.123",
        "name": "cluster-c.123",
        "createdAt": "2024-01-01T00:00:00Z",
        "firstTimestamp": "2024-01-01T00:00:01Z",
        "lastTimestamp": "2024-01-01T00:05:00Z",
        "reason": "Pulled",
        "message": "image pulled",
        "type": "Normal",
        "count": 4,
    }


def test_event_from_deprecated_fields() -> None:
    event = {
        "metadata": {"name": "e"},
        "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
        "deprecatedLastTimestamp": "2024-01-02T00:00:00Z",
        "deprecatedCount": 7,
        "type": "Warning",
    }
    converted = event_from_kube(event, "p")
    assert converted.created_at == "0001-01-01T00:00:00Z"
    assert converted.first_timestamp == "2024-01-01T00:00:00Z"
    assert converted.last_timestamp == "2024-01-02T00:00:00Z"
    assert converted.count == 7


def test_event_last_timestamp_falls_back_to_event_time() -> None:
    converted = event_from_kube({"metadata": {"name": "e"}, "eventTime": "2024-03-03T03:03:03.5Z"}, "p")
    assert converted.first_timestamp == converted.last_timestamp == "2024-03-03T03:03:03Z"
    assert converted.count == 0


# --- the validator can fail -----------------------------------------------------------------------


def test_validator_rejects_unknown_field() -> None:
    cr = cluster_to_cr(decode(read_request("cluster_example"), Cluster), "ns", TEMPLATES, NOW)
    cr["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(CRValidationError, match="imagePullPolcy"):
        validate_cr(cr)


def test_validator_rejects_wrong_type() -> None:
    cr = cluster_to_cr(decode(read_request("cluster_example"), Cluster), "ns", TEMPLATES, NOW)
    cr["spec"]["workerGroupSpecs"][0]["maxReplicas"] = "5"
    with pytest.raises(CRValidationError, match=r"workerGroupSpecs\[0\]\.maxReplicas"):
        validate_cr(cr)


def test_validator_rejects_bad_quantity_and_label_type() -> None:
    cr = cluster_to_cr(decode(read_request("cluster_example"), Cluster), "ns", TEMPLATES, NOW)
    cr["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "two"
    cr["metadata"]["labels"]["x"] = 1
    with pytest.raises(CRValidationError) as info:
        validate_cr(cr)
    assert "limits.cpu" in str(info.value)
    assert "metadata.labels.x" in str(info.value)


def test_validator_accepts_int_or_string() -> None:
    cr = cluster_to_cr(decode(read_request("cluster_example"), Cluster), "ns", TEMPLATES, NOW)
    cr["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = 2
    validate_cr(cr)
