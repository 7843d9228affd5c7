"""Cluster messages (upstream ``cluster.proto``)."""

from __future__ import annotations

import enum

import msgspec

from service.schemas.base import ApiStruct
from service.schemas.common import ClusterSpec, EnvironmentVariables, Event


class Environment(enum.IntEnum):
    DEV = 0
    TESTING = 1
    STAGING = 2
    PRODUCTION = 3


class Cluster(ApiStruct):
    name: str = ""
    namespace: str = ""
    user: str = ""
    version: str = ""
    environment: Environment = Environment.DEV
    cluster_spec: ClusterSpec | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    envs: EnvironmentVariables | None = None
    created_at: str = ""
    deleted_at: str = ""
    cluster_state: str = ""
    events: list[Event] = msgspec.field(default_factory=list)
    service_endpoint: dict[str, str] = msgspec.field(default_factory=dict)


class ListClustersResponse(ApiStruct):
    # Required, so always emitted, even when empty (the contract prefers `[]` to upstream's `{}`).
    clusters: list[Cluster]
    continue_: str = msgspec.field(default="", name="continue")


ListAllClustersResponse = ListClustersResponse
