"""The Kubernetes vocabulary the service speaks: API group, versions, kinds, plurals, label and annotation keys.

A leaf module (it imports nothing from the service), so converters, the Kubernetes client, managers and the
watcher all name things the same way.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple

GROUP: Final = "ray.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

RAY_CLUSTER_KIND: Final = "RayCluster"
RAY_CLUSTER_PLURAL: Final = "rayclusters"
RAY_JOB_KIND: Final = "RayJob"
RAY_JOB_PLURAL: Final = "rayjobs"
RAY_SERVICE_KIND: Final = "RayService"
RAY_SERVICE_PLURAL: Final = "rayservices"

# Labels on the custom resources the API creates.
USER_LABEL: Final = "ray.io/user"
CLUSTER_NAME_LABEL: Final = "ray.io/cluster-name"
RAY_VERSION_LABEL: Final = "ray.io/version"
ENVIRONMENT_LABEL: Final = "ray.io/environment"
APP_NAME_LABEL: Final = "app.kubernetes.io/name"
APP_NAME: Final = "kuberay"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "kuberay-apiserver"
MANAGED_BY_SELECTOR: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY}"

# Set by the operator on pods; used in job cluster selectors.
RAY_CLUSTER_LABEL: Final = "ray.io/cluster"

# Compute templates are ConfigMaps with these labels.
CONFIG_TYPE_LABEL: Final = "ray.io/config-type"
COMPUTE_TEMPLATE_CONFIG_TYPE: Final = "compute-template"
COMPUTE_TEMPLATE_SELECTOR: Final = f"{CONFIG_TYPE_LABEL}={COMPUTE_TEMPLATE_CONFIG_TYPE}"

# Used both as a ConfigMap label and as a pod template annotation.
COMPUTE_TEMPLATE_KEY: Final = "ray.io/compute-template"
COMPUTE_TEMPLATE_LABEL: Final = COMPUTE_TEMPLATE_KEY
COMPUTE_TEMPLATE_ANNOTATION: Final = COMPUTE_TEMPLATE_KEY
COMPUTE_IMAGE_ANNOTATION: Final = "ray.io/compute-image"

CREATION_TIMESTAMP_ANNOTATION: Final = "ray.io/creation-timestamp"
UPDATE_TIMESTAMP_ANNOTATION: Final = "ray.io/update-timestamp"
TEMPLATE_VERSIONS_ANNOTATION: Final = "ray.io/compute-template-versions"
"""On clusters: JSON {template name: resourceVersion of its ConfigMap} of the templates its pods were built from."""
ENABLE_SERVE_SERVICE_ANNOTATION: Final = "ray.io/enable-serve-service"

# Set by this service on every object it creates or changes: the id of the audit row of that change. After a
# crash, the reconciler settles a pending row by finding (or not finding) its id on the object.
INTENT_ANNOTATION: Final = "ray.io/apiserver-intent"


class Kind(NamedTuple):
    """A Kubernetes resource type the service reads or writes."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None) -> list[str]:
        """The path segments of the collection (all namespaces when ``namespace`` is None)."""
        root = ["apis", self.group, self.version] if self.group else ["api", self.version]
        if namespace is None:
            return [*root, self.plural]
        return [*root, "namespaces", namespace, self.plural]


CONFIGMAPS: Final = Kind("", "v1", "configmaps", "ConfigMap")
SECRETS: Final = Kind("", "v1", "secrets", "Secret")
CORE_SERVICES: Final = Kind("", "v1", "services", "Service")
EVENTS: Final = Kind("events.k8s.io", "v1", "events", "Event")
CORE_EVENTS: Final = Kind("", "v1", "events", "Event")
RAY_CLUSTERS: Final = Kind(GROUP, VERSION, RAY_CLUSTER_PLURAL, RAY_CLUSTER_KIND)
RAY_JOBS: Final = Kind(GROUP, VERSION, RAY_JOB_PLURAL, RAY_JOB_KIND)
RAY_SERVICES: Final = Kind(GROUP, VERSION, RAY_SERVICE_PLURAL, RAY_SERVICE_KIND)
RAY_KINDS: Final = (RAY_CLUSTERS, RAY_JOBS, RAY_SERVICES)
NAMESPACES: Final = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
TOKEN_REVIEWS: Final = Kind("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", namespaced=False)
SUBJECT_ACCESS_REVIEWS: Final = Kind(
    "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False
)


class Resource(enum.StrEnum):
    """The resource kinds of the API, as the audit trail and history name them."""

    COMPUTE_TEMPLATES = "computeTemplates"
    CLUSTERS = "clusters"
    JOBS = "jobs"
    SERVICES = "services"
    JOB_SUBMISSIONS = "jobSubmissions"
    """Jobs submitted to a running cluster's Ray dashboard: audited, but no Kubernetes object (no history)."""


class Action(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    STOP = "STOP"
    """A submitted job stopped (job submissions only)."""


class Outcome(enum.StrEnum):
    PENDING = "PENDING"
    """The change was announced and Kubernetes asked; its result is not known yet."""
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


# The Kubernetes kind behind each API resource (job submissions have none: they live in the Ray dashboard).
KIND_OF: Final = {
    Resource.COMPUTE_TEMPLATES: CONFIGMAPS,
    Resource.CLUSTERS: RAY_CLUSTERS,
    Resource.JOBS: RAY_JOBS,
    Resource.SERVICES: RAY_SERVICES,
}
