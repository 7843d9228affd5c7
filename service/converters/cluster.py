"""RayCluster custom resources: built from API clusters (upstream ``NewRayCluster``) and read back."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from service import vocabulary
from service.converters.environment import (
    HEAD_RESERVED,
    WORKER_RESERVED,
    autoscaler_env_from_kube,
    autoscaler_env_to_kube,
    env_to_kube,
    field_env,
    resource_env,
)
from service.converters.errors import BuildError, MissingTemplateError
from service.converters.events import api_time
from service.converters.pod_template import (
    HEAD_CONTAINER,
    WORKER_CONTAINER,
    build_pod_template,
    group_fields_from_kube,
    image_pull_policy,
)
from service.converters.quantity import QuantityError, canonical_or_same, canonical_quantity
from service.converters.volumes import mount_from_kube, volume_mount
from service.schemas.cluster import Cluster, Environment
from service.schemas.common import (
    AutoscalerOptions,
    ClusterSpec,
    EnvironmentVariables,
    Event,
    HeadGroupSpec,
    WorkerGroupSpec,
)
from service.schemas.compute_template import ComputeTemplate

HEAD_PORTS = (("redis", 6379), ("head", 10001), ("dashboard", 8265), ("metrics", 8080))
SERVE_PORTS = (("dashboard-agent", 52365), ("serve", 8000))
WORKER_PORT = 80
DEFAULT_AUTOSCALER_CPU = "500m"
DEFAULT_AUTOSCALER_MEMORY = "512Mi"


def required_templates(spec: ClusterSpec | None) -> list[str]:
    """The distinct compute template names a cluster spec uses, head first (for the manager's lookups)."""
    if spec is None:
        return []
    names = [spec.head_group_spec.compute_template] if spec.head_group_spec else []
    names.extend(w.compute_template for w in spec.worker_group_spec)
    return list(dict.fromkeys(name for name in names if name))


def format_go_time(moment: dt.datetime) -> str:
    """``moment`` as Go's ``time.Time.String()`` in UTC, e.g. ``2023-09-25 10:48:35.766443 +0000 UTC``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "") + " +0000 UTC"


def cluster_spec_to_cr(
    spec: ClusterSpec,
    templates: Mapping[str, ComputeTemplate],
    version: str,
    envs: EnvironmentVariables | None = None,
    serve_ports: bool = False,
) -> dict[str, Any]:
    """The ``spec`` of a RayCluster; also a RayJob's ``rayClusterSpec``, a RayService's ``rayClusterConfig``.

    ``envs`` are added to every container before the groups' own variables; ``serve_ports`` opens the serve
    and dashboard-agent ports on the head. Raises ``BuildError`` (``MissingTemplateError`` for an unknown
    template).
    """
    if spec.head_group_spec is None:
        raise BuildError("Cluster Spec Object requires HeadGroupSpec to be populated. Please specify one.")
    out: dict[str, Any] = {
        "rayVersion": version,
        "headGroupSpec": _head_group(spec.head_group_spec, templates, version, envs, serve_ports),
        "workerGroupSpecs": [_worker_group(w, templates, version, envs) for w in spec.worker_group_spec],
    }
    if spec.head_service_annotations:
        out["headServiceAnnotations"] = dict(spec.head_service_annotations)
    if spec.enable_in_tree_autoscaling:
        out["enableInTreeAutoscaling"] = True
        if spec.autoscaler_options is not None:
            out["autoscalerOptions"] = _autoscaler_options(spec.autoscaler_options)
    return out


def _template(templates: Mapping[str, ComputeTemplate], name: str) -> ComputeTemplate:
    try:
        return templates[name]
    except KeyError:
        raise MissingTemplateError(name) from None


def _ports(pairs: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"name": name, "containerPort": port} for name, port in pairs]


def _head_group(
    head: HeadGroupSpec,
    templates: Mapping[str, ComputeTemplate],
    version: str,
    envs: EnvironmentVariables | None,
    serve_ports: bool,
) -> dict[str, Any]:
    pod = build_pod_template(
        head,
        template=_template(templates, head.compute_template),
        version=version,
        container_name=HEAD_CONTAINER,
        env=[field_env("MY_POD_IP", "status.podIP"), *env_to_kube(envs)],
        ports=_ports(HEAD_PORTS + (SERVE_PORTS if serve_ports else ())),
    )
    out: dict[str, Any] = {}
    if head.service_type:
        out["serviceType"] = head.service_type
    if head.enable_ingress:
        out["enableIngress"] = True
    out["rayStartParams"] = dict(head.ray_start_params or {})
    out["template"] = pod
    return out


def _worker_env() -> list[dict[str, Any]]:
    return [
        {"name": "RAY_DISABLE_DOCKER_CPU_WARNING", "value": "1"},
        {"name": "TYPE", "value": "worker"},
        resource_env("CPU_REQUEST", WORKER_CONTAINER, "requests.cpu"),
        resource_env("CPU_LIMITS", WORKER_CONTAINER, "limits.cpu"),
        resource_env("MEMORY_REQUESTS", WORKER_CONTAINER, "requests.memory"),
        resource_env("MEMORY_LIMITS", WORKER_CONTAINER, "limits.memory"),
        field_env("MY_POD_NAME", "metadata.name"),
        field_env("MY_POD_IP", "status.podIP"),
    ]


def _worker_group(
    worker: WorkerGroupSpec,
    templates: Mapping[str, ComputeTemplate],
    version: str,
    envs: EnvironmentVariables | None,
) -> dict[str, Any]:
    pod = build_pod_template(
        worker,
        template=_template(templates, worker.compute_template),
        version=version,
        container_name=WORKER_CONTAINER,
        env=[*_worker_env(), *env_to_kube(envs)],
        ports=[{"containerPort": WORKER_PORT}],
        lifecycle={"preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}},
    )
    out: dict[str, Any] = {
        "groupName": worker.group_name,
        "replicas": worker.replicas,
        # Upstream's defaulting: an unset bound takes the replica count.
        "minReplicas": worker.min_replicas or worker.replicas,
        "maxReplicas": worker.max_replicas or worker.replicas,
    }
    if worker.ray_start_params:
        out["rayStartParams"] = dict(worker.ray_start_params)
    out["template"] = pod
    return out


def _autoscaler_options(options: AutoscalerOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if options.idle_timeout_seconds > 0:
        out["idleTimeoutSeconds"] = options.idle_timeout_seconds
    if options.upscaling_mode:
        out["upscalingMode"] = options.upscaling_mode
    if options.image:
        out["image"] = options.image
    if options.image_pull_policy and image_pull_policy(options.image_pull_policy) == "Always":
        out["imagePullPolicy"] = "Always"
    env, env_from = autoscaler_env_to_kube(options.envs)
    if env:
        out["env"] = env
    if env_from:
        out["envFrom"] = env_from
    if options.volumes:
        out["volumeMounts"] = [volume_mount(v) for v in options.volumes]
    if options.cpu or options.memory:
        amounts = {
            "cpu": _autoscaler_quantity(options.cpu or DEFAULT_AUTOSCALER_CPU, "cpu"),
            "memory": _autoscaler_quantity(options.memory or DEFAULT_AUTOSCALER_MEMORY, "memory"),
        }
        out["resources"] = {"limits": amounts, "requests": dict(amounts)}
    return out


def _autoscaler_quantity(text: str, resource: str) -> str:
    try:
        return canonical_quantity(text)
    except QuantityError:
        raise BuildError(f"{resource} for autoscaler is not specified correctly") from None


def cluster_to_cr(
    cluster: Cluster, namespace: str, templates: Mapping[str, ComputeTemplate], now: dt.datetime
) -> dict[str, Any]:
    """The RayCluster object for ``cluster`` (metadata included), created at ``now``."""
    if cluster.cluster_spec is None:
        raise BuildError("A ClusterSpec object is required. Please specify one.")
    annotations = {**cluster.annotations, vocabulary.CREATION_TIMESTAMP_ANNOTATION: format_go_time(now)}
    annotations = with_template_versions(annotations, template_groups(cluster.cluster_spec), templates)
    serve = cluster.annotations.get(vocabulary.ENABLE_SERVE_SERVICE_ANNOTATION) == "true"
    return {
        "apiVersion": vocabulary.API_VERSION,
        "kind": vocabulary.RAY_CLUSTER_KIND,
        "metadata": {
            "name": cluster.name,
            "namespace": namespace,
            "labels": {
                vocabulary.CLUSTER_NAME_LABEL: cluster.name,
                vocabulary.USER_LABEL: cluster.user,
                vocabulary.RAY_VERSION_LABEL: cluster.version,
                vocabulary.ENVIRONMENT_LABEL: Environment(cluster.environment).name,
                vocabulary.APP_NAME_LABEL: vocabulary.APP_NAME,
                vocabulary.MANAGED_BY_LABEL: vocabulary.MANAGED_BY,
            },
            "annotations": annotations,
        },
        "spec": cluster_spec_to_cr(cluster.cluster_spec, templates, cluster.version, cluster.envs, serve),
    }


def with_template_versions(
    annotations: Mapping[str, str],
    groups: Sequence[tuple[str, str]],
    templates: Mapping[str, ComputeTemplate],
    removed: Sequence[str] = (),
) -> dict[str, str]:
    """``annotations`` with the template-versions annotation updated for ``groups`` (group name, template name).

    Pods keep what their template said when their group was built; the annotation says, per group (the head is
    ``headgroup``), which template and which version of it (its ConfigMap's resourceVersion): ``template@version``.
    """
    out = dict(annotations)
    try:
        known = json.loads(out.get(vocabulary.TEMPLATE_VERSIONS_ANNOTATION) or "{}")
    except ValueError:
        known = {}
    versions = {str(k): str(v) for k, v in (known if isinstance(known, dict) else {}).items()}
    for group in removed:
        versions.pop(group, None)
    for group, name in groups:
        template = templates.get(name)
        if template is not None and template.resource_version:
            versions[group] = f"{name}@{template.resource_version}"
    if versions:
        out[vocabulary.TEMPLATE_VERSIONS_ANNOTATION] = json.dumps(versions, separators=(",", ":"))
    else:
        out.pop(vocabulary.TEMPLATE_VERSIONS_ANNOTATION, None)
    return out


def template_groups(spec: ClusterSpec | None) -> list[tuple[str, str]]:
    """(group name, template name) of every group of a spec, the head as ``headgroup``."""
    if spec is None:
        return []
    head = [("headgroup", spec.head_group_spec.compute_template)] if spec.head_group_spec else []
    return head + [(w.group_name, w.compute_template) for w in spec.worker_group_spec]


def cluster_spec_from_cr(spec: Mapping[str, Any]) -> ClusterSpec:
    """The API ClusterSpec of a RayCluster ``spec`` (upstream ``PopulateRayClusterSpec``)."""
    out = ClusterSpec(
        head_group_spec=_head_from_cr(spec.get("headGroupSpec") or {}),
        worker_group_spec=[_worker_from_cr(w) for w in spec.get("workerGroupSpecs") or ()],
        head_service_annotations=dict(spec.get("headServiceAnnotations") or {}),
    )
    if spec.get("enableInTreeAutoscaling"):
        out.enable_in_tree_autoscaling = True
        if (options := spec.get("autoscalerOptions")) is not None:
            out.autoscaler_options = _autoscaler_from_cr(options)
    return out


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def _head_from_cr(head: Mapping[str, Any]) -> HeadGroupSpec:
    return HeadGroupSpec(
        **group_fields_from_kube(head.get("template") or {}, HEAD_CONTAINER, HEAD_RESERVED),
        ray_start_params=_string_map(head.get("rayStartParams")),
        service_type=head.get("serviceType") or "",
        enable_ingress=bool(head.get("enableIngress")),
    )


def _worker_from_cr(worker: Mapping[str, Any]) -> WorkerGroupSpec:
    return WorkerGroupSpec(
        **group_fields_from_kube(worker.get("template") or {}, WORKER_CONTAINER, WORKER_RESERVED),
        group_name=worker.get("groupName", ""),
        replicas=worker.get("replicas") or 0,
        min_replicas=worker.get("minReplicas") or 0,
        max_replicas=worker.get("maxReplicas") or 0,
        ray_start_params=_string_map(worker.get("rayStartParams")),
    )


def _autoscaler_from_cr(options: Mapping[str, Any]) -> AutoscalerOptions:
    resources = options.get("resources") or {}
    amounts = resources.get("limits") or resources.get("requests") or {}
    return AutoscalerOptions(
        idle_timeout_seconds=options.get("idleTimeoutSeconds") or 0,
        upscaling_mode=options.get("upscalingMode") or "",
        image=options.get("image") or "",
        image_pull_policy=options.get("imagePullPolicy") or "",
        envs=autoscaler_env_from_kube(options.get("env"), options.get("envFrom")),
        volumes=[mount_from_kube(m) for m in options.get("volumeMounts") or ()],
        cpu=canonical_or_same(str(amounts["cpu"])) if "cpu" in amounts else "",
        memory=canonical_or_same(str(amounts["memory"])) if "memory" in amounts else "",
    )


def cluster_from_cr(cr: Mapping[str, Any], events: Sequence[Event]) -> Cluster:
    """The API Cluster for a RayCluster object and its (already converted) events."""
    metadata = cr.get("metadata") or {}
    cr_labels: Mapping[str, str] = metadata.get("labels") or {}
    spec = cr.get("spec") or {}
    status = cr.get("status") or {}
    return Cluster(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        user=cr_labels.get(vocabulary.USER_LABEL, ""),
        # Clusters created outside the API have no version label.
        version=cr_labels.get(vocabulary.RAY_VERSION_LABEL) or spec.get("rayVersion") or "",
        environment=Environment.__members__.get(
            cr_labels.get(vocabulary.ENVIRONMENT_LABEL, ""), Environment.DEV
        ),
        cluster_spec=cluster_spec_from_cr(spec),
        annotations={
            k: v for k, v in (metadata.get("annotations") or {}).items() if k != vocabulary.INTENT_ANNOTATION
        },
        created_at=api_time(metadata.get("creationTimestamp")),
        deleted_at=api_time(metadata.get("deletionTimestamp")),
        cluster_state=status.get("state") or "",
        events=list(events),
        service_endpoint=_string_map(status.get("endpoints")),
    )


def worker_group_to_cr(
    worker: WorkerGroupSpec, templates: Mapping[str, ComputeTemplate], version: str
) -> dict[str, Any]:
    """One ``workerGroupSpecs`` entry, built as a create builds it (for a group added to an existing cluster)."""
    return _worker_group(worker, templates, version, None)
