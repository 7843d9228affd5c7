"""RayService messages (upstream ``serve.proto``)."""

from __future__ import annotations

import msgspec

from service.schemas.base import ApiStruct, reset_zero_floats
from service.schemas.common import ClusterSpec, Event, Int32


class ServeDeploymentStatus(ApiStruct):
    deployment_name: str = ""
    status: str = ""
    message: str = ""


class ServeApplicationStatus(ApiStruct):
    name: str = ""
    status: str = ""
    message: str = ""
    serve_deployment_status: list[ServeDeploymentStatus] = msgspec.field(default_factory=list)


class RayServiceStatus(ApiStruct):
    application_status: str = ""
    application_message: str = ""
    serve_deployment_status: list[ServeDeploymentStatus] = msgspec.field(default_factory=list)
    ray_service_events: list[Event] = msgspec.field(default_factory=list)
    ray_cluster_name: str = ""
    ray_cluster_state: str = ""
    service_endpoint: dict[str, str] = msgspec.field(default_factory=dict)
    serve_application_status: list[ServeApplicationStatus] = msgspec.field(default_factory=list)


class ActorOptions(ApiStruct):
    """Input only: the removed serve "V1" actor options, still sent by the seed's example."""

    runtime_env: str = ""
    cpus_per_actor: float = 0.0
    gpus_per_actor: float = 0.0
    memory_per_actor: float = 0.0
    object_store_memory_per_actor: float = 0.0
    custom_resource: str = ""
    accelerator_type: str = ""

    __proto_names__ = {"accelerator_type": "acccelerator_type"}

    def __post_init__(self) -> None:
        reset_zero_floats(self)


class ServeConfig(ApiStruct):
    """Input only: one deployment of the removed ``serveDeploymentGraphSpec``."""

    deployment_name: str = ""
    replicas: Int32 = 0
    route_prefix: str = ""
    max_concurrent_queries: Int32 = 0
    user_config: str = ""
    autoscaling_config: str = ""
    actor_options: ActorOptions | None = None


class ServeDeploymentGraphSpec(ApiStruct):
    """Input only: upstream's serve "V1" description, replaced by ``serveConfigV2`` in 2024."""

    import_path: str = ""
    runtime_env: str = ""
    serve_configs: list[ServeConfig] = msgspec.field(default_factory=list)


class RayService(ApiStruct):
    name: str = ""
    namespace: str = ""
    user: str = ""
    # Field 4 upstream was removed; we still read it and translate it into serveConfigV2.
    serve_deployment_graph_spec: ServeDeploymentGraphSpec | None = None
    cluster_spec: ClusterSpec | None = None
    ray_service_status: RayServiceStatus | None = None
    created_at: str = ""
    delete_at: str = ""
    serve_config_v2: str = ""
    service_unhealthy_second_threshold: Int32 = 0
    deployment_unhealthy_second_threshold: Int32 = 0
    version: str = ""

    __proto_names__ = {"serve_config_v2": "serve_config_V2"}


class ListRayServicesResponse(ApiStruct):
    services: list[RayService]
    total_size: Int32 = 0
    next_page_token: str = ""


ListAllRayServicesResponse = ListRayServicesResponse
