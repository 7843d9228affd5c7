"""Compute templates as ConfigMaps (upstream section 6.1), both directions."""

from __future__ import annotations

import json

import pytest

from service.converters.compute_template import compute_template_from_configmap, compute_template_to_configmap
from service.converters.errors import BuildError
from service.converters.quantity import FORMAT_ERROR, SUFFIX_ERROR
from service.schemas.base import decode, to_builtins
from service.schemas.compute_template import ComputeTemplate
from tests.support.crd_schema import CRValidationError, validate_cr


def template(body: str) -> ComputeTemplate:
    return decode(body, ComputeTemplate)


def test_minimal_template_layout() -> None:
    cm = compute_template_to_configmap(template('{"name":"t","namespace":"other","cpu":2,"memory":4}'), "ns")
    assert cm == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "t",
            "namespace": "ns",
            "labels": {"ray.io/config-type": "compute-template", "ray.io/compute-template": "t"},
        },
        "data": {
            "name": "t",
            "namespace": "ns",
            "cpu": "2",
            "memory": "4",
            "memory_unit": "Gi",
            "gpu": "0",
            "gpu_accelerator": "",
            "extended_resources": "null",
        },
    }
    validate_cr(cm)


def test_full_template_layout() -> None:
    body = {
        "name": "gpu",
        "namespace": "ns",
        "cpu": 8,
        "memory": 512,
        "memoryUnit": "Mi",
        "gpu": 4,
        "gpuAccelerator": "nvidia.com/gpu",
        "extendedResources": {"vpc.amazonaws.com/efa": 32, "a.io/b": 1},
        "tolerations": [
            {"key": "ray.io/node-type", "operator": "Equal", "value": "worker", "effect": "NoSchedule"},
            {"key": "gpu", "operator": "Exists"},
        ],
    }
    data = compute_template_to_configmap(template(json.dumps(body)), "ns")["data"]
    assert data["memory"] == "512"
    assert data["memory_unit"] == "Mi"
    assert data["gpu"] == "4"
    assert data["gpu_accelerator"] == "nvidia.com/gpu"
    assert data["extended_resources"] == '{"a.io/b":1,"vpc.amazonaws.com/efa":32}'
    assert json.loads(data["tolerations"]) == [
        {"key": "ray.io/node-type", "operator": "Equal", "value": "worker", "effect": "NoSchedule"},
        {"key": "gpu", "operator": "Exists"},
    ]


@pytest.mark.parametrize(
    ("unit", "error"),
    [("GB", FORMAT_ERROR), ("Gx", FORMAT_ERROR), ("mi", SUFFIX_ERROR)],
)
def test_bad_memory_unit(unit: str, error: str) -> None:
    with pytest.raises(BuildError) as info:
        compute_template_to_configmap(ComputeTemplate(name="t", cpu=1, memory=4, memory_unit=unit), "ns")
    assert info.value.detail == f'invalid memory quantity "4{unit}": {error}'


def test_round_trip() -> None:
    body = (
        '{"name":"t","namespace":"ns","cpu":2,"memory":4,"gpu":1,"gpuAccelerator":"amd.com/gpu",'
        '"extendedResources":{"x.io/y":2},"tolerations":[{"key":"k","operator":"Exists","effect":"NoExecute"}]}'
    )
    cm = compute_template_to_configmap(template(body), "ns")
    cm["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z"
    assert to_builtins(compute_template_from_configmap(cm)) == {
        **json.loads(body),
        "memoryUnit": "Gi",
        "createdAt": "2025-01-01T00:00:00Z",
    }


def test_e2e_response_is_input_plus_unit() -> None:
    sent = {"name": "t", "namespace": "ns", "cpu": 2, "memory": 4}
    cm = compute_template_to_configmap(template(json.dumps(sent)), "ns")
    assert to_builtins(compute_template_from_configmap(cm)) == {**sent, "memoryUnit": "Gi"}


def test_upstream_unit_test_layout() -> None:
    """Mirrors upstream's NewComputeTemplate test: cpu "2", memory "8", gpu "4", JSON fields."""
    body = {
        "name": "t",
        "cpu": 2,
        "memory": 8,
        "gpu": 4,
        "extendedResources": {"vpc.amazonaws.com/efa": 32},
        "tolerations": [{"key": "blah1", "operator": "Exists", "effect": "NoExecute"}],
    }
    data = compute_template_to_configmap(template(json.dumps(body)), "ns")["data"]
    assert (data["cpu"], data["memory"], data["gpu"]) == ("2", "8", "4")
    assert data["extended_resources"] == '{"vpc.amazonaws.com/efa":32}'
    assert data["tolerations"] == '[{"key":"blah1","operator":"Exists","effect":"NoExecute"}]'


def test_reading_tolerates_garbage() -> None:
    cm = {
        "metadata": {"name": "old", "namespace": "ns"},
        "data": {
            "cpu": "two",
            "memory": "-1",
            "gpu": "99999999999",
            "extended_resources": "not json",
            "tolerations": '{"not": "a list"}',
        },
    }
    assert to_builtins(compute_template_from_configmap(cm)) == {"name": "old", "namespace": "ns"}


def test_reading_legacy_template_without_unit() -> None:
    cm = {
        "metadata": {"name": "legacy", "namespace": "ns"},
        "data": {"cpu": "1", "memory": "4", "gpu": "0", "extended_resources": "null", "gpu_accelerator": ""},
    }
    result = compute_template_from_configmap(cm)
    assert result.memory_unit == ""
    assert result.extended_resources == {}
    assert result.tolerations == []


def test_configmap_validator_can_fail() -> None:
    cm = compute_template_to_configmap(ComputeTemplate(name="t", cpu=1, memory=1), "ns")
    cm["data"]["cpu"] = 1
    with pytest.raises(CRValidationError, match=r"\.data\.cpu"):
        validate_cr(cm)
