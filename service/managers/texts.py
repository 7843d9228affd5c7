"""Upstream's wording, in one place: the HTTP routes, the gRPC servicers and the managers all read it here.

The texts are facts of the wire (clients match on them); the source of each is upstream's ``*_server.go`` and
manager, as described in the project's notes on upstream's API (section 5).
"""

from __future__ import annotations

import msgspec

from service.vocabulary import Resource

NAMESPACE_EMPTY = "Namespace is empty. Please specify a valid value."
UPDATE_NAME_EMPTY = "Name is empty. Please specify a valid value."
SERVICE_BODY_EMPTY = "Service is empty, please input a valid payload."
# A gRPC create without its message (upstream checks only services; the others crash it).
MISSING_BODY = {Resource.SERVICES: SERVICE_BODY_EMPTY}


class Texts(msgspec.Struct, frozen=True, kw_only=True):
    """The messages of one resource kind."""

    kind: str
    """Used in "<kind> <name> not found" and "<kind> with name <name> already exists"."""
    crd_kind: str
    name_empty: str
    """Get, delete (and the trailing-slash route) with an empty name."""
    namespace_empty: str
    """Get, delete and list with an empty namespace (gRPC only: over HTTP the path always has one)."""
    body_name_empty: str
    """Create with an empty name in the body."""
    user_empty: str
    validate_wrap: str
    create_wrap: str
    get_wrap: str
    delete_wrap: str
    list_wrap: str
    list_all_wrap: str
    create_failed: str
    """Manager text when Kubernetes refuses the create, formatted with ``namespace`` and ``name``."""
    delete_failed: str
    """Formatted with ``name``."""
    build_failed: str = ""
    """External message of a custom resource that cannot be built from the request."""
    namespace_mismatch: str


TEXTS: dict[Resource, Texts] = {
    Resource.COMPUTE_TEMPLATES: Texts(
        kind="Compute template",
        crd_kind="ConfigMap",
        name_empty="Compute template name is empty. Please specify a valid value.",
        namespace_empty=NAMESPACE_EMPTY,
        body_name_empty="Compute template name is empty. Please specify a valid value.",
        user_empty="",
        validate_wrap="Validate compute template runtime request failed.",
        create_wrap="Create compute template failed.",
        get_wrap="Get compute template failed.",
        delete_wrap="Get compute template failure",
        list_wrap="List compute templates in namespace {namespace} failed.",
        list_all_wrap="List all compute templates from all namespaces failed.",
        create_failed="Failed to create a compute runtime for ({namespace}/{name})",
        delete_failed="failed to delete compute template {name}.",
        namespace_mismatch="The namespace in the request is different from the namespace defined in the compute template.",
    ),
    Resource.CLUSTERS: Texts(
        kind="Cluster",
        crd_kind="RayCluster",
        name_empty="Cluster name is empty. Please specify a valid value.",
        namespace_empty=NAMESPACE_EMPTY,
        body_name_empty="Cluster name is empty. Please specify a valid value.",
        user_empty="User who create the cluster is empty. Please specify a valid value.",
        validate_wrap="Validate create cluster request failed.",
        create_wrap="Create Cluster failed.",
        get_wrap="Get cluster failed.",
        delete_wrap="Get cluster failure",
        list_wrap="List clusters failed.",
        list_all_wrap="List clusters from all namespaces failed.",
        create_failed="Failed to create a cluster for ({namespace}/{name})",
        delete_failed="Failed to delete cluster {name}.",
        build_failed="Failed to create a Ray cluster",
        namespace_mismatch="The namespace in the request is different from the namespace in the cluster definition.",
    ),
    Resource.JOBS: Texts(
        kind="Job",
        crd_kind="RayJob",
        name_empty="job name is empty. Please specify a valid value.",
        namespace_empty="job namespace is empty. Please specify a valid value.",
        body_name_empty="Job name is empty. Please specify a valid value.",
        user_empty="User who create the job is empty. Please specify a valid value.",
        validate_wrap="Validate job request failed.",
        create_wrap="Create Job failed.",
        get_wrap="Get cluster failed.",  # sic: upstream reuses the cluster text for jobs
        delete_wrap="Get job failure",
        list_wrap="List jobs failed.",
        list_all_wrap="List jobs failed.",
        create_failed="Failed to create a job for ({namespace}/{name})",
        delete_failed="Failed to delete cluster {name}.",
        build_failed="Failed to create a Ray Job",
        namespace_mismatch="The namespace in the request is different from the namespace in the job definition.",
    ),
    Resource.SERVICES: Texts(
        kind="Service",
        crd_kind="RayService",
        name_empty="ray service name is empty. Please specify a valid value.",
        namespace_empty="ray service namespace is empty. Please specify a valid value.",
        body_name_empty="Service name is empty. Please specify a valid value.",
        user_empty="User who created the Service is empty. Please specify a valid value.",
        validate_wrap="Validate create service request failed.",
        create_wrap="Create ray service failed.",
        get_wrap="get ray service failed",
        delete_wrap="delete ray service failure",
        list_wrap="failed to list rayservice.",
        list_all_wrap="list all services failed.",
        create_failed="Failed to create service for ({namespace}/{name})",
        delete_failed="failed to delete ray service {name}.",
        build_failed="Failed to create a Ray Service",
        namespace_mismatch="The namespace in the request is different from the namespace in the service definition.",
    ),
}
