"""What a cluster PATCH does to a RayCluster: scale worker groups, add groups from compute templates, remove them.

Everything the operator could not apply is refused here, before anything is sent, with a message saying what to
fix: replicas outside [minReplicas, maxReplicas], negative numbers, unknown or duplicate groups, and any change of
the head group.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from service.converters.cluster import format_go_time, with_template_versions, worker_group_to_cr
from service.converters.errors import BuildError
from service.errors import invalid_input, invalid_input_details
from service.kube.client import Obj
from service.managers.validation import require, validate_worker_group
from service.schemas.common import ClusterSpec, WorkerGroupSpec
from service.schemas.compute_template import ComputeTemplate
from service.schemas.updates import ClusterUpdate, WorkerGroupPatch
from service.vocabulary import UPDATE_TIMESTAMP_ANNOTATION

WRAP = "Validate update cluster request failed."
HEAD_GROUP_NAME = "headgroup"
"""The name the operator gives the head group (label ``ray.io/group``); no worker group may take it."""
_REPLICA_FIELDS = ("replicas", "min_replicas", "max_replicas")

Resolve = Callable[[ClusterSpec], Awaitable[Mapping[str, ComputeTemplate]]]


def check_update(patch: ClusterUpdate) -> None:
    """The checks that need only the request."""
    require(
        patch.head_group_spec is None,
        "The head group cannot be changed by a patch: leave out headGroupSpec "
        "(to change the head, delete the cluster and create it again).",
        WRAP,
    )
    require(
        bool(patch.worker_group_spec or patch.remove_worker_groups),
        "Nothing to update: give workerGroupSpec (groups to scale or add, by groupName) "
        "and/or removeWorkerGroups (names of groups to remove).",
        WRAP,
    )
    seen: set[str] = set()
    for index, group in enumerate(patch.worker_group_spec):
        require(
            bool(group.group_name),
            f"WorkerGroupSpec {index} group name is empty. Please specify a valid value.",
            WRAP,
        )
        _not_head(group.group_name, "changed")
        require(
            group.group_name not in seen,
            f"Worker group {group.group_name} is given twice in workerGroupSpec: give each group once.",
            WRAP,
        )
        seen.add(group.group_name)
        for field in _REPLICA_FIELDS:
            value = getattr(group, field)
            require(
                value is None or value >= 0,
                f"Worker group {group.group_name}: {_camel(field)} can not be negative ({value}). "
                "Please specify a valid value.",
                WRAP,
            )
    removed: set[str] = set()
    for name in patch.remove_worker_groups:
        _not_head(name, "removed")
        require(
            name not in removed,
            f"Worker group {name} is given twice in removeWorkerGroups: give each group once.",
            WRAP,
        )
        require(
            name not in seen,
            f"Worker group {name} is both changed (workerGroupSpec) and removed (removeWorkerGroups): "
            "give it in one of them.",
            WRAP,
        )
        removed.add(name)


async def apply_update(obj: Obj, patch: ClusterUpdate, resolve: Resolve, now: dt.datetime) -> Obj:
    """``obj`` (a copy of the RayCluster) with the patch applied; raises ``InvalidInputError`` for what cannot be."""
    check_update(patch)
    name = str((obj.get("metadata") or {}).get("name") or "")
    spec: dict[str, Any] = obj.setdefault("spec", {})
    groups: list[dict[str, Any]] = list(spec.get("workerGroupSpecs") or [])
    by_name = {str(g.get("groupName") or ""): g for g in groups}
    known = ", ".join(by_name) or "none"
    for removed in patch.remove_worker_groups:
        require(
            removed in by_name,
            f"Worker group {removed} does not exist in cluster {name} (its worker groups: {known}): "
            "remove only existing groups.",
            WRAP,
        )
    groups = [g for g in groups if g.get("groupName") not in set(patch.remove_worker_groups)]
    added: list[WorkerGroupSpec] = []
    templates: Mapping[str, ComputeTemplate] = {}
    for group in patch.worker_group_spec:
        existing = by_name.get(group.group_name)
        if existing is None:
            added.append(_new_group(group, len(groups) + len(added)))
            continue
        _only_replicas(group)
        for field, key in zip(_REPLICA_FIELDS, ("replicas", "minReplicas", "maxReplicas"), strict=True):
            value = getattr(group, field)
            if value is not None:
                existing[key] = value
    if added:
        templates = await resolve(ClusterSpec(worker_group_spec=added))
        version = str(spec.get("rayVersion") or "")
        try:
            groups.extend(worker_group_to_cr(worker, templates, version) for worker in added)
        except BuildError as exc:
            raise invalid_input_details("Failed to update a Ray cluster", str(exc), WRAP) from None
    for group_spec in groups:
        check_bounds(group_spec)
    spec["workerGroupSpecs"] = groups
    metadata = obj.setdefault("metadata", {})
    annotations = {**(metadata.get("annotations") or {}), UPDATE_TIMESTAMP_ANNOTATION: format_go_time(now)}
    annotations = with_template_versions(
        annotations,
        [(w.group_name, w.compute_template) for w in added],
        templates if added else {},
        removed=patch.remove_worker_groups,
    )
    metadata["annotations"] = annotations
    return obj


def _not_head(name: str, what: str) -> None:
    require(
        name != HEAD_GROUP_NAME,
        f"{HEAD_GROUP_NAME} is the head group: it cannot be {what} by a patch, nor can a worker group take "
        "its name.",
        WRAP,
    )


def _camel(field: str) -> str:
    first, *rest = field.split("_")
    return first + "".join(part.title() for part in rest)


def _only_replicas(group: WorkerGroupPatch) -> None:
    """An existing group changes only its replica fields (its pods are built from its template already)."""
    bare = WorkerGroupPatch(group_name=group.group_name, **{f: getattr(group, f) for f in _REPLICA_FIELDS})
    require(
        group == bare,
        f"Worker group {group.group_name} exists: only replicas, minReplicas and maxReplicas can change. "
        "To change its computeTemplate, image or other fields, remove the group and add it again "
        "(in two updates).",
        WRAP,
    )
    require(
        any(getattr(group, f) is not None for f in _REPLICA_FIELDS),
        f"Worker group {group.group_name}: nothing to change; give replicas, minReplicas and/or maxReplicas.",
        WRAP,
    )


def _new_group(group: WorkerGroupPatch, index: int) -> WorkerGroupSpec:
    worker = WorkerGroupSpec(
        group_name=group.group_name,
        compute_template=group.compute_template,
        image=group.image,
        replicas=group.replicas or 0,
        min_replicas=group.min_replicas or 0,
        max_replicas=group.max_replicas or 0,
        ray_start_params=group.ray_start_params,
        volumes=group.volumes,
        service_account=group.service_account,
        image_pull_secret=group.image_pull_secret,
        environment=group.environment,
        annotations=group.annotations,
        labels=group.labels,
        image_pull_policy=group.image_pull_policy,
        security_context=group.security_context,
    )
    if not worker.compute_template:
        raise invalid_input(
            f"Worker group {group.group_name} does not exist, so it would be added: give its computeTemplate "
            "(and maxReplicas) to add it, or name an existing group to scale it.",
            WRAP,
        )
    validate_worker_group(index, worker, WRAP)
    return worker


def check_bounds(group: Mapping[str, Any]) -> None:
    name = group.get("groupName", "")
    replicas = int(group.get("replicas") or 0)
    low = int(group.get("minReplicas") or 0)
    high = int(group.get("maxReplicas") or 0)
    require(
        low <= high,
        f"Worker group {name}: minReplicas ({low}) > maxReplicas ({high}). Please specify a valid value.",
        WRAP,
    )
    require(
        low <= replicas <= high,
        f"Worker group {name}: replicas must be between minReplicas ({low}) and maxReplicas ({high}), "
        f"got {replicas}. Please specify a valid value.",
        WRAP,
    )
