"""Request validation: upstream's rules and messages (first failure wins), then the checks upstream lacks.

Names and namespaces are checked as Kubernetes checks them before anything else happens with them: before a
record is written and before they become part of a URL.
"""

from __future__ import annotations

from collections.abc import Callable

from service import names
from service.errors import invalid_input
from service.managers.texts import NAMESPACE_EMPTY
from service.schemas.common import ClusterSpec, WorkerGroupSpec

_PULL_POLICIES = ("", "Always", "IfNotPresent")
# What the operator starts a head with when nothing is given; the seed's examples send `{}`.
DEFAULT_HEAD_START_PARAMS = {"dashboard-host": "0.0.0.0"}


def require(condition: bool, message: str, wrap: str | None = None) -> None:
    if not condition:
        raise invalid_input(message, wrap)


def check_name(what: str, value: str, problem: Callable[[str], str | None], wrap: str | None = None) -> None:
    """A 400 when ``value`` is not a valid Kubernetes name (``what`` is e.g. "Cluster name")."""
    reason = problem(value)
    if reason is not None:
        raise invalid_input(
            f"{what} {names.shown(value)} is invalid: {reason}. Please specify a valid value.", wrap
        )


def check_namespace(namespace: str, wrap: str | None = None) -> None:
    check_name("Namespace", namespace, names.label_problem, wrap)


def validate_namespace(path_namespace: str, body_namespace: str, mismatch: str, wrap: str) -> None:
    """The path namespace must be set and valid; the body's must be empty or the same."""
    require(bool(path_namespace), NAMESPACE_EMPTY, wrap)
    require(body_namespace == path_namespace, mismatch, wrap)
    check_namespace(path_namespace, wrap)


def validate_cluster_spec(spec: ClusterSpec | None, wrap: str, *, legacy: bool = False) -> ClusterSpec:
    """Upstream's cluster-spec rules, then replica bounds; returns the spec (with v1alpha2 defaults if ``legacy``).

    ``legacy`` is the seed's ``/apis/v1alpha2``: it predates upstream's "RayStartParams is empty" rule, so an
    empty head ``rayStartParams`` gets the operator's default instead of a 400.
    """
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
    if legacy and not head.ray_start_params:
        head.ray_start_params = dict(DEFAULT_HEAD_START_PARAMS)
    require(
        bool(head.ray_start_params), "HeadGroupSpec RayStartParams is empty. Please specify values.", wrap
    )
    require(
        head.image_pull_policy in _PULL_POLICIES,
        "HeadGroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent",
        wrap,
    )
    for index, worker in enumerate(spec.worker_group_spec):
        validate_worker_group(index, worker, wrap)
    return spec


def validate_worker_group(index: int, worker: WorkerGroupSpec, wrap: str) -> None:
    """Upstream's rules for worker group ``index`` (0-based), then replica bounds and the pull policy."""
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
    # Beyond upstream, which sends these to Kubernetes as they are.
    for field, value in (
        ("Replicas", worker.replicas),
        ("MinReplicas", worker.min_replicas),
        ("MaxReplicas", worker.max_replicas),
    ):
        require(value >= 0, f"{prefix} {field} can not be negative. Please specify a valid value.", wrap)
    require(
        worker.min_replicas <= worker.replicas <= worker.max_replicas,
        f"{prefix} Replicas must be between MinReplicas ({worker.min_replicas}) and MaxReplicas "
        f"({worker.max_replicas}), got {worker.replicas}. Please specify a valid value.",
        wrap,
    )
    require(
        worker.image_pull_policy in _PULL_POLICIES,
        "Worker GroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent",
        wrap,
    )
