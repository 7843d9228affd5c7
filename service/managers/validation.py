"""Request validation with upstream's rules and messages (spec section 5.3), first failure wins."""

from __future__ import annotations

from service.errors import invalid_input
from service.schemas.common import ClusterSpec

_PULL_POLICIES = ("", "Always", "IfNotPresent")


def require(condition: bool, message: str, wrap: str) -> None:
    if not condition:
        raise invalid_input(message, wrap)


def validate_namespace(path_namespace: str, body_namespace: str, what: str, wrap: str) -> None:
    """The body's namespace must be empty or match the path (upstream wording differs per kind: ``what``)."""
    require(bool(path_namespace), "Namespace is empty. Please specify a valid value.", wrap)
    require(
        body_namespace == path_namespace,
        f"The namespace in the request is different from the namespace {what}.",
        wrap,
    )


def validate_cluster_spec(spec: ClusterSpec | None, wrap: str) -> None:
    require(spec is not None, "A ClusterSpec object is required. Please specify one.", wrap)
    assert spec is not None
    head = spec.head_group_spec
    require(
        head is not None,
        "Cluster Spec Object requires HeadGroupSpec to be populated. Please specify one.",
        wrap,
    )
    assert head is not None
    require(
        bool(head.compute_template),
        "HeadGroupSpec compute template is empty. Please specify a valid value.",
        wrap,
    )
    require(
        bool(head.ray_start_params), "HeadGroupSpec RayStartParams is empty. Please specify values.", wrap
    )
    require(
        head.image_pull_policy in _PULL_POLICIES,
        "HeadGroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent",
        wrap,
    )
    for index, worker in enumerate(spec.worker_group_spec):
        prefix = f"WorkerNodeSpec {index}"
        require(bool(worker.group_name), f"{prefix} group name is empty. Please specify a valid value.", wrap)
        require(
            bool(worker.compute_template),
            f"{prefix} compute template is empty. Please specify a valid value.",
            wrap,
        )
        require(
            worker.max_replicas != 0,
            f"{prefix} MaxReplicas can not be 0. Please specify a valid value.",
            wrap,
        )
        require(
            worker.min_replicas <= worker.max_replicas,
            f"{prefix} MinReplica > MaxReplicas. Please specify a valid value.",
            wrap,
        )
        require(
            worker.image_pull_policy in _PULL_POLICIES,
            "Worker GroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent",
            wrap,
        )
