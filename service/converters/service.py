"""RayService custom resources: built from API services (upstream ``NewRayService``) and read back.

Also translates the removed serve "V1" ``serveDeploymentGraphSpec`` (still used by the seed's examples) into
an equivalent ``serveConfigV2`` document.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from service import vocabulary
from service.converters.cluster import cluster_spec_from_cr, cluster_spec_to_cr, format_go_time
from service.converters.errors import BuildError
from service.converters.events import api_time
from service.schemas.common import Event
from service.schemas.compute_template import ComputeTemplate
from service.schemas.service import (
    ActorOptions,
    RayService,
    RayServiceStatus,
    ServeApplicationStatus,
    ServeConfig,
    ServeDeploymentGraphSpec,
    ServeDeploymentStatus,
)

DEFAULT_ROUTE_PREFIX = "/"
DEFAULT_APPLICATION_NAME = "default"


def service_to_cr(
    service: RayService, namespace: str, templates: Mapping[str, ComputeTemplate], now: dt.datetime
) -> dict[str, Any]:
    """The RayService object for ``service``; raises ``BuildError`` (e.g. no serve configuration)."""
    serve_config = service.serve_config_v2
    if not serve_config and service.serve_deployment_graph_spec is not None:
        serve_config = serve_graph_to_config_v2(service.serve_deployment_graph_spec)
    if not serve_config:
        raise BuildError("serve configuration is not defined")
    if service.cluster_spec is None:
        raise BuildError("A ClusterSpec object is required. Please specify one.")
    spec: dict[str, Any] = {
        "serveConfigV2": serve_config,
        "rayClusterConfig": cluster_spec_to_cr(
            service.cluster_spec, templates, service.version, serve_ports=True
        ),
    }
    if service.service_unhealthy_second_threshold > 0:
        spec["serviceUnhealthySecondThreshold"] = service.service_unhealthy_second_threshold
    if service.deployment_unhealthy_second_threshold > 0:
        spec["deploymentUnhealthySecondThreshold"] = service.deployment_unhealthy_second_threshold
    return {
        "apiVersion": vocabulary.API_VERSION,
        "kind": vocabulary.RAY_SERVICE_KIND,
        "metadata": {
            "name": service.name,
            "namespace": namespace,
            "labels": {
                vocabulary.USER_LABEL: service.user,
                vocabulary.APP_NAME_LABEL: vocabulary.APP_NAME,
                vocabulary.MANAGED_BY_LABEL: vocabulary.MANAGED_BY,
            },
            "annotations": {vocabulary.CREATION_TIMESTAMP_ANNOTATION: format_go_time(now)},
        },
        "spec": spec,
    }


def service_update_cr(
    service: RayService,
    namespace: str,
    templates: Mapping[str, ComputeTemplate],
    now: dt.datetime,
    existing: Mapping[str, Any],
) -> dict[str, Any]:
    """The object that replaces ``existing`` (a full update): only an update timestamp as annotation."""
    cr = service_to_cr(service, namespace, templates, now)
    metadata = cr["metadata"]
    metadata["annotations"] = {vocabulary.UPDATE_TIMESTAMP_ANNOTATION: format_go_time(now)}
    if resource_version := (existing.get("metadata") or {}).get("resourceVersion"):
        metadata["resourceVersion"] = resource_version
    return cr


def service_from_cr(
    cr: Mapping[str, Any],
    service_events: Sequence[Event],
    cluster: Mapping[str, Any] | None,
    cluster_events: Sequence[Event],
) -> RayService:
    """The API RayService for a RayService object, its events, and its active RayCluster with events.

    Both event lists are expected to be converted with the service name as prefix (upstream names them
    ``<service name>-<event name>``); ``cluster`` only fills the state and endpoints the service status lacks.
    """
    metadata = cr.get("metadata") or {}
    spec = cr.get("spec") or {}
    cluster_config = spec.get("rayClusterConfig")
    return RayService(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        user=(metadata.get("labels") or {}).get(vocabulary.USER_LABEL, ""),
        version=(cluster_config or {}).get("rayVersion") or "",
        serve_config_v2=spec.get("serveConfigV2") or "",
        cluster_spec=cluster_spec_from_cr(cluster_config) if cluster_config is not None else None,
        service_unhealthy_second_threshold=spec.get("serviceUnhealthySecondThreshold") or 0,
        deployment_unhealthy_second_threshold=spec.get("deploymentUnhealthySecondThreshold") or 0,
        ray_service_status=_status_from_cr(cr.get("status") or {}, service_events, cluster, cluster_events),
        created_at=api_time(metadata.get("creationTimestamp")),
        delete_at=api_time(metadata.get("deletionTimestamp")),
    )


def _status_from_cr(
    status: Mapping[str, Any],
    service_events: Sequence[Event],
    cluster: Mapping[str, Any] | None,
    cluster_events: Sequence[Event],
) -> RayServiceStatus:
    active = status.get("activeServiceStatus") or {}
    cluster_status = active.get("rayClusterStatus") or {}
    # The service status copies the active cluster's status; the cluster itself is the fallback when it does not.
    live_status = (cluster or {}).get("status") or {}
    endpoints = cluster_status.get("endpoints") or live_status.get("endpoints") or {}
    return RayServiceStatus(
        ray_service_events=[*service_events, *cluster_events],
        ray_cluster_name=active.get("rayClusterName") or "",
        ray_cluster_state=cluster_status.get("state") or live_status.get("state") or "",
        service_endpoint={str(k): str(v) for k, v in endpoints.items()},
        serve_application_status=[
            _application_status(name, app) for name, app in (active.get("applicationStatuses") or {}).items()
        ],
    )


def _application_status(name: str, app: Mapping[str, Any]) -> ServeApplicationStatus:
    deployments = app.get("serveDeploymentStatuses") or {}
    return ServeApplicationStatus(
        name=name,
        status=app.get("status") or "",
        message=app.get("message") or "",
        serve_deployment_status=[
            ServeDeploymentStatus(
                deployment_name=deployment, status=d.get("status") or "", message=d.get("message") or ""
            )
            for deployment, d in deployments.items()
        ],
    )


def serve_graph_to_config_v2(graph: ServeDeploymentGraphSpec) -> str:
    """A ``serveConfigV2`` YAML document with one application equivalent to the serve "V1" graph spec.

    Raises ``BuildError`` when an embedded YAML or JSON string does not parse.
    """
    app: dict[str, Any] = {
        "name": _application_name(graph.import_path),
        "import_path": graph.import_path,
        "route_prefix": next(
            (c.route_prefix for c in graph.serve_configs if c.route_prefix), DEFAULT_ROUTE_PREFIX
        ),
    }
    if graph.runtime_env:
        app["runtime_env"] = _parse_yaml(graph.runtime_env, "runtimeEnv")
    if graph.serve_configs:
        app["deployments"] = [_deployment(c) for c in graph.serve_configs]
    return yaml.safe_dump({"applications": [app]}, sort_keys=False)


def _application_name(import_path: str) -> str:
    """The first package of the import path (``fruit.deployment_graph`` -> ``fruit``)."""
    module = import_path.split(":", 1)[0] if ":" in import_path else import_path.rpartition(".")[0]
    return module.split(".", 1)[0] or DEFAULT_APPLICATION_NAME


def _deployment(config: ServeConfig) -> dict[str, Any]:
    where = f"serveConfigs[{config.deployment_name}]"
    out: dict[str, Any] = {"name": config.deployment_name}
    # Ray Serve rejects a fixed replica count next to an autoscaling config.
    if config.replicas and not config.autoscaling_config:
        out["num_replicas"] = config.replicas
    if config.max_concurrent_queries:
        out["max_ongoing_requests"] = config.max_concurrent_queries
    if config.user_config:
        out["user_config"] = _parse_yaml(config.user_config, f"{where}.userConfig")
    if config.autoscaling_config:
        out["autoscaling_config"] = _parse_yaml(config.autoscaling_config, f"{where}.autoscalingConfig")
    if config.actor_options is not None and (options := _actor_options(config.actor_options, where)):
        out["ray_actor_options"] = options
    return out


def _actor_options(options: ActorOptions, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    numbers = {
        "num_cpus": options.cpus_per_actor,
        "num_gpus": options.gpus_per_actor,
        "memory": options.memory_per_actor,
        "object_store_memory": options.object_store_memory_per_actor,
    }
    out.update({key: _number(value) for key, value in numbers.items() if value})
    if options.custom_resource:
        out["resources"] = _parse_json(options.custom_resource, f"{where}.actorOptions.customResource")
    if options.accelerator_type:
        out["accelerator_type"] = options.accelerator_type
    if options.runtime_env:
        out["runtime_env"] = _parse_yaml(options.runtime_env, f"{where}.actorOptions.runtimeEnv")
    return out


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BuildError(f"serveDeploymentGraphSpec {where} is not valid YAML: {exc}") from None


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BuildError(f"serveDeploymentGraphSpec {where} is not valid JSON: {exc}") from None
