"""Integer widths and messages shared by clusters, jobs and services (upstream ``cluster.proto``)."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from service.schemas.base import ApiStruct

UInt32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class VolumeType(enum.IntEnum):
    PERSISTENT_VOLUME_CLAIM = 0
    HOST_PATH = 1
    EPHEMERAL = 2
    CONFIGMAP = 3
    SECRET = 4
    EMPTY_DIR = 5


class HostPathType(enum.IntEnum):
    DIRECTORY = 0
    FILE = 1


class MountPropagationMode(enum.IntEnum):
    NONE = 0
    HOSTTOCONTAINER = 1
    BIDIRECTIONAL = 2


class AccessMode(enum.IntEnum):
    RWO = 0
    ROX = 1
    RWX = 2


class EnvSource(enum.IntEnum):
    CONFIGMAP = 0
    SECRET = 1
    RESOURCEFIELD = 2
    FIELD = 3


class Volume(ApiStruct):
    mount_path: str = ""
    volume_type: VolumeType = VolumeType.PERSISTENT_VOLUME_CLAIM
    name: str = ""
    source: str = ""
    read_only: bool = False
    host_path_type: HostPathType = HostPathType.DIRECTORY
    mount_propagation_mode: MountPropagationMode = MountPropagationMode.NONE
    storage_class_name: str = ""
    access_mode: AccessMode = AccessMode.RWO
    storage: str = ""
    items: dict[str, str] = msgspec.field(default_factory=dict)

    __proto_names__ = {
        "storage_class_name": "storageClassName",
        "access_mode": "accessMode",
    }


class EnvValueFrom(ApiStruct):
    source: EnvSource = EnvSource.CONFIGMAP
    name: str = ""
    key: str = ""


class EnvironmentVariables(ApiStruct):
    values: dict[str, str] = msgspec.field(default_factory=dict)
    values_from: dict[str, EnvValueFrom] = msgspec.field(default_factory=dict)

    __proto_names__ = {"values_from": "valuesFrom"}


class Capabilities(ApiStruct):
    add: list[str] = msgspec.field(default_factory=list)
    drop: list[str] = msgspec.field(default_factory=list)


class SecurityContext(ApiStruct):
    capabilities: Capabilities | None = None
    # proto3 `optional`: printed whenever set, even when false.
    privileged: bool | None = None


class AutoscalerOptions(ApiStruct):
    idle_timeout_seconds: Int32 = 0
    upscaling_mode: str = ""
    image: str = ""
    image_pull_policy: str = ""
    cpu: str = ""
    memory: str = ""
    envs: EnvironmentVariables | None = None
    volumes: list[Volume] = msgspec.field(default_factory=list)

    __proto_names__ = {
        "idle_timeout_seconds": "idleTimeoutSeconds",
        "upscaling_mode": "upscalingMode",
        "image_pull_policy": "imagePullPolicy",
    }


class HeadGroupSpec(ApiStruct):
    compute_template: str = ""
    image: str = ""
    service_type: str = ""
    enable_ingress: bool = False
    # None (not an empty map) by default, so that answers always carry the map, ``{}`` included: upstream's Python
    # client fails on a group without it.
    ray_start_params: dict[str, str] | None = None
    volumes: list[Volume] = msgspec.field(default_factory=list)
    service_account: str = ""
    image_pull_secret: str = ""
    environment: EnvironmentVariables | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    image_pull_policy: str = ""
    security_context: SecurityContext | None = None

    __proto_names__ = {"enable_ingress": "enableIngress", "image_pull_policy": "imagePullPolicy"}


class WorkerGroupSpec(ApiStruct):
    group_name: str = ""
    compute_template: str = ""
    image: str = ""
    replicas: Int32 = 0
    min_replicas: Int32 = 0
    max_replicas: Int32 = 0
    # None (not an empty map) by default, so that answers always carry the map, ``{}`` included: upstream's Python
    # client fails on a group without it.
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


class ClusterSpec(ApiStruct):
    head_group_spec: HeadGroupSpec | None = None
    worker_group_spec: list[WorkerGroupSpec] = msgspec.field(default_factory=list)
    enable_in_tree_autoscaling: bool = False
    autoscaler_options: AutoscalerOptions | None = None
    head_service_annotations: dict[str, str] = msgspec.field(default_factory=dict)

    __proto_names__ = {
        "enable_in_tree_autoscaling": "enableInTreeAutoscaling",
        "autoscaler_options": "autoscalerOptions",
        "head_service_annotations": "headServiceAnnotations",
    }


class Event(ApiStruct):
    """A Kubernetes event as shown with clusters (``ClusterEvent``) and services (``RayServiceEvent``)."""

    id: str = ""
    name: str = ""
    created_at: str = ""
    first_timestamp: str = ""
    last_timestamp: str = ""
    reason: str = ""
    message: str = ""
    type: str = ""
    count: Int32 = 0
