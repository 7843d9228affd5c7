"""Request bodies used across the end-to-end tests."""

from __future__ import annotations

from typing import Any


def template(namespace: str, name: str = "default-template", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "cpu": 2, "memory": 4, **extra}


def cluster(
    namespace: str, name: str = "test-cluster", template_name: str = "default-template"
) -> dict[str, Any]:
    """The upstream documentation's example cluster (spec section 7.5)."""
    return {
        "name": name,
        "namespace": namespace,
        "user": "3cpo",
        "version": "2.46.0",
        "environment": "DEV",
        "clusterSpec": {
            "headGroupSpec": {
                "computeTemplate": template_name,
                "image": "rayproject/ray:2.46.0",
                "serviceType": "NodePort",
                "rayStartParams": {"dashboard-host": "0.0.0.0"},
            },
            "workerGroupSpec": [
                {
                    "groupName": "small-wg",
                    "computeTemplate": template_name,
                    "replicas": 1,
                    "minReplicas": 0,
                    "maxReplicas": 5,
                    "rayStartParams": {"node-ip-address": "$MY_POD_IP"},
                }
            ],
        },
    }


def snake_case(value: Any) -> Any:
    """The same body with proto (snake_case) field names, as upstream's Go client sends it."""
    names = {
        "clusterSpec": "cluster_spec",
        "headGroupSpec": "head_group_spec",
        "workerGroupSpec": "worker_group_spec",
        "computeTemplate": "compute_template",
        "serviceType": "service_type",
        "rayStartParams": "ray_start_params",
        "groupName": "group_name",
        "minReplicas": "min_replicas",
        "maxReplicas": "max_replicas",
        "gpuAccelerator": "gpu_accelerator",
        "memoryUnit": "memory_unit",
        "extendedResources": "extended_resources",
    }
    if isinstance(value, dict):
        # Map keys (rayStartParams contents) are data and stay as they are.
        return {names.get(k, k): (v if k == "rayStartParams" else snake_case(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_case(v) for v in value]
    return value


def job(namespace: str, name: str = "test-job", template_name: str = "default-template") -> dict[str, Any]:
    spec = cluster(namespace, template_name=template_name)["clusterSpec"]
    return {
        "name": name,
        "namespace": namespace,
        "user": "alice",
        "version": "2.46.0",
        "entrypoint": "python /home/ray/samples/sample_code.py",
        "metadata": {"team": "data"},
        "runtimeEnv": "pip:\n  - requests==2.26.0\n",
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 60,
        "activeDeadlineSeconds": 120,
        "entrypointNumCpus": 1.5,
        "entrypointNumGpus": 1,
        "clusterSpec": spec,
    }


SERVE_CONFIG = """applications:
  - name: fruit_app
    import_path: fruit.deployment_graph
    route_prefix: /fruit
    runtime_env:
      working_dir: "https://github.com/ray-project/test_dag/archive/78b4a5da38796123d9f9ffff59bab2792a043e95.zip"
    deployments:
      - name: MangoStand
        num_replicas: 1
"""


def service(
    namespace: str, name: str = "test-service", template_name: str = "default-template"
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "user": "alice",
        "version": "2.46.0",
        "serveConfigV2": SERVE_CONFIG,
        "serviceUnhealthySecondThreshold": 10,
        "deploymentUnhealthySecondThreshold": 20,
        "clusterSpec": cluster(namespace, template_name=template_name)["clusterSpec"],
    }
