"""Pod templates of head and worker groups, in both directions."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from service import vocabulary
from service.converters.environment import env_from_kube, env_to_kube
from service.converters.errors import BuildError
from service.converters.quantity import QuantityError, canonical_quantity
from service.converters.volumes import volumes_from_kube, volumes_to_kube
from service.schemas.common import Capabilities, HeadGroupSpec, SecurityContext, WorkerGroupSpec
from service.schemas.compute_template import ComputeTemplate, PodToleration

HEAD_CONTAINER = "ray-head"
WORKER_CONTAINER = "ray-worker"
DEFAULT_IMAGE_REPOSITORY = "rayproject/ray"
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"

# Added by the operator, the network plugins or this server; not the user's.
SYSTEM_ANNOTATIONS = frozenset(
    {
        vocabulary.COMPUTE_IMAGE_ANNOTATION,
        vocabulary.COMPUTE_TEMPLATE_ANNOTATION,
        "openshift.io/scc",
        "cni.projectcalico.org/podIP",
        "cni.projectcalico.org/podIPs",
        "cni.projectcalico.org/containerID",
        "ray.io/health-state",
        "ray.io/ft-enabled",
        "k8s.v1.cni.cncf.io/network-status",
        "k8s.v1.cni.cncf.io/networks-status",
    }
)
SYSTEM_LABELS = frozenset(
    {
        "app.kubernetes.io/created-by",
        vocabulary.APP_NAME_LABEL,
        vocabulary.RAY_CLUSTER_LABEL,
        "ray.io/cluster-dashboard",
        "ray.io/group",
        "ray.io/identifier",
        "ray.io/is-ray-node",
        "ray.io/node-type",
    }
)

GroupSpec = HeadGroupSpec | WorkerGroupSpec


def default_image(image: str, version: str) -> str:
    """The requested image, else upstream's default (``rayproject/ray:`` even when the version is empty)."""
    return image or f"{DEFAULT_IMAGE_REPOSITORY}:{version}"


def image_pull_policy(requested: str) -> str:
    return "Always" if requested.lower() == "always" else "IfNotPresent"


def template_resources(template: ComputeTemplate) -> dict[str, dict[str, str]]:
    """Container ``resources`` for a compute template: limits equal requests unless the template sets its own."""
    amounts = {**_compute_amounts(template), **_accelerator_amounts(template)}
    return {"limits": _limits(template, amounts), "requests": amounts}


def _limits(template: ComputeTemplate, requests: dict[str, str]) -> dict[str, str]:
    limits = dict(requests)
    if template.cpu_limit:
        limits["cpu"] = _quantity(str(template.cpu_limit), template.name)
    if template.memory_limit:
        limits["memory"] = _quantity(f"{template.memory_limit}{template.memory_unit}", template.name)
    return limits


def _compute_amounts(template: ComputeTemplate) -> dict[str, str]:
    return {
        "cpu": _quantity(str(template.cpu), template.name),
        "memory": _quantity(f"{template.memory}{template.memory_unit}", template.name),
    }


def _accelerator_amounts(template: ComputeTemplate) -> dict[str, str]:
    amounts: dict[str, str] = {}
    if template.gpu > 0:
        amounts[template.gpu_accelerator or DEFAULT_GPU_RESOURCE] = str(template.gpu)
    amounts.update({name: str(count) for name, count in template.extended_resources.items() if count})
    return amounts


def apply_template(pod_template: Any, template: ComputeTemplate, container_name: str) -> dict[str, Any]:
    """A user's pod template with a compute template applied, as upstream's V2 routes apply it: the template's
    annotation; its cpu and memory as limits and requests of every container; GPUs and extended resources only on
    the Ray container (``container_name``); its tolerations after the pod's own. Other fields are kept."""
    pod = dict(pod_template) if isinstance(pod_template, dict) else {}
    metadata = dict(pod.get("metadata") or {})
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        vocabulary.COMPUTE_TEMPLATE_ANNOTATION: template.name,
    }
    pod["metadata"] = metadata
    spec = dict(pod.get("spec") or {})
    compute, accelerators = _compute_amounts(template), _accelerator_amounts(template)
    containers = []
    for container in spec.get("containers") or []:
        if not isinstance(container, dict):
            containers.append(container)
            continue
        amounts = {**compute, **(accelerators if container.get("name") == container_name else {})}
        resources = dict(container.get("resources") or {})
        for key, values in (("limits", _limits(template, amounts)), ("requests", amounts)):
            resources[key] = {**(resources.get(key) or {}), **values}
        containers.append({**container, "resources": resources})
    if "containers" in spec:
        spec["containers"] = containers
    if template.tolerations:
        spec["tolerations"] = [
            *(spec.get("tolerations") or []),
            *(toleration_to_kube(t) for t in template.tolerations),
        ]
    pod["spec"] = spec
    return pod


def _quantity(text: str, template_name: str) -> str:
    try:
        return canonical_quantity(text)
    except QuantityError as exc:
        # Only reachable with a ConfigMap edited by hand: creation validates the memory quantity.
        raise BuildError(f'invalid quantity "{text}" in compute template {template_name}: {exc}') from None


