"""Bodies of the partial updates this service adds (upstream has only the RayService PUT).

Every field is optional: what a body leaves out stays as it is. ``resourceVersion`` (also ``resource_version``),
when given, must be the object's current version, else the update is refused with 409 (code 10, ABORTED).
"""

from __future__ import annotations

from typing import Any

import msgspec

from service.schemas.base import ApiStruct
from service.schemas.common import EnvironmentVariables, Int32, SecurityContext, Volume
from service.schemas.service import ServeDeploymentGraphSpec


class WorkerGroupPatch(ApiStruct):
    """One worker group, keyed by ``groupName``: an existing group gets the replica fields given; a new name
    adds a group, built from its compute template as a create builds it."""

    group_name: str = ""
    replicas: Int32 | None = None
    min_replicas: Int32 | None = None
    max_replicas: Int32 | None = None
    # Only for a new group (as in WorkerGroupSpec).
    compute_template: str = ""
    image: str = ""
    ray_start_params: dict[str, str] | None = None
    volumes: list[Volume] = msgspec.field(default_factory=list)
    service_account: str = ""
    image_pull_secret: str = ""
    environment: EnvironmentVariables | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    image_pull_policy: str = ""
    security_context: SecurityContext | None = None

    __proto_names__ = {"image_pull_policy": "imagePullPolicy"}


class ClusterUpdate(ApiStruct):
    """``PATCH .../clusters/{name}``: scale, add or remove worker groups."""

    worker_group_spec: list[WorkerGroupPatch] = msgspec.field(default_factory=list)
    remove_worker_groups: list[str] = msgspec.field(default_factory=list)
    resource_version: str = ""
    # Present only to be refused with a clear message: the head group is not changed by a patch.
    head_group_spec: dict[str, Any] | None = None


class JobUpdate(ApiStruct):
    """``PATCH .../jobs/{name}``: the RayJob fields the operator honours after creation."""

    suspend: bool | None = None
    shutdown_after_job_finishes: bool | None = None
    ttl_seconds_after_finished: Int32 | None = None
    active_deadline_seconds: Int32 | None = None
    resource_version: str = ""


class WorkerGroupReplicas(ApiStruct):
    """Upstream's former ``WorkerGroupUpdateSpec``: new replica bounds of an existing group."""

    group_name: str = ""
    replicas: Int32 | None = None
    min_replicas: Int32 | None = None
    max_replicas: Int32 | None = None


class ServiceConfigsUpdate(ApiStruct):
    """``PATCH .../services/{name}/configs`` (upstream's former ``UpdateRayServiceBody``, 2022-11 to 2024-01):
    scale worker groups of the service's cluster and/or replace its serve configuration."""

    worker_group_update_spec: list[WorkerGroupReplicas] = msgspec.field(default_factory=list)
    serve_deployment_graph_spec: ServeDeploymentGraphSpec | None = None
    """Serve "V1", translated into ``serveConfigV2`` as a create translates it."""
    serve_config_v2: str = ""
    resource_version: str = ""

    __proto_names__ = {"serve_config_v2": "serve_config_V2"}