def toleration_to_kube(toleration: PodToleration) -> dict[str, str]:
    """A pod toleration; like upstream, any effect other than NoExecute / NoSchedule is PreferNoSchedule."""
    fields = {
        "key": toleration.key,
        "operator": "Exists" if toleration.operator == "Exists" else "Equal",
        "value": toleration.value,
        "effect": toleration.effect
        if toleration.effect in ("NoExecute", "NoSchedule")
        else "PreferNoSchedule",
    }
    return {k: v for k, v in fields.items() if v}


def security_context_to_kube(context: SecurityContext | None) -> dict[str, Any] | None:
    if context is None:
        return None
    capabilities: dict[str, list[str]] = {}
    if context.capabilities is not None:
        if context.capabilities.add:
            capabilities["add"] = list(context.capabilities.add)
        if context.capabilities.drop:
            capabilities["drop"] = list(context.capabilities.drop)
    out: dict[str, Any] = {"capabilities": capabilities}
    if context.privileged is not None:
        out["privileged"] = context.privileged
    return out


def security_context_from_kube(context: Mapping[str, Any] | None) -> SecurityContext | None:
    if context is None:
        return None
    capabilities = context.get("capabilities") or {}
    return SecurityContext(
        capabilities=Capabilities(
            add=list(capabilities.get("add") or []), drop=list(capabilities.get("drop") or [])
        ),
        privileged=context.get("privileged"),
    )


def build_pod_template(
    group: GroupSpec,
    *,
    template: ComputeTemplate,
    version: str,
    container_name: str,
    env: list[dict[str, Any]],
    ports: list[dict[str, Any]],
    lifecycle: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The pod template of a head or worker group; ``env`` holds the variables before the group's own."""
    mounts, pod_volumes = volumes_to_kube(group.volumes)
    container: dict[str, Any] = {
        "name": container_name,
        "image": default_image(group.image, version),
        "imagePullPolicy": image_pull_policy(group.image_pull_policy),
        "env": env + env_to_kube(group.environment),
        "ports": ports,
        "resources": template_resources(template),
    }
    if mounts:
        container["volumeMounts"] = mounts
    if (security := security_context_to_kube(group.security_context)) is not None:
        container["securityContext"] = security
    if lifecycle is not None:
        container["lifecycle"] = lifecycle
    spec: dict[str, Any] = {"containers": [container]}
    if pod_volumes:
        spec["volumes"] = pod_volumes
    if template.tolerations:
        spec["tolerations"] = [toleration_to_kube(t) for t in template.tolerations]
    if template.node_selector:
        spec["nodeSelector"] = dict(template.node_selector)
    if template.affinity:
        spec["affinity"] = copy.deepcopy(template.affinity)
    # Upstream ignores one-character values.
    if len(group.service_account) > 1:
        spec["serviceAccountName"] = group.service_account
    if len(group.image_pull_secret) > 1:
        spec["imagePullSecrets"] = [{"name": group.image_pull_secret}]
    metadata: dict[str, Any] = {
        "annotations": {
            vocabulary.COMPUTE_TEMPLATE_ANNOTATION: group.compute_template,
            vocabulary.COMPUTE_IMAGE_ANNOTATION: group.image,
            **group.annotations,
        }
    }
    if group.labels:
        metadata["labels"] = dict(group.labels)
    return {"metadata": metadata, "spec": spec}


def find_container(pod_spec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The container called ``name``, else the first one (CRs written by hand may name it differently)."""
    containers: Sequence[Mapping[str, Any]] = pod_spec.get("containers") or []
    for container in containers:
        if container.get("name") == name:
            return container
    return containers[0] if containers else {}


def group_fields_from_kube(
    pod_template: Mapping[str, Any], container_name: str, reserved_env: frozenset[str]
) -> dict[str, Any]:
    """The fields head and worker groups share, read from a pod template, as keyword arguments."""
    metadata = pod_template.get("metadata") or {}
    spec = pod_template.get("spec") or {}
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    container = find_container(spec, container_name)
    service_account = spec.get("serviceAccountName") or ""
    pull_secrets = spec.get("imagePullSecrets") or []
    return {
        "compute_template": annotations.get(vocabulary.COMPUTE_TEMPLATE_ANNOTATION, ""),
        "image": annotations.get(vocabulary.COMPUTE_IMAGE_ANNOTATION, ""),
        "volumes": volumes_from_kube(spec.get("volumes"), container.get("volumeMounts")),
        "annotations": {k: v for k, v in annotations.items() if k not in SYSTEM_ANNOTATIONS},
        "labels": {k: v for k, v in (metadata.get("labels") or {}).items() if k not in SYSTEM_LABELS},
        "environment": env_from_kube(container.get("env"), reserved_env),
        "security_context": security_context_from_kube(container.get("securityContext")),
        "service_account": service_account if len(service_account) > 1 else "",
        "image_pull_secret": pull_secrets[0].get("name", "") if pull_secrets else "",
        "image_pull_policy": "Always" if container.get("imagePullPolicy") == "Always" else "",
    }
